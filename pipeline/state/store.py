"""Where the state table's entries live, one store partition per batch-topic partition.

`CDRFLOW_STATE=rocksdb` (the default): Faust's RocksDB store, one database per partition under
CDRFLOW_DATA_DIR, all of them within one memory budget (`StateMemory`). A batch's writes go in as
one atomic RocksDB write together with the changelog offset they reach, so after a crash the
database holds whole batches only, and the changelog is read from that offset on (in bulk, then
by Faust's recovery): a restart on the same disk reads the changelog's tail, not the whole of it.

`CDRFLOW_STATE=memory`: Faust's memory store, for unit tests; it replays the whole changelog at
every start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import rocksdict
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.stores import rocksdb as faust_rocksdb
from faust.types import TP, EventT

Entry = tuple[bytes, bytes | None]
ID_PREFIX = b"d|"


class PartitionStates(Protocol):
    """The table's entries of one worker, addressed by partition."""

    def get(self, partition: int, key: bytes) -> bytes | None: ...

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]: ...

    def put(self, partition: int, writes: list[Entry], changelog_offset: int) -> None:
        """Apply `writes` (None deletes) as a whole, with the changelog offset of the last one."""

    def id_entries(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """Every CDR id entry of `partition`, in key order."""


class MemoryStates:
    """Over the memory store's dict, which holds every partition's keys together."""

    def __init__(self, data: dict[bytes, bytes], partition_of_id: Callable[[bytes], int]) -> None:
        self.data = data
        self.partition_of_id = partition_of_id

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.data.get(key)

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]:
        get = self.data.get
        return [get(key) for key in keys]

    def put(self, partition: int, writes: list[Entry], changelog_offset: int) -> None:
        data = self.data
        for key, value in writes:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value

    def id_entries(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        for key, value in sorted(self.data.items()):
            if key.startswith(ID_PREFIX) and self.partition_of_id(key[len(ID_PREFIX) :]) == partition:
                yield key, value


class RocksDBStates:
    """Over the databases of Faust's RocksDB store (looked up at each call: Faust closes a revoked
    partition's database by dropping it, so nothing here may hold on to one)."""

    def __init__(self, store: faust_rocksdb.Store) -> None:
        self.store = store

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.store._db_for_partition(partition).get(key)

    def get_many(self, partition: int, keys: list[bytes]) -> list[bytes | None]:
        return self.store._db_for_partition(partition).get(keys)

    def put(self, partition: int, writes: list[Entry], changelog_offset: int) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(self.store.offset_key, b"%d" % changelog_offset)
        self.store._db_for_partition(partition).write(batch)

    def id_entries(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.store._db_for_partition(partition).items(from_key=ID_PREFIX):
            if not key.startswith(ID_PREFIX):
                return
            yield key, value


@dataclass(frozen=True)
class StateMemory:
    """What RocksDB may hold in memory for all of a worker's partitions together.

    One LRU block cache holds the data blocks read, the index and filter blocks of every file
    (so they do not grow with the number of ids) and, charged to it, the write buffers
    (memtables): the worker's state costs about `total_mb` of RAM whether it remembers one
    million ids or a hundred million. The defaults suit a worker of 2 cores and a few GiB.
    """

    total_mb: int = 256  # CDRFLOW_STATE_MEMORY_MB
    write_buffer_mb: int = 16  # one memtable; a partition fills up to `max_write_buffers` of them before flushing
    max_write_buffers: int = 3
    bloom_bits_per_key: int = 10  # ~1 % false positives: a new id rarely reads a block from disk
    block_kb: int = 16


class BoundedRocksDBOptions(faust_rocksdb.RocksDBOptions):
    """Faust's RocksDB options with one shared cache and write buffer budget instead of one per database."""

    def __init__(self, memory: StateMemory, **kwargs: Any) -> None:
        super().__init__(use_rocksdict=True, **kwargs)
        self.memory = memory
        self.cache = rocksdict.Cache(memory.total_mb << 20)
        self.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            (memory.total_mb << 20) // 2, False, self.cache
        )

    def as_options(self) -> rocksdict.Options:
        memory = self.memory
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(memory.write_buffer_mb << 20)
        options.set_max_write_buffer_number(memory.max_write_buffers)
        options.set_write_buffer_manager(self.write_buffers)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_compression_type(rocksdict.DBCompressionType.lz4())
        options.set_bottommost_compression_type(rocksdict.DBCompressionType.zstd())
        table = rocksdict.BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_block_size(memory.block_kb << 10)
        table.set_bloom_filter(memory.bloom_bits_per_key, False)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_format_version(5)
        options.set_block_based_table_factory(table)
        return options

    def open(self, path: Path, *, read_only: bool = False) -> rocksdict.Rdict:
        db = rocksdict.Rdict(str(path), options=self.as_options())
        db.set_read_options(rocksdict.ReadOptions())
        return db


class BoundedRocksDBStore(faust_rocksdb.Store):
    """Faust's RocksDB table store (`store="cdrflow-rocksdb://"`) within a `StateMemory` budget,
    given as the table's `options={"memory": StateMemory(...)}`.

    A partition assigned to the worker is first brought up to its changelog's end in bulk (see
    `read_changelog_in_bulk`), then Faust's recovery reads whatever came after. The store counts
    the changelog records it reads either way (`changelog_read`)."""

    def __init__(self, *args: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        options = dict(options or {})
        memory = options.pop("memory", StateMemory())
        super().__init__(*args, options=options, driver="rocksdict", **kwargs)
        self.rocksdb_options = BoundedRocksDBOptions(memory)
        self.changelog_read = 0

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable, to_value: Callable) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        self.changelog_read += len(events)

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        mine = {tp for tp in newly_assigned if tp.topic in self.table.changelog_topic.topics}
        if mine:
            await self.read_changelog_in_bulk(mine)

    async def read_changelog_in_bulk(self, partitions: set[TP]) -> None:
        """Write each partition's changelog, from the offset its database holds to the changelog's
        end, into the database: fetched in bulk, one atomic write (with the offset reached) per
        fetch. Faust's recovery, which runs next, costs ~200 µs per record (its consumer's
        per-message path); a worker on a fresh disk would rebuild 90M ids in hours."""
        servers = [f"{url.host}:{url.port or 9092}" for url in self.app.conf.broker]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
        )
        await consumer.start()
        try:
            topic_partitions = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
            consumer.assign(topic_partitions)
            ends = await consumer.end_offsets(topic_partitions)
            reading = set()
            for tp in topic_partitions:
                persisted = self.persisted_offset(tp)
                start = 0 if persisted is None else persisted + 1
                if start < ends[tp]:
                    consumer.seek(tp, start)
                    reading.add(tp)
            consumer.pause(*(set(topic_partitions) - reading))
            while reading:
                fetched = await consumer.getmany(*reading, timeout_ms=1000, max_records=50_000)
                for tp, records in fetched.items():
                    batch = rocksdict.WriteBatch(raw_mode=True)
                    for record in records:
                        if record.value is None:
                            batch.delete(record.key)
                        else:
                            batch.put(record.key, record.value)
                    batch.put(self.offset_key, b"%d" % records[-1].offset)
                    self._db_for_partition(tp.partition).write(batch)
                    self.changelog_read += len(records)
                for tp in list(reading):
                    if await consumer.position(tp) >= ends[tp]:
                        reading.discard(tp)
                        consumer.pause(tp)
        finally:
            await consumer.stop()
