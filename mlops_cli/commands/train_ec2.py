"""`mlops train-ec2`: placeholder until its issue lands (exits 2 saying so)."""

from __future__ import annotations

from mlops_cli.errors import NotBuiltYet


def train_ec2() -> None:
    raise NotBuiltYet("train-ec2")
