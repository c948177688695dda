"""The `mlops` Typer app: global options, command registration and the one error boundary.

Importing this module must stay cheap (no torch, boto3, botocore, pydantic): `mlops --help` starts fast.
"""

from __future__ import annotations

import os
from typing import Any

# Plain click help: rich-formatted help costs ~150 ms of imports on every `mlops --help`.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from mlops_cli import __version__, plain_params  # noqa: E402
from mlops_cli.commands import (
    audit_iam,
    autoscale,
    concurrency,
    config_cmd,
    data,
    deploy,
    init,
    invoke,
    lambda_cmd,
    loadtest,  # noqa: E402
    local,
    predict_batch,
    status,
    teardown,
    train,
    train_ec2,
    tune,
)
from mlops_cli.errors import Interrupted, MlopsError, OperationError  # noqa: E402
from mlops_cli.render import Output  # noqa: E402
from mlops_cli.state import AppState  # noqa: E402

# Global options users may also write after the subcommand (`mlops status -o json`), with their arity.
GLOBAL_OPTIONS = {
    "--output": 1,
    "-o": 1,
    "--profile": 1,
    "--region": 1,
    "--config": 1,
    "-c": 1,
    "--dry-run": 0,
    "--verbose": 0,
    "-v": 0,
    "--quiet": 0,
    "-q": 0,
}


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the subcommand to the front, so they work in either place."""
    hoisted: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        arity = GLOBAL_OPTIONS.get(name)
        if arity is None:
            rest.append(arg)
        elif arity and "=" not in arg:
            hoisted.extend(args[index : index + 2])
            index += 1
        else:
            hoisted.append(arg)
        index += 1
    return hoisted + rest


def show_argument_metavars_alone(command: Any) -> None:
    """An argument with a metavar is listed by it alone (`IMAGE_PATH|URL`, `COMMAND`): Typer (0.29) appends
    the Python type to it in help (`<str>`, `<list[str]>`), which options with a metavar do not get."""
    for param in command.params:
        if param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    for sub in getattr(command, "commands", {}).values():
        show_argument_metavars_alone(sub)


class ErrorBoundary(TyperGroup):
    """Turns every expected failure into one line on stderr and the documented exit code."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_params.install(self, ctx)
        show_argument_metavars_alone(self)
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MlopsError as exc:
            _fail(ctx, exc)
        except KeyboardInterrupt:
            _fail(ctx, Interrupted("interrupted"))
        except Exception as exc:
            if isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(("click", "typer")):
                raise  # usage errors: the CLI framework prints them with exit code 2
            from mlops_cli.aws import is_aws_error, translate_error

            if is_aws_error(exc):
                _fail(ctx, translate_error(exc))
            if _state(ctx).out.verbosity > 0:
                raise
            _fail(
                ctx,
                OperationError(
                    f"internal error: {type(exc).__name__}: {exc}",
                    hint="re-run with --verbose for the traceback, and please report it",
                ),
            )


def _state(ctx: Any) -> AppState:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, AppState) else AppState()


def _fail(ctx: Any, exc: MlopsError) -> None:
    _state(ctx).out.error(str(exc).replace("\n", " "), exc.hint)
    raise typer.Exit(exc.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlops {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=ErrorBoundary,
    name="mlops",
    help="From a folder of images to a secured, autoscaled PyTorch prediction service on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: list[str] | None = typer.Option(
        None,
        "--config",
        "-c",
        metavar="FILE",
        help="YAML config file; repeat to layer (later wins). Default: $MLOPS_CONFIG, else the nearest mlops.yaml.",
    ),
    profile: str | None = typer.Option(
        None, "--profile", metavar="NAME", help="AWS profile (else AWS_PROFILE / config)."
    ),
    region: str | None = typer.Option(
        None, "--region", metavar="REGION", help="AWS region (else AWS_REGION / config)."
    ),
    output: str = typer.Option(
        "table",
        "--output",
        "-o",
        envvar="MLOPS_OUTPUT",
        metavar="table|json",
        help="table or json (one JSON document on stdout).",
        case_sensitive=False,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show the plan, one line per AWS request (-o json: the exact requests); send nothing."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail; tracebacks for internal errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results, warnings and errors (no progress)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    from mlops_cli.config.project import default_config_files

    output = output.lower()
    if output not in ("table", "json"):
        # Blame what the user actually set: the flag or the variable.
        from_env = getattr(ctx.get_parameter_source("output"), "name", "") == "ENVIRONMENT"
        raise typer.BadParameter("must be 'table' or 'json'", param_hint="env MLOPS_OUTPUT" if from_env else "--output")
    ctx.obj = AppState(
        config_files=list(config) if config else default_config_files(),
        profile=profile,
        region=region,
        dry_run=dry_run,
        out=Output(output, verbosity=1 if verbose else (-1 if quiet else 0)),
    )


app.command("init", help="Make this folder a project: an mlops.yaml that every command here reads (--local).")(
    init.init
)
app.add_typer(config_cmd.app, name="config", help="Show or validate the effective configuration.")
app.add_typer(local.app, name="local", help="The embedded local AWS (moto server + real local execution).")
app.add_typer(data.app, name="data", help="Sample data and incremental, verified S3 upload.")
app.command("train", help="Train on SageMaker (N > 1 instances = real torch DDP).")(train.train)
app.command("tune", help="Hyperparameter tuning: trials of the training job, the best values, a leaderboard.")(
    tune.tune
)
app.command("train-ec2", help="Train the same model package on an EC2 instance (or this machine).")(train_ec2.train_ec2)
app.command("deploy", help="Create or blue/green-update the real-time endpoint, optionally with scaling.")(
    deploy.deploy
)
app.command("predict-batch", help="Score a folder or S3 prefix of images with a batch transform job.")(
    predict_batch.predict_batch
)
app.command("autoscale", help="Target-tracking autoscaling on invocations per instance.")(autoscale.autoscale)
app.command("invoke", help="Send an image (file or URL) to the endpoint and print the predictions.")(invoke.invoke)
app.command("loadtest", help="Open-loop load on the endpoint or Lambda: latency, errors, instances, plot.")(
    loadtest.loadtest
)
app.add_typer(lambda_cmd.app, name="lambda", help="The Lambda function in front of the endpoint.")
app.add_typer(concurrency.app, name="concurrency", help="Lambda reserved and provisioned concurrency.")
app.command("audit-iam", help="Audit IAM: admin access, wildcards, privilege escalation, stale access.")(
    audit_iam.audit_iam
)
app.command("status", help="The project's training jobs, endpoints (with cost per hour) and functions.")(status.status)
app.command("teardown", help="Delete what costs money: endpoints with their configs, models, scaling.")(
    teardown.teardown
)


def main() -> None:
    app(prog_name="mlops")


if __name__ == "__main__":
    main()
