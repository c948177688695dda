"""The local AWS's journal file: a crash mid-write leaves a torn or garbled last record, which was never
acknowledged (the answer waits for the fsync of the whole record) and is dropped; every whole record stays."""

from __future__ import annotations

from pathlib import Path

from mlops_cli.local.core.store import Journal


def write_records(path: Path, count: int) -> bytes:
    journal = Journal(path)
    for seq in range(1, count + 1):
        journal.sync(journal.append({"seq": seq, "body": b"x" * seq}))
    journal.close()
    return path.read_bytes()


def test_a_torn_last_record_is_dropped_and_the_whole_ones_kept(tmp_path):
    path = tmp_path / "journal.log"
    whole = write_records(path, 3)
    path.write_bytes(whole + whole[: len(whole) // 3 - 2])  # a fourth record cut off mid-write
    records, valid = Journal.read(path)
    assert [record["seq"] for record in records] == [1, 2, 3]
    assert valid == len(whole)


def test_a_garbled_last_record_is_dropped(tmp_path):
    path = tmp_path / "journal.log"
    whole = write_records(path, 2)
    garbled = bytearray(whole)
    garbled[-1] ^= 0xFF  # the second record's payload no longer matches its CRC
    path.write_bytes(bytes(garbled))
    records, valid = Journal.read(path)
    assert [record["seq"] for record in records] == [1]
    assert 0 < valid < len(whole)


def test_appends_after_a_restart_continue_the_file(tmp_path):
    path = tmp_path / "journal.log"
    write_records(path, 2)
    journal = Journal(path)
    journal.sync(journal.append({"seq": 3}))
    journal.close()
    assert [record["seq"] for record in Journal.read(path)[0]] == [1, 2, 3]


def test_state_naming_a_class_where_it_used_to_live_still_loads():
    """Snapshots and journals written before the local AWS's split name Provisioned in its old module."""
    import pickle

    from mlops_cli.local import moto_compat
    from mlops_cli.local.lambda_.provisioned import Provisioned

    config = Provisioned("arn:aws:lambda:us-east-1:123456789012:function:f", 2, "1", status="READY")
    written_before = pickle.dumps({"configs": config}, protocol=0).replace(
        b"mlops_cli.local.lambda_.provisioned", b"mlops_cli.local.lambda_.functions"
    )
    assert b"mlops_cli.local.lambda_.functions" in written_before
    assert moto_compat.loads(written_before) == {"configs": config}
