"""Report mail: a real MIME message through a real SMTP server (aiosmtpd)."""

import email
from email import policy

import pytest

from consumers.mail.catcher import MailCatcher
from consumers.mail.smtp import Attachment, BadRecipient, SmtpUnavailable, report_message, send
from consumers.reports.table import to_csv
from consumers.worker import free_port
from pipeline.settings import parse_smtp_url

ROWS = [{"customer": "o'neil & sons", "attempts": 3, "asr": None}]


def message(recipients=("billing@example.com",), subject="Daily breakout"):
    csv = to_csv(["customer", "attempts", "asr"], ROWS)
    return report_message(
        "reports@localhost",
        list(recipients),
        subject,
        "3 attempts",
        "<p>3 attempts</p>",
        Attachment("breakout.csv", csv, "text", "csv"),
    )


def test_the_catcher_receives_html_text_and_the_attachment(tmp_path):
    with MailCatcher(tmp_path / "outbox") as catcher:
        send(parse_smtp_url("CDRFLOW_SMTP", f"smtp://127.0.0.1:{catcher.port}"), message())
    [saved] = catcher.handler.saved
    received = email.message_from_bytes(saved.read_bytes(), policy=policy.default)
    assert received["To"] == "billing@example.com" and received["Subject"] == "Daily breakout"
    assert received.get_body(("plain",)).get_content().strip() == "3 attempts"
    assert "<p>3 attempts</p>" in received.get_body(("html",)).get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "breakout.csv"
    assert attachment.get_content().splitlines() == ["customer,attempts,asr", "o'neil & sons,3,"]


@pytest.mark.parametrize("recipient", ["", "not-an-address", "a@b.com, c@d.com", "x@y.com\nBcc: z@z.com"])
def test_recipients_are_validated(recipient):
    with pytest.raises(BadRecipient):
        message(recipients=[recipient])


def test_a_subject_cannot_inject_headers():
    with pytest.raises(ValueError):
        message(subject="Report\r\nBcc: everyone@example.com")


def test_a_server_that_cannot_be_reached_is_named_with_its_setting():
    port = free_port()  # nothing listens there
    with pytest.raises(
        SmtpUnavailable, match=rf"^SMTP smtp://127.0.0.1:{port} \(CDRFLOW_SMTP\) refused the connection$"
    ):
        send(parse_smtp_url("CDRFLOW_SMTP", f"smtp://someone:secret@127.0.0.1:{port}"), message())
    with pytest.raises(SmtpUnavailable, match=r"^SMTP smtp://mail.invalid:25 \(CDRFLOW_SMTP\): no such host"):
        send(parse_smtp_url("CDRFLOW_SMTP", "smtp://mail.invalid:25"), message())
