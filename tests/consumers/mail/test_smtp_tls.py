"""Report mail over STARTTLS and over SSL, with login, to a real SMTP server (aiosmtpd)."""

import datetime
import email
import ipaddress
import ssl
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consumers.mail.catcher import OutboxHandler
from consumers.mail.smtp import Attachment, SmtpUnavailable, report_message, send
from consumers.worker import free_port
from pipeline.settings import parse_smtp_url


@pytest.fixture
def certificate(tmp_path, monkeypatch):
    """A self-signed certificate for 127.0.0.1, trusted by this test's clients."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def only_reports_user(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"reports", b"s3cret")
    return AuthResult(success=ok, handled=False)


def message():
    return report_message("reports@localhost", ["billing@example.com"], "Daily", "text", "<p>html</p>",
                          Attachment("b.csv", b"a,b\r\n1,2\r\n", "text", "csv"))  # fmt: skip


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_mail_goes_out_encrypted_and_logged_in(certificate, tmp_path, mode):
    handler, port = OutboxHandler(tmp_path / "outbox"), free_port()
    if mode == "starttls":
        tls = {"tls_context": certificate, "require_starttls": True, "auth_require_tls": True}
    else:  # the whole connection is TLS; aiosmtpd only knows STARTTLS sessions as encrypted
        tls = {"ssl_context": certificate, "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=only_reports_user, **tls)
    controller.start()
    try:
        url = (
            f"smtp://reports:s3cret@127.0.0.1:{port}?starttls=1"
            if mode == "starttls"
            else f"smtps://reports:s3cret@127.0.0.1:{port}"
        )
        send(parse_smtp_url("CDRFLOW_SMTP", url), message())
        wrong = (
            f"smtp://reports:nope@127.0.0.1:{port}?starttls=1"
            if mode == "starttls"
            else f"smtps://reports:nope@127.0.0.1:{port}"
        )
        scheme = "smtp" if mode == "starttls" else "smtps"
        refused = rf"SMTP {scheme}://127.0.0.1:{port} \(CDRFLOW_SMTP\) refused the login: 535"
        with pytest.raises(SmtpUnavailable, match=refused) as failure:
            send(parse_smtp_url("CDRFLOW_SMTP", wrong), message())
        assert "nope" not in str(failure.value)
    finally:
        controller.stop()
    [saved] = handler.saved
    assert email.message_from_bytes(saved.read_bytes(), policy=policy.default)["Subject"] == "Daily"
