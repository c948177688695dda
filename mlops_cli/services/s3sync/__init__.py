"""`mlops data upload`: an incremental, verified, parallel sync of a local folder to S3.

location (parse `s3://bucket/prefix`, sizes) -> source (scan the folder, hash) -> planner (one listing, the
state, HeadObject only where needed: a SyncPlan, printable as a Plan for --dry-run) -> transfer (send it).
`state` is this machine's memory between runs (hash cache, what was uploaded, multipart uploads in flight).
"""

from mlops_cli.services.s3sync.location import S3Location, parse_s3_uri
from mlops_cli.services.s3sync.planner import SyncPlan, parse_multipart_threshold, plan_sync
from mlops_cli.services.s3sync.source import scan_source
from mlops_cli.services.s3sync.state import SyncState
from mlops_cli.services.s3sync.transfer import SyncResult, TransferObserver, run_sync

__all__ = [
    "S3Location",
    "SyncPlan",
    "SyncResult",
    "SyncState",
    "TransferObserver",
    "parse_multipart_threshold",
    "parse_s3_uri",
    "plan_sync",
    "run_sync",
    "scan_source",
]
