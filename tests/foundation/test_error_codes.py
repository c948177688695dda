"""AWS error codes are read in one place (mlops_cli.aws.error_code), so the client agrees with itself on them."""

from __future__ import annotations

import re
from pathlib import Path

import mlops_cli

PACKAGE = Path(mlops_cli.__file__).parent
# The one reader, and the Lambda function's code: its deployment package is handler.py alone (stdlib + boto3).
ALLOWED = {"aws.py", "lambda_function/handler.py"}
READ = re.compile(r"""\[["']Error["']\]|\.get\(\s*["']Error["']""")


def test_only_aws_py_reads_an_error_code_client_side():
    client_side = [path for path in PACKAGE.rglob("*.py") if "local" not in path.relative_to(PACKAGE).parts[:1]]
    assert len(client_side) > 50
    readers = sorted(
        name
        for path in client_side
        if READ.search(path.read_text()) and (name := path.relative_to(PACKAGE).as_posix()) not in ALLOWED
    )
    assert not readers, readers
