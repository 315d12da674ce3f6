"""The one settings object: `CDRFLOW_*` variables from the environment and a `.env` file.

Read once (`get_settings()`), validated as a whole at start; a bad value is reported with the
name of its variable and what was expected, before anything connects anywhere.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,240}$")
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAIL_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
DEFAULT_DATABASE = "cdrflow"
HOST_NAME = re.compile(r"^[A-Za-z0-9.:_-]{1,253}$")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class WarehouseUrl:
    """Where ClickHouse lives: an embedded chDB folder or a server over HTTP(S)."""

    interface: str  # "chdb", "http" or "https"
    database: str
    path: str = ""  # chdb only
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""

    @property
    def display(self) -> str:
        """Where it is, as a person reads it (no password)."""
        if self.interface == "chdb":
            return f"chdb://{self.path}"
        return f"{self.interface}://{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class SmtpUrl:
    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str = ""
    password: str = ""

    @property
    def shown(self) -> str:
        """The server as logs and errors name it: never the login."""
        return f"{'smtps' if self.ssl else 'smtp'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    broker: str  # Kafka bootstrap servers as Faust wants them: kafka://host:port[;host:port]
    topic: str
    clickhouse: WarehouseUrl
    data_dir: Path
    web_port: int
    web_host: str  # where the web server listens: loopback unless a token guards it or it is opened
    api_token: str | None
    smtp: SmtpUrl
    mail_from: str
    partitions: int
    dedup_days: int
    app_id: str
    schedule_grace_minutes: int
    state: str = "rocksdb"  # the table store: "rocksdb" or "memory"
    state_memory_mb: int = 256  # RocksDB block cache and write buffers of all the worker's partitions together
    replication: int = 1  # replication factor of the topics cdrflow creates
    batch_lag_limit: int = 1000  # batch messages not applied yet past which the ingest holds back
    sql_port: int = 8123  # the read-only ClickHouse HTTP port; 0 = off
    sql_max_seconds: int = 30  # time limit of one ad-hoc query
    live: bool = True  # live windows and alert rules
    live_grace_seconds: int = 60  # how late a CDR may be and still count in the live window
    live_idle_seconds: int = 300  # after this long without CDRs the live clock follows the wall clock
    webhook_secret: str | None = None  # HMAC key of the alert webhooks' X-Cdrflow-Signature
    currency: str = ""  # ISO 4217 code shown beside money where people read reports; "" = none
    allowed_hosts: tuple[str, ...] = ()  # Host header names, besides loopback and localhost, the servers answer to
    webhook_allow_nets: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # inside nets webhooks may reach
    sql_max_result_mb: int = 100  # largest result of one ad-hoc query
    sql_concurrency: int = 4  # ad-hoc queries at once on the SQL port
    report_max_seconds: int = 60  # time limit of one report (built-in, custom, scheduled)
    advertised_url: str = ""  # how other workers reach this one's API (Faust's canonical URL)
    webhook_max_per_step: int = 100  # webhook POSTs per rule and minute step before one summary POST

    @property
    def canonical_url(self) -> str:
        """How other workers reach this one's API: CDRFLOW_ADVERTISED_URL, else this host's name
        when the web server listens on every address, else the one address it listens on."""
        if self.advertised_url:
            return self.advertised_url
        host = socket.gethostname() if self.web_host in ("0.0.0.0", "::") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def batch_topic(self) -> str:
        """Internal topic of validated CDR batches, keyed and partitioned by CDR id."""
        return f"{self.app_id}-cdr-batches"

    @property
    def state_changelog(self) -> str:
        """Changelog of the worker's state table (Faust's name for it: <app id>-<table>-changelog)."""
        return f"{self.app_id}-state-changelog"

    @property
    def live_topic(self) -> str:
        """Internal topic of the applied batches' live deltas: one partition, so one worker keeps the windows."""
        return f"{self.app_id}-live-deltas"

    @property
    def live_changelog(self) -> str:
        return f"{self.app_id}-live-changelog"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def bootstrap_servers(self) -> list[str]:
        """host:port pairs for aiokafka."""
        return self.broker.removeprefix("kafka://").replace(";", ",").split(",")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> "Settings":
        values = dict(read_env_file(env_file)) if env_file is not None else {}
        values.update(
            {k: v for k, v in (os.environ if environ is None else environ).items() if k.startswith("CDRFLOW_")}
        )

        def get(name: str, default: str) -> str:
            return values.get(name, default).strip()

        return cls(
            broker=parse_broker("CDRFLOW_BROKER", get("CDRFLOW_BROKER", "kafka://127.0.0.1:9092")),
            topic=parse_topic("CDRFLOW_TOPIC", get("CDRFLOW_TOPIC", "cdr.rated")),
            clickhouse=parse_warehouse_url("CDRFLOW_CLICKHOUSE", get("CDRFLOW_CLICKHOUSE", "chdb://./var/clickhouse")),
            data_dir=Path(get("CDRFLOW_DATA_DIR", "./var") or "./var"),
            web_port=parse_int("CDRFLOW_WEB_PORT", get("CDRFLOW_WEB_PORT", "6066"), 1, 65535),
            web_host=parse_host(
                "CDRFLOW_WEB_HOST", get("CDRFLOW_WEB_HOST", "0.0.0.0" if get("CDRFLOW_API_TOKEN", "") else "127.0.0.1")
            ),
            api_token=get("CDRFLOW_API_TOKEN", "") or None,
            smtp=parse_smtp_url("CDRFLOW_SMTP", get("CDRFLOW_SMTP", "smtp://127.0.0.1:25")),
            mail_from=parse_mail_address("CDRFLOW_MAIL_FROM", get("CDRFLOW_MAIL_FROM", "reports@localhost")),
            partitions=parse_int("CDRFLOW_PARTITIONS", get("CDRFLOW_PARTITIONS", "8"), 1, 1024),
            dedup_days=parse_int("CDRFLOW_DEDUP_DAYS", get("CDRFLOW_DEDUP_DAYS", "45"), 1, 3660),
            app_id=parse_topic("CDRFLOW_APP_ID", get("CDRFLOW_APP_ID", "cdrflow")),
            schedule_grace_minutes=parse_int(
                "CDRFLOW_SCHEDULE_GRACE_MINUTES", get("CDRFLOW_SCHEDULE_GRACE_MINUTES", "60"), 0, 7 * 24 * 60
            ),
            state=parse_choice("CDRFLOW_STATE", get("CDRFLOW_STATE", "rocksdb"), ("rocksdb", "memory")),
            state_memory_mb=parse_int("CDRFLOW_STATE_MEMORY_MB", get("CDRFLOW_STATE_MEMORY_MB", "256"), 32, 1 << 20),
            replication=parse_int("CDRFLOW_REPLICATION", get("CDRFLOW_REPLICATION", "1"), 1, 32),
            sql_port=parse_int("CDRFLOW_SQL_PORT", get("CDRFLOW_SQL_PORT", "8123"), 0, 65535),
            sql_max_seconds=parse_int("CDRFLOW_SQL_MAX_SECONDS", get("CDRFLOW_SQL_MAX_SECONDS", "30"), 1, 24 * 3600),
            batch_lag_limit=parse_int("CDRFLOW_BATCH_LAG_LIMIT", get("CDRFLOW_BATCH_LAG_LIMIT", "1000"), 2, 10_000_000),
            live=parse_choice("CDRFLOW_LIVE", get("CDRFLOW_LIVE", "on"), ("on", "off")) == "on",
            live_grace_seconds=parse_int(
                "CDRFLOW_LIVE_GRACE_SECONDS", get("CDRFLOW_LIVE_GRACE_SECONDS", "60"), 0, 24 * 3600
            ),
            live_idle_seconds=parse_int("CDRFLOW_LIVE_IDLE_SECONDS", get("CDRFLOW_LIVE_IDLE_SECONDS", "300"), 1, 86400),
            webhook_secret=get("CDRFLOW_WEBHOOK_SECRET", "") or None,
            currency=parse_currency("CDRFLOW_CURRENCY", get("CDRFLOW_CURRENCY", "")),
            allowed_hosts=parse_host_names("CDRFLOW_ALLOWED_HOSTS", get("CDRFLOW_ALLOWED_HOSTS", "")),
            webhook_allow_nets=parse_networks("CDRFLOW_WEBHOOK_ALLOW_NETS", get("CDRFLOW_WEBHOOK_ALLOW_NETS", "")),
            sql_max_result_mb=parse_int(
                "CDRFLOW_SQL_MAX_RESULT_MB", get("CDRFLOW_SQL_MAX_RESULT_MB", "100"), 1, 1 << 20
            ),
            sql_concurrency=parse_int("CDRFLOW_SQL_CONCURRENCY", get("CDRFLOW_SQL_CONCURRENCY", "4"), 1, 256),
            webhook_max_per_step=parse_int(
                "CDRFLOW_WEBHOOK_MAX_PER_STEP", get("CDRFLOW_WEBHOOK_MAX_PER_STEP", "100"), 1, 100_000
            ),
            advertised_url=parse_advertised_url("CDRFLOW_ADVERTISED_URL", get("CDRFLOW_ADVERTISED_URL", "")),
            report_max_seconds=parse_int(
                "CDRFLOW_REPORT_MAX_SECONDS", get("CDRFLOW_REPORT_MAX_SECONDS", "60"), 1, 24 * 3600
            ),
        )


