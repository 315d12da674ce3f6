"""Webhooks never reach inside the house: every form of an inside address is refused at save and at
send, the POST goes only to the checked address, a redirect is not followed, and the signature
covers the timestamp."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time

import pytest

from consumers.alerts.receiver import WebhookReceiver
from consumers.alerts.webhook import WebhookPolicy, WebhookRefused, post_webhook, redacted, signature
from consumers.worker import free_port

INSIDE = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",
    "http://2130706433/hook",  # 127.0.0.1 written as one decimal number
    "http://0x7f.0.0.1/hook",  # and in hex
    "http://0177.0.0.1/hook",  # and in octal
    "http://127.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/latest/meta-data",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://240.0.0.1/hook",
    "http://user:pass@127.0.0.1/hook",
]


@pytest.mark.parametrize("url", INSIDE)
def test_an_inside_address_in_any_form_is_refused(url):
    with pytest.raises(WebhookRefused) as refused:
        asyncio.run(WebhookPolicy().resolve(url))
    assert "/hook" not in str(refused.value) and "pass" not in str(refused.value)


def test_an_allowed_net_lets_that_net_in_and_no_other():
    policy = WebhookPolicy((ipaddress.ip_network("127.0.0.0/8"),))
    assert asyncio.run(policy.resolve("http://127.0.0.1:9/x"))[0]["host"] == "127.0.0.1"
    assert asyncio.run(policy.resolve("http://[::ffff:127.0.0.2]:9/x"))[0]["host"] == "::ffff:7f00:2"
    with pytest.raises(WebhookRefused):
        asyncio.run(policy.resolve("http://169.254.169.254/"))


def test_a_public_address_is_allowed():
    assert asyncio.run(WebhookPolicy().resolve("https://8.8.8.8/hook"))[0]["host"] == "8.8.8.8"


def test_urls_are_written_as_scheme_and_host_only():
    assert redacted("https://u:p@hooks.example.com:8443/T0KEN?x=1") == "https://hooks.example.com/…"


def test_a_redirect_to_the_inside_is_not_followed():
    inner = WebhookReceiver(free_port()).start()
    redirector = WebhookReceiver(free_port(), redirect_to=inner.url).start()
    try:
        policy = WebhookPolicy((ipaddress.ip_network("127.0.0.1/32"),))
        with pytest.raises(RuntimeError, match="a redirect, which is not followed") as failed:
            asyncio.run(post_webhook(redirector.url, b"{}", policy, None))
        assert "/hook" not in str(failed.value)
        assert inner.posts == []
    finally:
        inner.stop()
        redirector.stop()


def test_a_refused_address_gets_no_request_at_send():
    receiver = WebhookReceiver(free_port()).start()
    try:
        with pytest.raises(WebhookRefused):
            asyncio.run(post_webhook(receiver.url, b"{}", WebhookPolicy(), "secret"))
        assert receiver.posts == []
    finally:
        receiver.stop()


def test_the_signature_covers_the_timestamp_and_the_body():
    receiver = WebhookReceiver(free_port()).start()
    try:
        policy = WebhookPolicy((ipaddress.ip_network("127.0.0.0/8"),))
        assert asyncio.run(post_webhook(receiver.url, b'{"a":1}', policy, "s3cret")) == 204
        [(_, headers, raw)] = receiver.posts
        timestamp = headers["X-Cdrflow-Timestamp"]
        assert abs(int(timestamp) - time.time()) < 60
        expected = hmac.new(b"s3cret", f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        assert headers["X-Cdrflow-Signature"] == f"sha256={expected}" == signature("s3cret", timestamp, raw)
        assert headers["X-Cdrflow-Signature"] != signature("s3cret", str(int(timestamp) - 600), raw)
    finally:
        receiver.stop()
