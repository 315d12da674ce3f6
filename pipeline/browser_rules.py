"""Who may talk to the worker's HTTP servers (the API and console, the SQL port) from a browser.

A web page the operator has open can send requests to 127.0.0.1 (a form, an image, a `fetch`
without CORS), and a name it controls can be rebound to 127.0.0.1 (DNS rebinding). Neither is
answered, with or without a token:
- the `Host` header must name a loopback address, `localhost`, the address the server listens
  on, or a name in CDRFLOW_ALLOWED_HOSTS (a rebound name is none of these);
- a request carrying `Sec-Fetch-Site: cross-site`, or an `Origin` other than the console's own
  (an allowed host on the web port), is refused.
Clients that are not browsers (curl, clickhouse-connect, JDBC, Grafana's server) send neither
header, and their `Host` is the address they dialled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.settings import is_loopback as is_loopback_address


def host_name(host: str) -> str:
    """The name or address of a Host header's value, without its port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_loopback(name: str) -> bool:
    """A loopback address or `localhost`, and names under `.localhost` (browsers keep them on the loopback)."""
    return name.endswith(".localhost") or is_loopback_address(name)


@dataclass(frozen=True)
class BrowserRules:
    allowed_hosts: tuple[str, ...]  # CDRFLOW_ALLOWED_HOSTS
    listen_address: str  # CDRFLOW_WEB_HOST
    console_port: int  # CDRFLOW_WEB_PORT: the console's origin is an allowed host on this port

    def host_allowed(self, name: str) -> bool:
        return is_loopback(name) or name in self.allowed_hosts or name == self.listen_address.lower()

    def refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why a request with these headers is refused, or None when it may be answered."""
        host, origin, fetch_site = headers.get("Host"), headers.get("Origin"), headers.get("Sec-Fetch-Site")
        if host is not None and not self.host_allowed(host_name(host)):
            return f"Host {host_name(host)!r} is not this server's (CDRFLOW_ALLOWED_HOSTS)"
        if (fetch_site or "").strip().lower() == "cross-site":
            return "a request from another site"
        if origin is not None:
            parts = urlsplit(origin.strip())
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                port = -1
            own = parts.scheme in ("http", "https") and self.host_allowed((parts.hostname or "").lower())
            if not own or port != self.console_port:
                return f"a request from the page of another origin ({origin.strip()[:100]})"
        return None
