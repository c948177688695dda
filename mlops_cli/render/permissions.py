"""`config permissions` as a person reads it: each statement with its actions, resources and condition, one per
line (ARNs are long: whole lines stay searchable and copyable)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def policy_table(out: Console, document: dict[str, Any]) -> None:
    for statement in document["Statement"]:
        out.print(f"{statement['Sid']} ({statement['Effect'].lower()})", style="bold", markup=False)
        for action in _listed(statement["Action"]):
            out.print(f"  action     {action}", markup=False)
        for resource in _listed(statement["Resource"]):
            out.print(f"  resource   {resource}", markup=False)
        if "Condition" in statement:
            out.print(f"  condition  {json.dumps(statement['Condition'])}", markup=False)
    count = len(document["Statement"])
    out.print(
        f"{count} statement{'' if count == 1 else 's'}; -o json prints the policy document to attach", markup=False
    )
