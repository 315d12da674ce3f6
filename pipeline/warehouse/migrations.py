"""Apply the ClickHouse schema in deploy/clickhouse/ in file-name order, each file once.

Every statement is also written to be idempotent (IF NOT EXISTS), so a migration interrupted
half-way is simply applied again. Applied files are recorded in `schema_migrations`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse"

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
"""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements: SQL separated by lines that end in `;`, comments dropped."""
        statements, current = [], []
        for line in self.sql.splitlines():
            if line.lstrip().startswith("--"):
                continue
            current.append(line)
            if line.rstrip().endswith(";"):
                statements.append("\n".join(current).rstrip().removesuffix(";").strip())
                current = []
        tail = "\n".join(current).strip()
        return [s for s in statements + [tail] if s]


def load_migrations(schema_dir: Path = SCHEMA_DIR) -> list[Migration]:
    return [Migration(path.name, path.read_text(encoding="utf-8")) for path in sorted(schema_dir.glob("*.sql"))]


def applied_migrations(client: Client) -> dict[str, str]:
    client.command(LEDGER)
    rows = client.query("SELECT name, argMax(checksum, applied_at) FROM schema_migrations GROUP BY name").result_rows
    return dict(rows)


def pending_migrations(client: Client, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """The migrations not applied yet, without writing anything (for commands that only read)."""
    done = set()
    if client.command("EXISTS TABLE schema_migrations"):
        done = {row[0] for row in client.query("SELECT DISTINCT name FROM schema_migrations").result_rows}
    return [m.name for m in load_migrations(schema_dir) if m.name not in done]


def migrate(client: Client, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Apply what is not applied yet; returns the names applied now."""
    done = applied_migrations(client)
    applied = []
    for migration in load_migrations(schema_dir):
        if migration.name in done:
            continue
        for statement in migration.statements():
            client.command(statement)
        client.insert("schema_migrations", [[migration.name, migration.checksum]], column_names=["name", "checksum"])
        applied.append(migration.name)
    return applied
