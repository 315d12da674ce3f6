"""Faults injected into the processes of a worker started with this folder on PYTHONPATH (Python
imports `sitecustomize` at start-up), each chosen by an environment variable:

CDRFLOW_FAULT_REFUSE_INSERTS_WHILE=<path>
    every insert into the warehouse fails, as a ClickHouse server refusing it would, while the
    file exists;
CDRFLOW_FAULT_KILL_AFTER_INSERT=<n>:<path>
    right after the warehouse took the n-th batch and before the batch is recorded in the state,
    the batch's partition, offset and CDR ids are written to the file and the worker is killed
    (SIGKILL);
CDRFLOW_FAULT_SLOW_READS=<seconds>
    every read on the report pool (pipeline.warehouse.reads, "reads") takes that much longer;
CDRFLOW_FAULT_SLOW_INSERTS=<seconds>
    every batch insert into the warehouse takes that much longer, as when other work takes the CPU.
"""

import os
import time

if os.environ.get("CDRFLOW_FAULT_SLOW_READS"):
    from pipeline.warehouse.reads import WarehouseReads

    slow_by = float(os.environ["CDRFLOW_FAULT_SLOW_READS"])
    read = WarehouseReads._read

    def slow_read(self, work):
        if self.name == "reads":
            time.sleep(slow_by)
        return read(self, work)

    WarehouseReads._read = slow_read

if os.environ.get("CDRFLOW_FAULT_SLOW_INSERTS"):
    from pipeline.warehouse.sink import ClickHouseSink

    insert_slower_by = float(os.environ["CDRFLOW_FAULT_SLOW_INSERTS"])
    quick_insert = ClickHouseSink._insert

    def slow_insert(self, rows, token):
        time.sleep(insert_slower_by)
        return quick_insert(self, rows, token)

    ClickHouseSink._insert = slow_insert

if os.environ.get("CDRFLOW_FAULT_REFUSE_INSERTS_WHILE") or os.environ.get("CDRFLOW_FAULT_KILL_AFTER_INSERT"):
    import signal
    from pathlib import Path

    import orjson
    from clickhouse_connect.driver.exceptions import DatabaseError

    from pipeline.warehouse.sink import ClickHouseSink

    refuse_while = os.environ.get("CDRFLOW_FAULT_REFUSE_INSERTS_WHILE")
    if refuse_while:
        insert = ClickHouseSink._insert

        def refusing_insert(self, rows, token):
            if Path(refuse_while).exists():
                raise DatabaseError("Code: 242. DB::Exception: Table is in readonly mode (injected fault)")
            return insert(self, rows, token)

        ClickHouseSink._insert = refusing_insert

    kill_after = os.environ.get("CDRFLOW_FAULT_KILL_AFTER_INSERT")
    if kill_after:
        count, _, report = kill_after.partition(":")
        insert_batch = ClickHouseSink.insert_batch
        inserts = 0

        async def insert_then_die(self, changes, token, live=False):
            global inserts
            delta = await insert_batch(self, changes, token, live)
            if changes.newest:
                inserts += 1
                if inserts == int(count):
                    ids = [row[0] for row in changes.newest]
                    Path(report).write_bytes(
                        orjson.dumps({"partition": changes.partition, "offset": changes.offset, "ids": ids})
                    )
                    os.kill(os.getpid(), signal.SIGKILL)
            return delta

        ClickHouseSink.insert_batch = insert_then_die
