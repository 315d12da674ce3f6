"""Read a stopped worker's RocksDB state from its folder (read-only)."""

from __future__ import annotations

from pathlib import Path

import rocksdict
from faust.stores.rocksdb import Store as RocksDBStore

OFFSET_KEY = RocksDBStore.offset_key  # where the store keeps the changelog offset it holds


def state_values(folder: Path, key: bytes | None = None) -> dict[int, bytes | None]:
    """Per state partition, the value its database holds under `key` (by default the changelog
    offset the database holds everything up to)."""
    values = {}
    for path in (folder / "var").glob("faust/*/**/state-*.db"):
        db = rocksdict.Rdict(
            str(path), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
        )
        try:
            values[int(path.name.removeprefix("state-").removesuffix(".db"))] = db.get(key or OFFSET_KEY)
        finally:
            db.close()
    return values


def persisted_offsets(folder: Path) -> dict[int, int]:
    """Per state partition, the changelog offset its database holds everything up to (-1: none)."""
    return {partition: -1 if value is None else int(value) for partition, value in state_values(folder).items()}
