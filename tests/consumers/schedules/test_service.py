import pytest

from consumers.schedules.service import schedule_fields, schedule_from
from queries.errors import ReportError

FIELDS = {
    "name": "daily-acme", "email": ["billing@example.com"], "report": "dtmf", "every": "0 6 * * 1", "tz": "Asia/Kolkata",
    "group": ["provider", "day"], "customers": ["acme"], "providers": [], "columns": ["dtmf", "connected"],
    "format": "xlsx", "skip_empty": True,
}  # fmt: skip


def test_the_api_fields_are_the_contracts_names_and_read_back_the_same():
    schedule = schedule_from(FIELDS)
    assert schedule.groups == ("provider", "day")
    assert schedule_fields(schedule) == FIELDS


@pytest.mark.parametrize(
    "change,message",
    [
        ({"groups": ["customer"]}, "unknown field 'groups'"),
        ({"email": "billing@example.com"}, "email: a list of strings"),
        ({"skip_empty": "yes"}, "skip_empty: true or false"),
        ({"every": 5}, "every: a string"),
    ],
)
def test_fields_of_the_wrong_name_or_type_are_refused(change, message):
    with pytest.raises(ReportError, match=message):
        schedule_from({**FIELDS, **change})


def test_name_and_email_are_required():
    with pytest.raises(ReportError, match="name and email are required"):
        schedule_from({"name": "x"})
