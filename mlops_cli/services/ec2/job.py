"""One `mlops train-ec2` job: where it reads and writes, all derived from the config and the job name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.services import naming

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

STATUS_FILE = "status.json"
LOG_FILE = "bootstrap.log"
JOB_POLICY_PREFIX = "job-"


@dataclass(frozen=True)
class Ec2Job:
    """Where one EC2 training job reads and writes; everything is derived from the config and the job name."""

    name: str
    region: str
    instance_type: str
    code_uri: str  # the sourcedir tarball
    data_uri: str
    job_uri: str  # <models>/<job>: output/model.tar.gz, status.json, bootstrap.log
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    max_run_s: int = 3600  # the instance powers off at this runtime (train.ec2.max_run_s)

    @property
    def max_run_minutes(self) -> int:
        """The cap as shutdown(8) takes it: whole minutes, rounded up."""
        return -(-self.max_run_s // 60)

    @property
    def model_artifact(self) -> str:
        return f"{self.job_uri}/output/model.tar.gz"

    @property
    def status_uri(self) -> str:
        return f"{self.job_uri}/{STATUS_FILE}"

    @property
    def log_uri(self) -> str:
        return f"{self.job_uri}/{LOG_FILE}"

    @property
    def policy_name(self) -> str:
        return f"{JOB_POLICY_PREFIX}{self.name}"


def hyperparameter_args(hyperparameters: dict[str, Any]) -> list[str]:
    """`--name value` pairs; booleans as true/false (what the entry point parses)."""
    args: list[str] = []
    for name, value in hyperparameters.items():
        args += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return args


def new_job(config: Config, name: str, code_uri: str) -> Ec2Job:
    from mlops_cli.services.training.job import check_job_name, user_hyperparameters

    return Ec2Job(
        name=check_job_name(name),
        region=config.aws.region,
        instance_type=config.train.ec2.instance_type,
        code_uri=code_uri,
        data_uri=naming.data_uri(config),
        job_uri=f"{naming.output_uri(config)}/{name}",
        hyperparameters=user_hyperparameters(config),
        max_run_s=config.train.ec2.max_run_s,
    )
