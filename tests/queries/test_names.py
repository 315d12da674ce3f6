"""A filter's names without traffic are said, with the known names closest to them."""

import pytest

from queries.names import NameCheck, filter_warnings

KNOWN = {"customer": ["acme", "Acme-UK", "globex", "o'neil & sons", ""], "provider": ["tata", "bics"]}


def run_query(sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    column = sql.split()[2]
    names = KNOWN[column]
    if "names" in params:
        names = [n for n in names if n in params["names"]]
    return [column], [(n,) for n in names]


def test_names_with_traffic_say_nothing():
    assert filter_warnings(("acme", "globex"), ("tata",), run_query) == []
    assert filter_warnings((), (), run_query) == []


def test_a_name_never_seen_is_said_with_the_closest_known_names_whatever_their_case():
    assert filter_warnings(("acme-uk", "acmee"), ("tatta",), run_query) == [
        "customer: no traffic of 'acme-uk' in the warehouse; closest: 'Acme-UK', 'acme'",
        "customer: no traffic of 'acmee' in the warehouse; closest: 'acme', 'Acme-UK'",
        "provider: no traffic of 'tatta' in the warehouse; closest: 'tata'",
    ]


def test_a_name_like_none_known_is_said_alone_and_quoted_as_text():
    assert filter_warnings(("zz\r\nX-Injected: 1",), (), run_query) == [
        "customer: no traffic of 'zz\\r\\nX-Injected: 1' in the warehouse"
    ]


def test_only_the_two_name_columns_reach_the_sql():
    with pytest.raises(ValueError):
        NameCheck("customer; DROP TABLE cdr", ("x",))
    sql, params = NameCheck("provider", ("o'neil",)).seen_sql()
    assert "o'neil" not in sql and params == {"names": ["o'neil"]}
