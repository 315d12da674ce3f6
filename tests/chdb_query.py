"""Run one query on a chDB folder in a process of its own (chDB: one folder per process).

    python -m tests.chdb_query PATH "SQL"  -> JSON rows on stdout
"""

import sys

import clickhouse_connect
import orjson


def main() -> None:
    path, sql = sys.argv[1], sys.argv[2]
    client = clickhouse_connect.get_client(interface="chdb", path=path, database="cdrflow")
    rows = client.query(sql).result_rows
    sys.stdout.buffer.write(orjson.dumps(rows, default=str))


if __name__ == "__main__":
    main()