def read_env_file(path: Path) -> list[tuple[str, str]]:
    """KEY=VALUE lines; blank lines and # comments skipped; optional quotes around values."""
    if not path.is_file():
        return []
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key.strip(), value))
    return pairs


def parse_int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: expected an integer from {low} to {high}, got {value}")
    return value


def parse_currency(name: str, raw: str) -> str:
    if raw and not (len(raw) == 3 and raw.isascii() and raw.isalpha() and raw.isupper()):
        raise SettingsError(f"{name}: expected an ISO 4217 code like EUR or USD, or nothing, got {raw!r}")
    return raw


def parse_choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def ensure_data_dir(settings: Settings) -> Path:
    """The worker's folder for table stores, one per app id (created if missing); SettingsError if
    it cannot be written."""
    folder = settings.data_dir / "faust" / settings.app_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise SettingsError(
            f"CDRFLOW_DATA_DIR: the worker cannot write its state under {str(settings.data_dir)!r}: "
            f"{error.strerror or error}"
        ) from None
    return folder


def parse_host(name: str, raw: str) -> str:
    if not HOST_NAME.match(raw):
        raise SettingsError(
            f"{name}: expected an address to listen on (127.0.0.1, 0.0.0.0, ::, a host name), got {raw!r}"
        )
    return raw


