from pipeline.ingest import chunks, partition_of


def test_batch_messages_end_at_the_row_or_the_byte_bound():
    rows = [b"x" * 10] * 25
    assert [len(c) for c in chunks(rows, 10, 10_000)] == [10, 10, 5]
    assert [len(c) for c in chunks(rows, 100, 50)] == [4] * 6 + [1]
    assert [len(c) for c in chunks([b"y" * 500, b"z"], 100, 50)] == [1, 1]  # an oversized row travels alone
    assert b"".join(b"".join(c) for c in chunks(rows, 7, 33)) == b"".join(rows)


def test_an_id_keeps_its_partition_across_processes_and_releases():
    # The state of an id lives in its partition: changing this function would strand it.
    assert (partition_of("call-42", 8), partition_of("ÅSA-7", 12)) == (2, 8)
    assert len({partition_of(f"call-{i}", 8) for i in range(200)}) == 8
