"""`mlops data upload`: the folder scanned, the destination read, and the sync plan; `--dry-run` shows that plan's
requests, a real run sends them through s3sync's parallel, resumable transfer (not step by step)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import Interrupted
from mlops_cli.plan.sends import sends_via
from mlops_cli.services import s3sync

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.s3sync import TransferObserver

ShowProgress = Callable[[], AbstractContextManager["TransferObserver"]]


@dataclass(frozen=True)
class UploadRequest:
    """What the flags ask for, the folder and destination resolved (`with_config_defaults`)."""

    src: Path
    to: str
    delete: bool = False
    create_bucket: bool = True
    multipart_threshold: str = "8MiB"
    jobs: int = 16


def default_source(values: Mapping[str, Any]) -> Path:
    """`data.local_dir` of the config's plain values (config_values: no pydantic on a re-run's path)."""
    return Path(values["data"]["local_dir"])


def default_destination(values: Mapping[str, Any]) -> str:
    """s3://<s3.bucket>/<s3.prefix>/<data.s3_prefix>: what services.naming.data_uri makes of the same config."""
    from mlops_cli.common.s3_uris import s3_uri

    return s3_uri(values["s3"]["bucket"], values["s3"]["prefix"], values["data"]["s3_prefix"])


@sends_via(s3sync.plan_sync, s3sync.run_sync)  # run_sync: the plan's own run (send)
@contextmanager
def planned_upload(clients: AwsClients, request: UploadRequest, show_progress: ShowProgress) -> Iterator[Planned]:
    """Check the flags (exit 2 before any AWS call), scan the folder, plan the sync. This machine's sync state
    stays open until the plan has run; `show_progress` is entered only when there is something to send."""
    from mlops_cli.plan import Answers
    from mlops_cli.plan.planned import Planned

    dest = s3sync.parse_s3_uri(request.to)
    threshold = s3sync.parse_multipart_threshold(request.multipart_threshold)
    tree = s3sync.scan_source(request.src)
    s3 = clients.client("s3", in_flight=2 * request.jobs)  # a file and a part pool, each of `jobs` threads
    with s3sync.SyncState(clients.home, clients.aws.endpoint_url or "aws", dest.bucket) as sync_state:
        sync = s3sync.plan_sync(
            s3,
            tree,
            dest,
            sync_state,
            delete=request.delete,
            create_bucket=request.create_bucket,
            multipart_threshold=threshold,
            jobs=request.jobs,
        )

        def send(_executor: Any, _plan: Any) -> Answers:
            # Nothing to send (a re-run with no change): no progress bar.
            with show_progress() if sync.transfers else nullcontext() as observer:
                return Answers({"sync": s3sync.run_sync(s3, sync, sync_state, jobs=request.jobs, observer=observer)})

        yield Planned(
            sync.to_plan(),
            finish=lambda answers: answers["sync"].to_dict(),
            warnings=[
                f"skipped {ascii(name) if not name.isprintable() else repr(name)}: {why}" for name, why in tree.skipped
            ],
            run=send,
        )


def check_finished(result: dict[str, Any]) -> None:
    """Ctrl-C stopped the transfers (what finished is kept and recorded): exit 130, saying how to resume."""
    if result["interrupted"]:
        raise Interrupted(
            f"interrupted: {result['uploaded']} files finished, {result['pending']} not sent",
            hint="re-run the same command to resume; finished files are not sent again",
        )
