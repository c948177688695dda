"""Managed spot interruptions, on demand: when the local AWS takes a spot training job's instances away.

SageMaker runs a job with `EnableManagedSpotTraining` on spare EC2 capacity that EC2 may reclaim. What SageMaker
does then, and what the local training runner (training_runner.py here) does the same way:

- The job stays `InProgress` with SecondaryStatus `Interrupted` ("The job stopped because the managed spot training
  instances were interrupted", DescribeTrainingJob in the SageMaker API Reference) until capacity is back, then
  starts again on new instances: `Starting`, `Downloading`, `Training`, all listed in SecondaryStatusTransitions.
- Checkpoints: SageMaker "saves checkpoints to Amazon S3 and syncs your training job with the checkpoint S3 bucket"
  while the job runs, and on a restart "the checkpoints from this S3 bucket are restored to checkpoint_local_path
  in each instance" (Developer Guide, "Enable checkpointing" and "Resume training from a checkpoint"). A script
  that resumes from that folder goes on from its last checkpoint (model/engine.py does).
- `MaxWaitTimeInSeconds` is "the amount of time spent waiting for Spot capacity plus the amount of time the job can
  run"; past it SageMaker ends the job: `Stopped` with SecondaryStatus `MaxWaitTimeExceeded`.
- Billing: `BillableTimeInSeconds` counts the time instances ran, not the time waiting for capacity, so it is below
  `TrainingTimeInSeconds`; "the savings from using managed spot training" are
  `(1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100` (DescribeTrainingJob).

Spot capacity never runs out here, so nothing is interrupted unless `MLOPS_LOCAL_SPOT_INTERRUPTIONS` says when
(read by the local AWS at start). It is a comma-separated list; its n-th entry interrupts the n-th run of every
managed spot job (runs past the list are not interrupted):

    checkpoint        as soon as a checkpoint of this run has reached the CheckpointConfig S3 URI
    <N>s              after N seconds of training in this run (e.g. 30s)

each optionally followed by `:<S>`, the seconds until spot capacity returns (default 2). Examples: `checkpoint`
(interrupt once, after the first checkpoint), `checkpoint,checkpoint:10` (twice; capacity back after 10 s the
second time), `45s:600` (a job whose MaxWaitTimeInSeconds is below 645 s then stops as MaxWaitTimeExceeded).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

INTERRUPTIONS_ENV = "MLOPS_LOCAL_SPOT_INTERRUPTIONS"
DEFAULT_CAPACITY_WAIT_S = 2.0
NOTICE_S = 2.0  # EC2 gives two minutes' notice before it reclaims a spot instance; local jobs are small
_ENTRY = re.compile(r"^(?:(?P<checkpoint>checkpoint)|(?P<after>\d+(?:\.\d+)?)s)(?::(?P<wait>\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Interruption:
    """When one run of a spot job is interrupted, and how long spot capacity then takes to return."""

    after_checkpoint: bool
    after_s: float | None
    capacity_wait_s: float

    def due(self, trained_s: float, checkpoint_uploaded: bool) -> bool:
        if self.after_checkpoint:
            return checkpoint_uploaded
        return self.after_s is not None and trained_s >= self.after_s


def parse(text: str) -> list[Interruption]:
    """The interruptions a spec lists, in order; ValueError naming the entry that is not one."""
    plan = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        found = _ENTRY.match(entry)
        wait = float(found.group("wait")) if found and found.group("wait") else DEFAULT_CAPACITY_WAIT_S
        after = float(found.group("after")) if found and found.group("after") else None
        if found is None or not math.isfinite(wait) or (after is not None and not math.isfinite(after)):
            raise ValueError(
                f"{INTERRUPTIONS_ENV}: '{entry}' is not an interruption; expected 'checkpoint' or '<seconds>s', "
                "optionally followed by ':<seconds until capacity returns>' (e.g. 'checkpoint' or '30s:10')"
            )
        plan.append(Interruption(bool(found.group("checkpoint")), after, wait))
    return plan


def from_env() -> list[Interruption]:
    """What MLOPS_LOCAL_SPOT_INTERRUPTIONS asks for; none when unset (spot jobs run to the end)."""
    return parse(os.environ.get(INTERRUPTIONS_ENV, ""))
