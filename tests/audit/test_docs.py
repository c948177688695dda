"""docs/audit.md's rule table is the one generated from the rule definitions (scripts/update_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mlops_cli.render.audit import rules_markdown

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "update_docs.py"


def test_rule_table_in_the_docs_is_current():
    spec = importlib.util.spec_from_file_location("update_docs", SCRIPT)
    update_docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update_docs)
    block = update_docs.generated_block(update_docs.AUDIT_DOC.read_text())
    assert block == rules_markdown(), "docs/audit.md is stale: run scripts/update_docs.py"
    assert block.count("\n| IAM") == len(block.splitlines()) - 2  # one row per rule
