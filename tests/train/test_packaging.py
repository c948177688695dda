"""The deterministic sourcedir.tar.gz of model/ and its upload-once-by-hash to the local S3."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from mlops_cli.services.training import packaging


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the model package with the clutter a working tree collects."""
    target = tmp_path / "model"
    shutil.copytree(packaging.package_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "__pycache__").mkdir()
    (target / "__pycache__" / "engine.cpython-311.pyc").write_bytes(b"\0compiled")
    (target / "stale.pyc").write_bytes(b"\0")
    (target / ".ipynb_checkpoints").mkdir()
    (target / ".ipynb_checkpoints" / "x.py").write_text("scratch")
    return target


def test_same_sources_give_the_same_bytes(source: Path):
    first = packaging.build_source_tarball(source)
    for path in source.rglob("*"):  # touch everything: times, not contents, change
        path.touch()
    source.chmod(0o700)
    second = packaging.build_source_tarball(source)
    assert first.data == second.data and first.sha256 == second.sha256
    assert first.file_name == f"sourcedir-{first.sha256[:12]}.tar.gz"


def test_archive_is_clean_and_normalised(source: Path):
    package = packaging.build_source_tarball(source)
    assert package.data[:2] == b"\x1f\x8b" and package.data[3] == 0  # gzip, no file name stored
    assert package.data[4:8] == b"\0\0\0\0"  # gzip header mtime field
    with tarfile.open(fileobj=io.BytesIO(package.data), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names, key=lambda name: (name != "model", name))
    assert "model/train_sagemaker.py" in names and "model/engine.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or "/." in name]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(packaging.FIXED_MTIME, 0, 0, "", "")}
    assert {m.mode for m in members if m.isfile()} == {0o644} and {m.mode for m in members if m.isdir()} == {0o755}
    assert package.read("model/metrics.py") == (source / "metrics.py").read_bytes()


def test_a_changed_file_changes_the_name(source: Path):
    before = packaging.build_source_tarball(source)
    (source / "metrics.py").write_text((source / "metrics.py").read_text() + "\n# changed\n")
    assert packaging.build_source_tarball(source).file_name != before.file_name


def upload(s3, package: packaging.SourcePackage, code_prefix_uri: str) -> tuple[str, bool]:
    """The upload step as train and train-ec2 run it: (where the package is, whether it was sent)."""
    from mlops_cli.plan import Answers, Executor

    answer = Executor(lambda _service: s3).run_step(packaging.upload_step(package, code_prefix_uri), Answers())
    return packaging.source_uri(package, code_prefix_uri), answer is not None


def test_unchanged_package_is_not_uploaded_again(boto_client, source: Path):
    s3 = boto_client("s3")
    bucket = "packaging-test"
    s3.create_bucket(Bucket=bucket)
    package = packaging.build_source_tarball(source)
    first, uploaded = upload(s3, package, f"s3://{bucket}/proj/code")
    assert uploaded and first == f"s3://{bucket}/proj/code/{package.file_name}"
    stored = s3.head_object(Bucket=bucket, Key=f"proj/code/{package.file_name}")

    again, uploaded = upload(s3, packaging.build_source_tarball(source), f"s3://{bucket}/proj/code/")
    assert not uploaded and again == first
    assert s3.head_object(Bucket=bucket, Key=f"proj/code/{package.file_name}")["LastModified"] == stored["LastModified"]
    body = s3.get_object(Bucket=bucket, Key=f"proj/code/{package.file_name}")["Body"].read()
    assert body == package.data

    (source / "network.py").write_text("# edited\n")
    changed, uploaded = upload(s3, packaging.build_source_tarball(source), f"s3://{bucket}/proj/code")
    assert uploaded and changed != first
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="proj/code/")["Contents"]]
    assert len(keys) == 2
