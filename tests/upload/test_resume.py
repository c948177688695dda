"""Ctrl-C (a real SIGINT to a real process): the files that finished stay finished, nothing half-written is
left under a key or as a pending multipart upload, exit 130, and the re-run sends only the rest."""

from __future__ import annotations

import json
import os
import signal

from upload_helpers import interrupt_cli, remote_objects, small_tree, state_count, write_tree

MIB = 1024 * 1024
# 32 parts of 5 MiB sent one at a time: about 2 s on loopback, so a test sees the upload in flight (8 parts were
# sometimes done, 0.9 s, before the poll saw them).
MULTIPART_BYTES = 160 * MIB


def test_interrupted_upload_resumes_without_resending_finished_files(upload, s3, bucket, tmp_path):
    total = 400  # ~1.5 s at 2 jobs: the interrupt after 20 lands well before the end
    root = small_tree(tmp_path / "tree", count=total)
    args = ["data", "upload", str(root), "--to", f"s3://{bucket}/r", "--jobs", "2"]

    run = interrupt_cli(args, ready=lambda: state_count("SELECT COUNT(*) FROM uploaded WHERE bucket = ?", bucket) >= 20)

    assert run.returncode == 130, run.stderr
    summary = json.loads(run.stdout)
    assert summary["interrupted"] is True and 20 <= summary["uploaded"] < total
    assert summary["pending"] == total - summary["uploaded"]
    assert "re-run the same command to resume" in run.stderr and "Traceback" not in run.stderr
    assert len(remote_objects(s3, bucket)) == summary["uploaded"]

    code, resumed, _ = upload(*args[2:])

    assert code == 0
    assert (resumed["uploaded"], resumed["skipped"]) == (total - summary["uploaded"], summary["uploaded"])
    assert len(remote_objects(s3, bucket)) == total


def test_interrupted_multipart_upload_is_aborted_and_resent_next_time(upload, s3, bucket, tmp_path):
    root = write_tree(tmp_path / "tree", {"model.bin": os.urandom(MULTIPART_BYTES)})
    args = ["data", "upload", str(root), "--to", f"s3://{bucket}/r", "--multipart-threshold", "5MiB", "--jobs", "1"]

    run = interrupt_cli(args, ready=lambda: state_count("SELECT COUNT(*) FROM multipart WHERE bucket = ?", bucket) > 0)

    assert run.returncode == 130, run.stderr
    assert json.loads(run.stdout)["uploaded"] == 0
    assert remote_objects(s3, bucket) == {}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert state_count("SELECT COUNT(*) FROM multipart WHERE bucket = ?", bucket) == 0

    code, resumed, _ = upload(*args[2:])

    assert code == 0 and (resumed["uploaded"], resumed["multipart"]) == (1, 1)
    assert remote_objects(s3, bucket) == {"r/model.bin": MULTIPART_BYTES}


def test_multipart_upload_left_by_a_killed_run_is_aborted_by_the_next_run(upload, s3, bucket, tmp_path):
    root = write_tree(tmp_path / "tree", {"model.bin": os.urandom(MULTIPART_BYTES)})
    args = ["data", "upload", str(root), "--to", f"s3://{bucket}/k", "--multipart-threshold", "5MiB", "--jobs", "1"]

    killed = interrupt_cli(
        args,
        sig=signal.SIGKILL,
        ready=lambda: state_count("SELECT COUNT(*) FROM multipart WHERE bucket = ?", bucket) > 0,
    )

    assert killed.returncode == -signal.SIGKILL
    assert len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])) == 1  # no chance to abort it
    assert remote_objects(s3, bucket) == {}

    code, summary, _ = upload(*args[2:])

    assert code == 0 and summary["uploaded"] == 1
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert state_count("SELECT COUNT(*) FROM multipart WHERE bucket = ?", bucket) == 0
