"""Use cases: one function per command that checks what it needs, reads what exists, and returns the plan to run
with how its result is made (mlops_cli.plan.planned.Planned). Commands parse flags, call one, and render."""
