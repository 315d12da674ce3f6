"""The dedup and rerate state: the newest revision of every CDR id, decided a batch at a time.

`cdr_state` plans each batch against the table; `store` keeps the table in RocksDB (its options
in one dataclass); `changelog` writes the table's changelog in bulk; `recovery` is the checkpoint
protocol around them (markers, batches skipped or lost). The state emits metric vectors; it never
writes to the warehouse or the live windows itself.
"""
