"""Report email: a real MIME message (HTML and text summary, the report attached), sent by SMTP."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pipeline.settings import SmtpUrl

ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[^@\s<>,;\"]+@localhost$")


class BadRecipient(ValueError):
    pass


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def check_recipients(recipients: list[str]) -> list[str]:
    if not recipients:
        raise BadRecipient("no recipient")
    for address in recipients:
        if not ADDRESS.match(address):
            raise BadRecipient(f"not an email address: {address!r}")
    return recipients


def report_message(
    sender: str, recipients: list[str], subject: str, text: str, html: str, attachment: Attachment | None = None
) -> EmailMessage:
    """The message; header values with line breaks are refused by the email package itself."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(check_recipients(recipients))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="cdrflow")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        message.add_attachment(
            attachment.content, maintype=attachment.maintype, subtype=attachment.subtype, filename=attachment.filename
        )
    return message


class SmtpUnavailable(OSError):
    """The SMTP server of CDRFLOW_SMTP could not take mail, said naming the server and the setting."""


def _failure(smtp: SmtpUrl, error: Exception, timeout: float) -> SmtpUnavailable:
    server = f"SMTP {smtp.shown} (CDRFLOW_SMTP)"
    if isinstance(error, ConnectionRefusedError):
        return SmtpUnavailable(f"{server} refused the connection")
    if isinstance(error, TimeoutError):
        return SmtpUnavailable(f"{server} did not answer within {timeout:g} s")
    if isinstance(error, socket.gaierror):
        return SmtpUnavailable(f"{server}: no such host ({error.strerror})")
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return SmtpUnavailable(
            f"{server} refused the login: {error.smtp_code} {error.smtp_error.decode(errors='replace')}"
        )
    return SmtpUnavailable(f"{server}: {type(error).__name__}: {error}")


def open_smtp(smtp: SmtpUrl, timeout: float = 30.0) -> smtplib.SMTP:
    """A connection ready to send: greeted, encrypted when asked, logged in when asked. Failing, a
    SmtpUnavailable that names the server and the setting."""
    try:
        if smtp.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise _failure(smtp, error, timeout) from error
    try:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password)
    except (OSError, smtplib.SMTPException) as error:
        client.close()
        raise _failure(smtp, error, timeout) from error
    return client


def send(smtp: SmtpUrl, message: EmailMessage, timeout: float = 30.0) -> str:
    """Sends the message; the server's reply to it (`250 ...`), and the recipients it refused if some."""
    with open_smtp(smtp, timeout) as client:
        replies: list[tuple[int, bytes]] = []
        data = client.data
        client.data = lambda content: replies.append(data(content)) or replies[-1]  # send_message keeps the reply
        refused = client.send_message(message)
    code, reply = replies[-1]
    refusals = "".join(f"; refused {to}: {c} {r.decode(errors='replace')}" for to, (c, r) in refused.items())
    return f"{code} {reply.decode(errors='replace')}{refusals}"
