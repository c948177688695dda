"""`mlops data upload` as an incremental sync against the local AWS: what lands in S3, and what a re-run sends."""

from __future__ import annotations

import hashlib
import os

from upload_helpers import remote_objects, server_requests, small_tree, write_tree

SUMMARY_KEYS = {
    "source",
    "destination",
    "uploaded",
    "skipped",
    "deleted",
    "bytes",
    "seconds",
    "bucket_created",
    "multipart",
    "remote_only",
    "interrupted",
    "pending",
}


def local_files(root):
    """What an upload sends: every file, hidden ones (e.g. the sample's .mlops-sample marker) excepted."""
    return {
        path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def test_digits_sample_uploads_every_file_then_a_rerun_sends_nothing(upload, s3, bucket, digits_dir, local_aws):
    files = local_files(digits_dir)
    assert len(files) == 1797

    code, summary, _ = upload(str(digits_dir), "--to", f"s3://{bucket}/digits/data")

    assert code == 0
    assert set(summary) == SUMMARY_KEYS
    assert summary["uploaded"] == 1797 and summary["skipped"] == 0 and summary["bucket_created"] is True
    assert summary["bytes"] == sum(path.stat().st_size for path in files.values())
    remote = remote_objects(s3, bucket)
    assert remote == {f"digits/data/{relative}": path.stat().st_size for relative, path in files.items()}
    sample = sorted(files)[0]
    head = s3.head_object(Bucket=bucket, Key=f"digits/data/{sample}")
    assert head["Metadata"]["sha256"] == hashlib.sha256(files[sample].read_bytes()).hexdigest()
    assert head["ContentType"] == "image/png"

    requests_before = {method: server_requests(local_aws, method, bucket) for method in ("GET", "HEAD", "PUT")}

    code, again, _ = upload(str(digits_dir), "--to", f"s3://{bucket}/digits/data")

    assert code == 0
    assert (again["uploaded"], again["bytes"], again["skipped"], again["bucket_created"]) == (0, 0, 1797, False)
    # What keeps the no-change re-run fast: the listing's two pages, and no per-object request.
    sent = {method: server_requests(local_aws, method, bucket) - count for method, count in requests_before.items()}
    assert sent == {"GET": 2, "HEAD": 0, "PUT": 0}


def test_a_changed_file_is_sent_again_alone(upload, s3, bucket, tmp_path):
    root = small_tree(tmp_path / "tree")
    assert upload(str(root), "--to", f"s3://{bucket}/p")[0] == 0
    changed = root / "train/c1/f0001.bin"
    content = b"X" * changed.stat().st_size  # same size: only the SHA-256 tells the change
    changed.write_bytes(content)
    os.utime(changed, ns=(1, 1))  # an old mtime too: the hash cache keys on (path, size, mtime_ns) and must miss

    code, summary, _ = upload(str(root), "--to", f"s3://{bucket}/p")

    assert code == 0
    assert (summary["uploaded"], summary["bytes"], summary["skipped"]) == (1, len(content), 11)
    assert s3.get_object(Bucket=bucket, Key="p/train/c1/f0001.bin")["Body"].read() == content
    assert (
        s3.head_object(Bucket=bucket, Key="p/train/c1/f0001.bin")["Metadata"]["sha256"]
        == hashlib.sha256(content).hexdigest()
    )


def test_delete_removes_remote_extras_under_the_prefix_only(upload, s3, bucket, tmp_path):
    root = small_tree(tmp_path / "tree")
    assert upload(str(root), "--to", f"s3://{bucket}/data")[0] == 0
    (root / "test/c0/f0000.bin").unlink()
    s3.put_object(Bucket=bucket, Key="data/stray/extra.txt", Body=b"extra")
    s3.put_object(Bucket=bucket, Key="data2/keep.txt", Body=b"outside the prefix")

    code, kept, _ = upload(str(root), "--to", f"s3://{bucket}/data")
    assert code == 0 and (kept["uploaded"], kept["deleted"], kept["remote_only"]) == (0, 0, 2)

    code, summary, _ = upload(str(root), "--to", f"s3://{bucket}/data", "--delete")

    assert code == 0 and (summary["uploaded"], summary["deleted"], summary["skipped"]) == (0, 2, 11)
    remote = remote_objects(s3, bucket)
    assert "data/test/c0/f0000.bin" not in remote and "data/stray/extra.txt" not in remote
    assert "data2/keep.txt" in remote and len(remote) == 12


def test_dry_run_prints_the_requests_and_sends_nothing(upload, s3, bucket, tmp_path):
    root = small_tree(tmp_path / "tree", count=3)

    code, plan, _ = upload(str(root), "--to", f"s3://{bucket}/p", "--dry-run")

    assert code == 0 and plan["dry_run"] is True
    operations = [step["operation"] for step in plan["steps"]]
    assert operations == ["CreateBucket", "PutObject", "PutObject", "PutObject"]
    put = plan["steps"][1]["params"]
    assert "Body" not in put and put["ChecksumAlgorithm"] == "SHA256" and put["Key"] == "p/test/c0/f0000.bin"
    assert put["Metadata"]["sha256"] == hashlib.sha256((root / "test/c0/f0000.bin").read_bytes()).hexdigest()
    assert bucket not in {item["Name"] for item in s3.list_buckets()["Buckets"]}


def test_dry_run_on_a_synced_prefix_plans_only_the_difference(upload, s3, bucket, tmp_path):
    root = small_tree(tmp_path / "tree", count=4)
    assert upload(str(root), "--to", f"s3://{bucket}/p")[0] == 0
    (root / "test/c0/f0000.bin").write_bytes(b"new content")
    (root / "train/c1/f0001.bin").unlink()
    before = s3.head_object(Bucket=bucket, Key="p/test/c0/f0000.bin")["ETag"]

    code, plan, _ = upload(str(root), "--to", f"s3://{bucket}/p", "--delete", "--dry-run")

    assert code == 0
    assert [(step["operation"], step["params"].get("Key")) for step in plan["steps"]] == [
        ("PutObject", "p/test/c0/f0000.bin"),
        ("DeleteObjects", None),
    ]
    assert plan["steps"][1]["params"]["Delete"]["Objects"] == [{"Key": "p/train/c1/f0001.bin"}]
    assert s3.head_object(Bucket=bucket, Key="p/test/c0/f0000.bin")["ETag"] == before
    assert "p/train/c1/f0001.bin" in remote_objects(s3, bucket)


def test_hidden_files_and_symlinks_leaving_the_folder_are_not_uploaded(upload, s3, bucket, tmp_path):
    outside = write_tree(tmp_path / "outside", {"secret.txt": b"not for upload"})
    root = write_tree(
        tmp_path / "tree",
        {"a/one.txt": b"1", ".hidden": b"h", ".git/config": b"g", "a/.cache/x": b"x", "b/two.txt": b"22"},
    )
    (root / "out.txt").symlink_to(outside / "secret.txt")
    (root / "outdir").symlink_to(outside)
    (root / "again.txt").symlink_to(root / "a/one.txt")  # inside the folder: uploaded as its own key
    (root / "a/loop").symlink_to(root)  # back to an ancestor: would never end

    code, summary, stderr = upload(str(root), "--to", f"s3://{bucket}")

    assert code == 0 and summary["uploaded"] == 3
    assert set(remote_objects(s3, bucket)) == {"a/one.txt", "b/two.txt", "again.txt"}
    assert "out.txt" in stderr and "outdir" in stderr and "a/loop" in stderr


def test_quiet_prints_only_the_result(mlops, local_aws, bucket, tmp_path):
    root = small_tree(tmp_path / "tree", count=2)

    result = mlops("-q", "data", "upload", str(root), "--to", f"s3://{bucket}/p")

    assert result.exit_code == 0 and result.stderr == ""
    assert "uploaded" in result.stdout and "2 files" in result.stdout and f"s3://{bucket}/p" in result.stdout


def test_default_source_and_destination_come_from_the_config(mlops, local_aws, s3, tmp_path, monkeypatch):
    name = f"defaults-{os.getpid()}.txt"  # other tests may share the configured prefix: a name of our own
    write_tree(tmp_path / "data/digits", {name: b"default"})  # configs/local.yaml: data.local_dir = data/digits
    monkeypatch.chdir(tmp_path)

    result = mlops("-o", "json", "data", "upload")

    assert result.exit_code == 0, result.output
    assert f"digits/data/{name}" in remote_objects(s3, "mlops-local", "digits/data/")


def test_keys_keep_spaces_and_unicode_and_a_rerun_skips_them(upload, s3, bucket, tmp_path):
    root = write_tree(tmp_path / "tree", {"a b/ünï çødé.txt": b"u", "x/y/z+1%.png": b"p"})

    code, summary, _ = upload(str(root), "--to", f"s3://{bucket}/p q")

    assert code == 0 and summary["uploaded"] == 2
    assert set(remote_objects(s3, bucket)) == {"p q/a b/ünï çødé.txt", "p q/x/y/z+1%.png"}
    assert upload(str(root), "--to", f"s3://{bucket}/p q")[1]["skipped"] == 2


def test_the_upload_client_has_a_connection_for_every_worker():
    """An upload sends from a file pool and a part pool of --jobs threads each: the client's connection pool holds
    that many, so no connection is dropped and opened again for lack of room (botocore's default keeps 10)."""
    from mlops_cli.aws import DEFAULT_POOL_CONNECTIONS, AwsClients
    from mlops_cli.config.schema import AwsConfig

    aws = AwsConfig(region="us-east-1")
    assert AwsClients(aws).client("s3", in_flight=2 * 40).meta.config.max_pool_connections == 80
    assert AwsClients(aws).client("s3").meta.config.max_pool_connections == DEFAULT_POOL_CONNECTIONS


def test_a_rerun_takes_the_config_from_the_validation_cache(upload, bucket, tmp_path, monkeypatch):
    """A no-change re-run is a listing and a compare: the config comes from the validation cache
    (mlops_cli.config.cache), never from building the pydantic config again."""
    import mlops_cli.config

    tree = small_tree(tmp_path / "tree", count=3)
    assert upload(str(tree), "--to", f"s3://{bucket}/data")[0] == 0  # validates the config, caches its values

    def not_again(*_args, **_kwargs):
        raise AssertionError("the config was validated again on a re-run")

    monkeypatch.setattr(mlops_cli.config, "load_config", not_again)
    code, summary, _stderr = upload(str(tree), "--to", f"s3://{bucket}/data")
    assert code == 0 and (summary["uploaded"], summary["skipped"]) == (0, 3)
