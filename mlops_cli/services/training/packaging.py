"""The `model/` package as a deterministic `sourcedir.tar.gz`, stored in S3 under a name made of its hash.

The archive holds `model/...` (so `python model/train_sagemaker.py` or `python -m model.train_ec2` runs from the
folder it is extracted into). Entries are sorted, with a fixed mtime, owner and mode, no `__pycache__`, `*.pyc`
or hidden files, and the gzip header carries mtime 0 and no file name: the same sources always give the same
bytes, so the same sha256, so the same S3 key (`<code prefix>/sourcedir-<sha12>.tar.gz`), and an unchanged
package is never uploaded twice.

API (used by `mlops train`, `mlops tune` and `mlops train-ec2`):
    package = build_source_tarball()                 # SourcePackage(data, sha256, files); .read(name)
    uri = source_uri(package, naming.code_prefix(config))  # where it lives
    plan.steps.append(upload_step(package, naming.code_prefix(config)))  # PutObject unless already there
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.common.s3_uris import split_s3_uri
from mlops_cli.errors import UsageError
from mlops_cli.plan.sends import sends, sent_by
from mlops_cli.plan.steps import Step, Unless

PACKAGE_NAME = "model"
# 1980-01-01T00:00:00Z: a fixed, valid timestamp for every entry (ZIP-era epoch; any constant would do).
FIXED_MTIME = 315532800
EXCLUDED_DIRS = {"__pycache__"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class SourcePackage:
    """The archive bytes, their sha256 (hex) and the archived file paths (relative, `model/...`)."""

    data: bytes
    sha256: str
    files: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"sourcedir-{self.sha256[:12]}.tar.gz"

    def read(self, name: str) -> bytes:
        """The content of one archived file, e.g. `model/train_sagemaker.py`."""
        with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as tar:
            member = tar.extractfile(name)
            if member is None:
                raise KeyError(name)
            return member.read()


def package_dir() -> Path:
    """Where the `model` package lives (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the '{PACKAGE_NAME}' package was not found; run mlops from its source checkout")
    return Path(list(spec.submodule_search_locations)[0])


def _included(relative: Path) -> bool:
    return not any(
        part in EXCLUDED_DIRS or part.startswith(".") for part in relative.parts
    ) and not relative.name.endswith(EXCLUDED_SUFFIXES)


def _entry(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_source_tarball(source: Path | None = None) -> SourcePackage:
    """Archive the package folder `source` (default: the `model` package) as `<source name>/...`."""
    root = Path(source) if source is not None else package_dir()
    if not root.is_dir():
        raise UsageError(f"source folder '{root}' does not exist")
    paths = sorted(
        (
            path
            for path in root.rglob("*")
            if not path.is_symlink() and (path.is_dir() or path.is_file()) and _included(path.relative_to(root))
        ),
        key=lambda path: path.relative_to(root).as_posix(),
    )
    raw = io.BytesIO()
    files: list[str] = []
    # GNU format, no PAX headers: nothing time- or host-dependent enters the archive.
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_entry(root.name, is_dir=True))
        for path in paths:
            name = f"{root.name}/{path.relative_to(root).as_posix()}"
            if path.is_dir():
                tar.addfile(_entry(name, is_dir=True))
            else:
                content = path.read_bytes()
                tar.addfile(_entry(name, is_dir=False, size=len(content)), io.BytesIO(content))
                files.append(name)
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    data = compressed.getvalue()
    return SourcePackage(data, hashlib.sha256(data).hexdigest(), tuple(files))


def source_uri(package: SourcePackage, code_prefix_uri: str) -> str:
    """The S3 URI the package is stored at under `code_prefix_uri` (e.g. `naming.code_prefix(config)`)."""
    return f"{code_prefix_uri.rstrip('/')}/{package.file_name}"


class PackageBody(bytes):
    """The package's bytes, shown in a printed plan as a short summary."""

    def __str__(self) -> str:
        return f"<sourcedir.tar.gz: {len(self)} bytes, sha256 {hashlib.sha256(self).hexdigest()[:12]}...>"


@sends("s3", "HeadObject")
def source_present(s3: Any, package: SourcePackage, uri: str) -> bool:
    """Whether the object at `uri` is this package (recognised by the full sha256 stored in its metadata)."""
    from mlops_cli.aws import absent_on

    bucket, key = split_s3_uri(uri)
    head = absent_on(("404", "NoSuchKey", "NotFound"), lambda: s3.head_object(Bucket=bucket, Key=key))
    return head is not None and head.get("Metadata", {}).get("sha256") == package.sha256


def upload_step(package: SourcePackage, code_prefix_uri: str) -> Step:
    """PutObject of the package under `code_prefix_uri`, skipped when the object with its hash-derived key is
    already there."""
    uri = source_uri(package, code_prefix_uri)
    bucket, key = split_s3_uri(uri)
    return Step(
        "s3",
        "PutObject",
        {
            "Bucket": bucket,
            "Key": key,
            "Body": PackageBody(package.data),
            "ContentType": "application/gzip",
            "Metadata": {"sha256": package.sha256},
        },
        note=f"sourcedir.tar.gz of model/ ({len(package.files)} files, {len(package.data)} bytes)",
        unless=Unless(
            lambda client_for: source_present(client_for("s3"), package, uri),
            "this exact package is there",
            sends=sent_by(source_present),
        ),
        name="upload",
        action="create",
    )
