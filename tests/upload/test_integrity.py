"""SHA-256 end to end: S3 gets the checksum with every body, multipart objects carry the whole file's hash,
and bytes that differ from the ones hashed never reach a final key."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from upload_helpers import remote_objects, state_count, write_tree

from mlops_cli.services.s3sync import source

MIB = 1024 * 1024


@pytest.fixture
def big_tree(tmp_path):
    """One file over a 5 MiB multipart threshold (three parts) and one small file."""
    return write_tree(tmp_path / "tree", {"big/weights.bin": os.urandom(11 * MIB + 123), "small.txt": b"small"})


def corrupting_reader(target: str, at_offset: int):
    """A test seam for `source.open_source`: reads of `target` return one byte flipped at `at_offset`."""
    real_open = source.open_source

    def open_source(path):
        handle = real_open(path)
        if path.name != target:
            return handle
        data = bytearray(handle.read())
        handle.close()
        data[at_offset] ^= 0xFF
        return io.BytesIO(bytes(data))

    return open_source


def test_every_object_carries_its_sha256_as_checksum_and_metadata(upload, s3, bucket, tmp_path):
    content = b"digit pixels"
    root = write_tree(tmp_path / "tree", {"a/b.png": content})

    assert upload(str(root), "--to", f"s3://{bucket}/x")[0] == 0

    head = s3.head_object(Bucket=bucket, Key="x/a/b.png", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert head["Metadata"]["sha256"] == hashlib.sha256(content).hexdigest()


def test_large_file_goes_multipart_and_is_skipped_next_time_even_without_local_state(
    upload, s3, bucket, big_tree, tmp_path
):
    data = (big_tree / "big/weights.bin").read_bytes()
    to = ("--to", f"s3://{bucket}/m", "--multipart-threshold", "5MiB")

    code, summary, _ = upload(str(big_tree), *to)

    assert code == 0 and (summary["uploaded"], summary["multipart"]) == (2, 1)
    head = s3.head_object(Bucket=bucket, Key="m/big/weights.bin")
    assert head["ETag"].endswith('-3"')  # three parts: not an MD5, so only the recorded SHA-256 can tell
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert s3.get_object(Bucket=bucket, Key="m/big/weights.bin")["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    assert upload(str(big_tree), *to)[1]["uploaded"] == 0
    # Another machine (no local state, only the local AWS's credentials): HeadObject's x-amz-meta-sha256 proves
    # the objects unchanged.
    from mlops_cli.local.core import credentials

    other_home = tmp_path / "other-home"
    local_aws = os.environ["MLOPS_AWS__ENDPOINT_URL"]
    credentials.write(
        other_home / credentials.path(local_aws).relative_to(credentials.mlops_home()), credentials.load(local_aws)
    )
    code, fresh, _ = upload(str(big_tree), *to, env={"MLOPS_HOME": str(other_home)})
    assert code == 0 and (fresh["uploaded"], fresh["skipped"]) == (0, 2)


def test_corrupted_read_is_detected_and_nothing_is_stored_under_the_key(upload, s3, bucket, tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", {"ok.txt": b"fine", "victim.png": b"0123456789" * 50})
    monkeypatch.setattr(source, "open_source", corrupting_reader("victim.png", at_offset=7))

    code, summary, stderr = upload(str(root), "--to", f"s3://{bucket}/c", "-j", "1")

    assert code == 1 and summary is None
    assert "victim.png" in stderr and "differ from the bytes hashed" in stderr
    assert "c/victim.png" not in remote_objects(s3, bucket)

    monkeypatch.undo()
    code, summary, _ = upload(str(root), "--to", f"s3://{bucket}/c")
    assert code == 0 and summary["uploaded"] == 1 and summary["skipped"] == 1  # ok.txt finished the first time
    assert s3.get_object(Bucket=bucket, Key="c/victim.png")["Body"].read() == b"0123456789" * 50


def test_corrupted_part_aborts_the_multipart_upload(upload, s3, bucket, big_tree, monkeypatch):
    monkeypatch.setattr(source, "open_source", corrupting_reader("weights.bin", at_offset=6 * MIB))

    code, _, stderr = upload(str(big_tree), "--to", f"s3://{bucket}/m", "--multipart-threshold", "5MiB")

    assert code == 1 and "big/weights.bin" in stderr
    assert "m/big/weights.bin" not in remote_objects(s3, bucket)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert state_count("SELECT COUNT(*) FROM multipart WHERE bucket = ?", bucket) == 0


def test_a_file_that_cannot_be_read_exits_1_naming_it(upload, s3, bucket, tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", {"locked.txt": b"2"})
    real_open = source.open_source

    def open_source(path):
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(path)

    monkeypatch.setattr(source, "open_source", open_source)

    code, _, stderr = upload(str(root), "--to", f"s3://{bucket}/p")

    assert code == 1 and "cannot read 'locked.txt': Permission denied" in stderr
    assert remote_objects(s3, bucket) == {}
