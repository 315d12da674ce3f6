import orjson

from consumers.feed.files import count_records, file_messages
from pipeline.events import parse_message

NOW_MS = 1_795_000_000_000


def test_jsonl_lines_are_sent_as_written(tmp_path):
    path = tmp_path / "cdrs.jsonl"
    path.write_bytes(b'{"id": "a"}\n\n[{"id": "b"}, {"id": "c"}]\nnot json\n')
    assert list(file_messages(path)) == [b'{"id": "a"}', b'[{"id": "b"}, {"id": "c"}]', b"not json"]
    assert count_records(path) == 3


def test_csv_rows_become_typed_events_and_empty_cells_take_the_defaults(tmp_path):
    path = tmp_path / "cdrs.csv"
    path.write_text(
        "id,rev,start_time,customer,provider,dest_number,sip_code,duration,customer_charge,pdd_in_ms\n"
        "x1,2,2026-09-01T10:00:00+05:30,acme,,447700900123,200,61.5,0.012345,\n"
        "x2,,1788220800000,acme,tata,447700900124,486,0,,850\n"
    )
    messages = list(file_messages(path))
    assert count_records(path) == 2
    first, second = (orjson.loads(m) for m in messages)
    assert first == {"id": "x1", "rev": 2, "start_time": "2026-09-01T10:00:00+05:30", "customer": "acme",
                     "dest_number": "447700900123", "sip_code": 200, "duration": 61.5, "customer_charge": "0.012345"}  # fmt: skip
    assert second["start_time"] == 1788220800000 and second["pdd_in_ms"] == 850 and "rev" not in second
    for message in messages:
        cdrs, invalid = parse_message(message, NOW_MS)
        assert invalid == [] and len(cdrs) == 1


def test_a_csv_cell_that_is_not_a_number_reaches_the_worker_as_written(tmp_path):
    path = tmp_path / "cdrs.csv"
    path.write_text("id,start_time,customer,dest_number,sip_code\nx1,1788220800000,acme,4477,abc\n")
    [message] = list(file_messages(path))
    _, [invalid] = parse_message(message, NOW_MS)
    assert invalid.reason.startswith("sip_code")
