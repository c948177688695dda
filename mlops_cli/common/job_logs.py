"""A training job's CloudWatch log lines as both sides read them: every instance's stream followed from where the
last read stopped (the client follows a job, the local tuner its trials), and the metric values a line carries by
the job's MetricDefinitions (the client shows them, the local AWS reports them as SageMaker does)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# torchrun's and torch.distributed's own logging: glog-style "I1201 02:03:41.730000 123 torch/distributed/..." (torch
# prefixes every line of a record, tracebacks included) or the classic "INFO:torch.distributed...". The path is
# relative inside a source tree and absolute from a venv elsewhere (".../site-packages/torch/distributed/...").
_DISTRIBUTED_RUNTIME_LOG = re.compile(
    r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S*torch/distributed/|(?:INFO|WARNING|ERROR):torch\.distributed)"
)


@dataclass
class LogLine:
    host: str  # algo-1, algo-2, ...
    timestamp_ms: int
    message: str

    @property
    def from_distributed_runtime(self) -> bool:
        """The launcher's own logging (rendezvous, worker groups, exit barrier), not the training script's."""
        return bool(_DISTRIBUTED_RUNTIME_LOG.match(self.message))


def stream_host(stream_name: str) -> str:
    """`<job>/algo-2-1700000000` -> `algo-2`."""
    tail = stream_name.rsplit("/", 1)[-1]
    found = re.match(r"(algo-\d+)", tail)
    return found.group(1) if found else tail


class JobLogReader:
    """Every instance's log stream of a job in `group`, read on from where the last read stopped."""

    def __init__(self, logs: Any, group: str, job_name: str):
        self.logs, self.group, self.job_name = logs, group, job_name
        self.tokens: dict[str, str | None] = {}

    def _streams(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": f"{self.job_name}/"}
        while True:
            try:
                page = self.logs.describe_log_streams(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:  # the group comes with the first line
                return names
            names.extend(stream["logStreamName"] for stream in page.get("logStreams", []))
            if not page.get("nextToken"):
                return names
            kwargs["nextToken"] = page["nextToken"]

    def read_new(self) -> list[LogLine]:
        """New lines of all streams, interleaved by time."""
        lines: list[LogLine] = []
        for stream in self._streams():
            token = self.tokens.get(stream)
            while True:
                kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                page = self.logs.get_log_events(**kwargs)
                events = page.get("events", [])
                lines.extend(
                    LogLine(stream_host(stream), event["timestamp"], event["message"].rstrip("\n")) for event in events
                )
                next_token = page.get("nextForwardToken")
                if not events or next_token == token:
                    token = next_token or token
                    break
                token = next_token
            self.tokens[stream] = token
        lines.sort(key=lambda line: (line.timestamp_ms, line.host))
        return lines


def metric_values(line: str, definitions: list[dict[str, str]]) -> dict[str, float]:
    """The metrics a log line carries: each MetricDefinition's Regex, its first group read as a number."""
    values: dict[str, float] = {}
    for definition in definitions:
        found = re.search(definition["Regex"], line)
        if found:
            try:
                values[definition["Name"]] = float(found.group(1))
            except (IndexError, ValueError):
                continue
    return values
