"""Use cases: one per command, what it checks, reads and returns: for a command that changes something, the plan
to run with how its result is made (mlops_cli.plan.planned.Planned; built here only). Commands parse flags, call
one, run its plan and render; services below hold the AWS knowledge."""
