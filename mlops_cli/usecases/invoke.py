"""`mlops invoke`: one image to the endpoint, its top-k predictions back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.executor import Answers, Executor
    from mlops_cli.plan.planned import Planned
    from mlops_cli.plan.steps import Plan


def planned_invoke(config: Config, source: str, top_k: int) -> Planned:
    """The image file or URL checked (exit 2 before any AWS call) and sent as one InvokeEndpoint; the result is the
    model's top-k predictions, most probable first. An endpoint's refusal becomes a one-line error."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.deploy import invoke as service

    request = service.build_request(source, top_k)
    endpoint = config.endpoint_name

    def run(executor: Executor, plan: Plan) -> Answers:
        from botocore.exceptions import ClientError

        try:
            return executor.execute(plan)
        except ClientError as exc:
            raise service.invoke_error(endpoint, exc) from None

    def finish(answers: Answers) -> dict[str, Any]:
        result = service.predictions(endpoint, request, answers["answer"])
        result["predictions"] = result["top_k"] = result["top_k"][:top_k]
        return result

    return Planned(service.plan_invoke(endpoint, request), finish=finish, run=run)
