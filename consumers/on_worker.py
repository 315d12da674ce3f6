"""The warehouse as the consumers reach it inside the worker: its doors (pipeline.warehouse)."""

from __future__ import annotations

from consumers.store import Warehouse
from pipeline.app import bookkeeping_reads, reads, sink

warehouse = Warehouse(read=bookkeeping_reads.run, write=sink.run, report=reads.run)
