"""Alert webhooks that never reach inside the house, and a signature no one can replay.

A rule's webhook URL is anyone's text. Its host is resolved, and every address it resolves to
must be a public one: loopback, private (RFC 1918, fc00::/7), shared (100.64.0.0/10),
link-local (169.254.0.0/16, where clouds keep their metadata, and fe80::/10), multicast,
reserved and unspecified addresses are refused, IPv4-mapped IPv6 judged as the IPv4 inside it,
unless the address lies in CDRFLOW_WEBHOOK_ALLOW_NETS. The check is made when the rule is saved
and again at each POST, and the POST goes to the addresses that were checked (no second look-up
a rebinding name could answer differently). Redirects are not followed; 10 s per attempt. URLs
are written to logs and errors as `scheme://host/…`: the path often carries a token.

The POST carries `X-Cdrflow-Timestamp` (Unix seconds when sent) and, with CDRFLOW_WEBHOOK_SECRET,
`X-Cdrflow-Signature: sha256=<HMAC of "<timestamp>.<body>">`, so a receiver that refuses old
timestamps cannot be fed a captured POST again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

ATTEMPT_SECONDS = 10.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(Exception):
    """The webhook's host is inside the house, or cannot be resolved."""


def redacted(url: str) -> str:
    """`scheme://host/…`: where a webhook goes, without its path, query or credentials."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address as the IPv4 inside it; any other as it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_inside(address: Address) -> bool:
    """`address` (plain) is no public address: loopback, private, link-local, multicast, reserved..."""
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True)
class WebhookPolicy:
    allow_nets: Sequence[Network] = ()  # CDRFLOW_WEBHOOK_ALLOW_NETS

    def allowed(self, address: Address) -> bool:
        address = plain(address)
        return not is_inside(address) or any(
            address in net for net in self.allow_nets if address.version == net.version
        )

    async def resolve(self, url: str) -> list[ResolveResult]:
        """The addresses the URL's host resolves to, every one of them allowed; else WebhookRefused."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRefused(f"an http:// or https:// URL, not {redacted(url)}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise WebhookRefused(f"the port of {redacted(url)} is not a number from 1 to 65535") from None
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except OSError:
            raise WebhookRefused(f"{redacted(url)}: the host name does not resolve") from None
        results: list[ResolveResult] = []
        for family, _, proto, _, sockaddr in found:
            address = ipaddress.ip_address(sockaddr[0].partition("%")[0])
            if not self.allowed(address):
                raise WebhookRefused(
                    f"{redacted(url)} resolves to {address}, an address inside the house "
                    "(loopback, private, link-local, multicast or reserved); CDRFLOW_WEBHOOK_ALLOW_NETS lets one in"
                )
            results.append(ResolveResult(hostname=parts.hostname, host=str(address), port=port, family=family,
                                         proto=proto, flags=socket.AI_NUMERICHOST))  # fmt: skip
        if not results:
            raise WebhookRefused(f"{redacted(url)}: the host name does not resolve")
        return results


class CheckedAddresses(AbstractResolver):
    """A resolver answering only the addresses already checked, for the one host they belong to."""

    def __init__(self, results: list[ResolveResult]) -> None:
        self.results = results

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if not self.results or host != self.results[0]["hostname"]:
            raise OSError(f"no checked address for {host}")
        return self.results

    async def close(self) -> None:
        return None


async def post_webhook(url: str, body: bytes, policy: WebhookPolicy, secret: str | None) -> int:
    """POST `body` to `url` once (10 s, no redirects, only to checked addresses); the receiver's status.
    Raises WebhookRefused, or RuntimeError with a text safe to store (no address, port or path)."""
    addresses = await policy.resolve(url)
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Cdrflow-Timestamp": timestamp}
    if secret:
        headers["X-Cdrflow-Signature"] = signature(secret, timestamp, body)
    connector = aiohttp.TCPConnector(resolver=CheckedAddresses(addresses), use_dns_cache=False)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=ATTEMPT_SECONDS)
        ) as session:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
    except asyncio.TimeoutError:
        raise RuntimeError(f"{redacted(url)} did not answer within {ATTEMPT_SECONDS:g} s") from None
    except aiohttp.ClientError as error:
        raise RuntimeError(f"{redacted(url)}: the request failed ({type(error).__name__})") from None
    if 300 <= status < 400:
        raise RuntimeError(f"{redacted(url)} answered {status}, a redirect, which is not followed")
    if status >= 300:
        raise RuntimeError(f"{redacted(url)} answered {status}")
    return status