def parse_advertised_url(name: str, raw: str) -> str:
    """An http(s)://host:port URL without a path; "" for the default (Settings.canonical_url)."""
    if not raw:
        return ""
    url = urlsplit(raw)
    try:
        port = url.port
    except ValueError:
        port = None
    if url.scheme not in ("http", "https") or not url.hostname or port is None or url.path not in ("", "/"):
        raise SettingsError(f"{name}: expected http://host:port (how other workers reach this one), got {raw!r}")
    return f"{url.scheme}://{url.netloc}"


def parse_host_names(name: str, raw: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for host in names:
        if not HOST_NAME.match(host) or ":" in host.strip("[]").replace("::", ""):
            raise SettingsError(f"{name}: expected host names separated by commas (no ports), got {host!r}")
    return names


def parse_networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name}: expected CIDRs separated by commas (e.g. 127.0.0.0/8), got {part!r}"
            ) from None
    return tuple(networks)


def parse_topic(name: str, raw: str) -> str:
    if not TOPIC_NAME.match(raw):
        raise SettingsError(f"{name}: a Kafka topic name is 1-240 of [A-Za-z0-9._-], got {raw!r}")
    return raw


def _host_port(name: str, raw: str, default_port: int | None) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = raw, ""
    if not host or (not port and default_port is None):
        raise SettingsError(f"{name}: expected host:port, got {raw!r}")
    return host, parse_int(name, port, 1, 65535) if port else default_port  # type: ignore[return-value]


def parse_broker(name: str, raw: str) -> str:
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "kafka", raw
    if scheme != "kafka" or not rest:
        raise SettingsError(f"{name}: expected kafka://host:port[,host:port...], got {raw!r}")
    servers = [_host_port(name, part.strip(), None) for part in re.split(r"[,;]", rest) if part.strip()]
    if not servers:
        raise SettingsError(f"{name}: expected kafka://host:port[,host:port...], got {raw!r}")
    return "kafka://" + ";".join(f"{h}:{p}" for h, p in servers)


def parse_warehouse_url(name: str, raw: str) -> WarehouseUrl:
    if raw.startswith("chdb://"):
        path = raw.removeprefix("chdb://")
        if not path:
            raise SettingsError(f"{name}: chdb:// needs a folder, e.g. chdb://./var/clickhouse")
        return WarehouseUrl(interface="chdb", database=DEFAULT_DATABASE, path=path)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name}: expected chdb://PATH or http(s)://user:pass@host:port/database, got {raw!r}")
    database = parts.path.strip("/") or DEFAULT_DATABASE
    if not DATABASE_NAME.match(database):
        raise SettingsError(f"{name}: {database!r} is not a ClickHouse database name")
    try:
        port = parts.port or (8443 if parts.scheme == "https" else 8123)
    except ValueError:
        raise SettingsError(f"{name}: the port of {raw!r} is not a number from 1 to 65535") from None
    return WarehouseUrl(
        interface=parts.scheme,
        database=database,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
    )


def parse_smtp_url(name: str, raw: str) -> SmtpUrl:
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(f"{name}: expected smtp://[user:pass@]host:port[?starttls=1] or smtps://..., got {raw!r}")
    query = parse_qs(parts.query)
    unknown = set(query) - {"starttls"}
    if unknown:
        raise SettingsError(f"{name}: unknown option {sorted(unknown)[0]!r} (only starttls=1)")
    starttls = query.get("starttls", ["0"])[-1]
    if starttls not in ("0", "1"):
        raise SettingsError(f"{name}: starttls must be 0 or 1, got {starttls!r}")
    ssl = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if ssl else 25)
    except ValueError:
        raise SettingsError(f"{name}: the port of {raw!r} is not a number from 1 to 65535") from None
    if parts.username and not ssl and starttls != "1" and not is_loopback(parts.hostname):
        raise SettingsError(
            f"{name}: a user and password to {parts.hostname} would cross the network in clear text: "
            "use smtps:// or add ?starttls=1"
        )
    return SmtpUrl(
        host=parts.hostname,
        port=port,
        ssl=ssl,
        starttls=starttls == "1",
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (an IPv4-mapped IPv6 one judged as its IPv4)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def parse_mail_address(name: str, raw: str) -> str:
    if not MAIL_ADDRESS.match(raw):
        raise SettingsError(f"{name}: expected an email address like reports@example.com, got {raw!r}")
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment and ./.env once."""
    return Settings.from_env()
