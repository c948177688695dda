"""Bad input exits 2 with one line and no traceback, before anything is sent; the bucket is created (in the
configured region) unless --no-create-bucket says not to."""

from __future__ import annotations

import os

import pytest
from upload_helpers import remote_objects, small_tree, write_tree


@pytest.fixture
def tree(tmp_path):
    return small_tree(tmp_path / "tree", count=2)


@pytest.mark.parametrize(
    "to, expected",
    [
        ("gs://bucket/prefix", "must be an s3://bucket/prefix URI"),
        ("bucket/prefix", "must be an s3://bucket/prefix URI"),
        ("s3://Upper-Case/p", "'Upper-Case' is not a valid S3 bucket name"),
        ("s3://ab/p", "'ab' is not a valid S3 bucket name: it must be 3 to 63"),
        ("s3://my_bucket/p", "'my_bucket' is not a valid S3 bucket name: only lowercase"),
        ("s3://bad..dots/p", "two adjacent dots"),
        ("s3://192.168.1.10/p", "formatted as an IP address"),
        ("s3:///p", "'' is not a valid S3 bucket name"),
        ("s3://fine-bucket/a/../b", "'.' or '..' segment"),
        ("s3://fine-bucket/a//b", "empty segment"),
    ],
)
def test_bad_destination_exits_2(mlops, local_aws, tree, to, expected):
    result = mlops("data", "upload", str(tree), "--to", to)

    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "make_source, expected",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: write_tree(tmp / "t", {"file.txt": b"x"}) / "file.txt", "is not a folder"),
        (lambda tmp: write_tree(tmp / "t", {".only-hidden": b"x", ".git/config": b"y"}), "has no files to upload"),
    ],
)
def test_bad_source_exits_2(mlops, local_aws, tmp_path, make_source, expected):
    result = mlops("data", "upload", str(make_source(tmp_path)), "--to", "s3://never-created/p")

    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "threshold, expected",
    [
        ("1MiB", "between 5MiB"),
        ("6GiB", "between 5MiB"),
        ("lots", "is not a size"),
    ],
)
def test_bad_multipart_threshold_exits_2(mlops, local_aws, tree, threshold, expected):
    result = mlops("data", "upload", str(tree), "--to", "s3://never-created/p", "--multipart-threshold", threshold)

    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output


def test_no_create_bucket_refuses_a_missing_bucket(mlops, local_aws, s3, bucket, tree):
    result = mlops("data", "upload", str(tree), "--to", f"s3://{bucket}/p", "--no-create-bucket")

    assert result.exit_code == 1 and f"bucket '{bucket}' does not exist" in result.stderr
    assert "--no-create-bucket" in result.stderr and "Traceback" not in result.output
    assert bucket not in {item["Name"] for item in s3.list_buckets()["Buckets"]}


def test_no_create_bucket_uploads_into_an_existing_bucket(upload, s3, bucket, tree):
    s3.create_bucket(Bucket=bucket)

    code, summary, _ = upload(str(tree), "--to", f"s3://{bucket}/p", "--no-create-bucket")

    assert code == 0 and summary["uploaded"] == 2 and summary["bucket_created"] is False


def test_bucket_is_created_in_the_configured_region(upload, s3, bucket, tree):
    code, summary, _ = upload(str(tree), "--to", f"s3://{bucket}/p", "--region", "eu-west-1")

    assert code == 0 and summary["bucket_created"] is True
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    assert len(remote_objects(s3, bucket)) == 2


def test_what_cannot_be_a_key_is_skipped_by_name_and_the_plan_matches_the_upload(upload, s3, bucket, tmp_path):
    """Symlink loops, FIFOs, dangling links and names with control characters or non-UTF-8 bytes are skipped
    with a warning naming each, in the dry run and in the upload alike; the keys planned are the keys written."""
    root = write_tree(
        tmp_path / "tree",
        {"ok/a.png": b"a", "ok/b c.png": b"bc", "new\nline.png": b"n", "tab\tdir/x.png": b"t", "bell\x07.png": b"b"},
    )
    (root / "ok" / os.fsdecode(b"latin1-\xe9.png")).write_bytes(b"l")
    os.mkfifo(root / "ok" / "fifo.png")
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "dangling.png").symlink_to(tmp_path / "nowhere.png")

    dry_code, dry_plan, dry_stderr = upload("--dry-run", str(root), "--to", f"s3://{bucket}/p")
    code, summary, stderr = upload(str(root), "--to", f"s3://{bucket}/p")

    assert dry_code == 0 and code == 0, stderr
    planned = {step["params"]["Key"] for step in dry_plan["steps"] if step["operation"] == "PutObject"}
    assert planned == set(remote_objects(s3, bucket)) == {"p/ok/a.png", "p/ok/b c.png"}
    for output in (dry_stderr, stderr):
        warned = [line for line in output.splitlines() if line.startswith("warning: skipped")]
        assert len(warned) == 8, output
        for name in (
            "'new\\nline.png'",
            "'tab\\tdir'",
            "'bell\\x07.png'",
            "latin1-",
            "'ok/fifo.png'",
            "'loop1'",
            "'loop2'",
            "'dangling.png'",
        ):
            assert name in output, (name, output)


def test_forced_colour_off_a_terminal_brings_no_progress_frames(mlops, local_aws, tree, boto_client):
    """FORCE_COLOR / TTY_COMPATIBLE (common in CI) make rich call a pipe a terminal: the progress bar still stays
    off, as the stream itself is no terminal (no redraws, no cursor codes in a CI log)."""
    boto_client("s3").create_bucket(Bucket="forced-colour")
    result = mlops(
        "data", "upload", str(tree), "--to", "s3://forced-colour/p", env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}
    )
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stderr and "\x1b[?25l" not in result.stderr  # redraws, the hidden cursor
