"""Run one query on a chDB folder in a process of its own (chDB: one folder per process).

python -m tests.chdb_query PATH "SQL"  -> JSON rows on stdout
"""

import subprocess
import sys
from pathlib import Path

import clickhouse_connect
import orjson


def query_chdb(path: Path, sql: str) -> list:
    """Rows of one query on a stopped worker's chDB folder, from a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.chdb_query", str(path), sql], capture_output=True, timeout=120, check=True
    )
    return orjson.loads(done.stdout)


def main() -> None:
    path, sql = sys.argv[1], sys.argv[2]
    client = clickhouse_connect.get_client(interface="chdb", path=path, database="cdrflow")
    rows = client.query(sql).result_rows
    sys.stdout.buffer.write(orjson.dumps(rows, default=str))


if __name__ == "__main__":
    main()
