"""`mlops data upload`: the progress bar (files, bytes, rate on stderr) and the summary."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output, key_value_table
from mlops_cli.services.s3sync.transfer import TransferObserver

if TYPE_CHECKING:
    from rich.console import Console


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class UploadProgress(TransferObserver):
    """A rich progress bar fed from the upload's worker threads; hidden with -q or when stderr is no TTY."""

    def __init__(self, out: Output):
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self._bar = out.progress(
            columns=(
                TextColumn("upload"),
                BarColumn(),
                TextColumn("{task.fields[files]}"),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
        )
        self._lock = threading.Lock()
        self._task: Any = None
        self._files = self._done = 0

    def __enter__(self) -> UploadProgress:
        self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._bar.stop()

    def started(self, files: int, total_bytes: int) -> None:
        if files:
            self._files = files
            self._task = self._bar.add_task("upload", total=total_bytes, files=f"0/{files} files")

    def sent(self, nbytes: int) -> None:
        self._bar.update(self._task, advance=nbytes)

    def finished(self, transfer: Any) -> None:
        with self._lock:
            self._done += 1
            self._bar.update(self._task, files=f"{self._done}/{self._files} files")


def summary_table(result: dict[str, Any]) -> Callable[[Console, Any], None]:
    seconds = result["seconds"]
    rows: list[tuple[str, Any]] = [
        ("source", result["source"]),
        ("destination", result["destination"]),
        (
            "uploaded",
            f"{result['uploaded']} files, {human_bytes(result['bytes'])}"
            + (f" ({result['multipart']} multipart)" if result["multipart"] else ""),
        ),
        ("skipped (unchanged)", result["skipped"]),
        ("deleted", result["deleted"]),
        ("seconds", f"{seconds:.2f}"),
        ("rate", f"{human_bytes(result['bytes'] / seconds if seconds else 0)}/s"),
    ]
    if result["bucket_created"]:
        rows.append(("bucket created", result["destination"].split("/")[2]))
    if result["remote_only"]:
        rows.append(("remote only", f"{result['remote_only']} objects with no local file (kept; --delete removes)"))
    if result["interrupted"]:
        rows.append(("not sent (interrupted)", f"{result['pending']} files"))
    return key_value_table("data upload" + (" (interrupted)" if result["interrupted"] else ""), rows)
