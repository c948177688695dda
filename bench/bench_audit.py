"""`mlops audit-iam --input` beside cloudsplaining on IAM account dumps, and a scaling run.

For each dump it prints (the public dumps in ../shared/fixtures/iam/ when they are beside the repo, always the
project's own sample account from tests/audit/sample_account.py):
- end-to-end wall time of both CLIs (`cloudsplaining scan` also writes its HTML report; best of --repeat runs),
- in-process analysis time of both on the already-loaded JSON (cloudsplaining's `AuthorizationDetails(...).results`
  vs our parse + checks), and the speed ratios;
- per category (privilege escalation, resource exposure, data exfiltration, credentials exposure, infrastructure
  modification) how many policies each tool flags and the overlap; every policy cloudsplaining flags for
  privilege escalation that we do not is listed with the reason (or UNEXPLAINED).
Then it audits synthetic accounts of --sizes roles (default 1k/5k/10k), best of --repeat each, and prints CPU time
per role; target: flat, the largest <= 1.1x the smallest per role.

Run: .venv/bin/python bench/bench_audit.py [--repeat 3] [--sizes 1000,5000,10000] [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCALING_TARGET = 1.1  # CPU per role of the largest synthetic account over the smallest's
FIXTURES = REPO / ".." / "shared" / "fixtures" / "iam"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

CLOUDSPLAINING_CATEGORIES = {
    "PrivilegeEscalation": "privilege-escalation",
    "ResourceExposure": "resource-exposure",
    "DataExfiltration": "data-exfiltration",
    "CredentialsExposure": "credentials-exposure",
    "InfrastructureModification": "infrastructure-modification",
}
# Our rules that put a policy in each of cloudsplaining's categories. Admin statements (IAM010) and
# NotAction (IAM014) grant everything, so they count everywhere; wildcards (IAM011) count for modification.
OUR_CATEGORIES = {
    "privilege-escalation": {"IAM020", "IAM021", "IAM022", "IAM010", "IAM001", "IAM003", "IAM014"},
    "resource-exposure": {"IAM012", "IAM010", "IAM011", "IAM014"},
    "data-exfiltration": {"IAM030", "IAM010", "IAM014"},
    "credentials-exposure": {"IAM031", "IAM010", "IAM014"},
    "infrastructure-modification": {"IAM013", "IAM012", "IAM011", "IAM010", "IAM014"},
}


def _cpu() -> float:
    """CPU seconds of this process and its finished children: robust to a busy shared machine, unlike wall time."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall seconds, best CPU seconds, last result) over `repeat` runs."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), _cpu()
        result = run()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, _cpu() - start_cpu)
    return wall, cpu, result


# --- side by side on the fixtures ------------------------------------------------------------------------------


def cloudsplaining_cli(path: Path, out_dir: Path) -> dict[str, Any]:
    subprocess.run(
        [
            str(BIN / "cloudsplaining"),
            "scan",
            "--input-file",
            str(path),
            "--output",
            str(out_dir),
            "--skip-open-report",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads((out_dir / f"iam-results-{path.stem}.json").read_text())


def mlops_cli(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(BIN / "mlops"),
            "-c",
            str(REPO / "configs" / "local.yaml"),
            "audit-iam",
            "--input",
            str(path),
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def cloudsplaining_flagged(results: dict[str, Any]) -> dict[str, set[str]]:
    flagged: dict[str, set[str]] = defaultdict(set)
    for kind in ("aws_managed_policies", "customer_managed_policies", "inline_policies"):
        for policy in results.get(kind, {}).values():
            for key, category in CLOUDSPLAINING_CATEGORIES.items():
                if (policy.get(key) or {}).get("findings"):
                    flagged[category].add(policy["PolicyName"])
    return flagged


def our_flagged(report: dict[str, Any]) -> dict[str, set[str]]:
    flagged: dict[str, set[str]] = defaultdict(set)
    for finding in report["findings"]:
        for category, rules in OUR_CATEGORIES.items():
            if finding["rule_id"] in rules:
                flagged[category] |= {p["name"] for p in finding["policies"] if p["kind"] != "trust"}
    return flagged


def why_not_flagged(path: Path, policy_name: str) -> str:
    """The deliberate reason a policy cloudsplaining flags for escalation is not ours to flag."""
    from mlops_cli.services.audit import load_account_file
    from mlops_cli.services.audit.effective import Effective

    account = load_account_file(path)
    policies = [p for p in account.audited_policies() if p.name == policy_name]
    for policy in policies:
        holders = policy.holders
        if holders and all(Effective(h.effective_policies()).denies_all(["*"]) for h in holders):
            return (
                f"every holder ({', '.join(h.name for h in holders)}) also has an unconditional Deny of all "
                "actions: nobody gets these permissions"
            )
        if not holders and policy.attachment_count == 0:
            return "not attached to anyone"
    return "UNEXPLAINED"


def compare_fixture(path: Path, repeat: int) -> None:
    from cloudsplaining.scan.authorization_details import AuthorizationDetails
    from cloudsplaining.shared.exclusions import DEFAULT_EXCLUSIONS

    from mlops_cli.services.audit import Settings, parse_account, run_audit

    data = json.loads(path.read_text())
    with tempfile.TemporaryDirectory() as out_dir:
        cs_cli = best_of(max(1, repeat - 1), lambda: cloudsplaining_cli(path, Path(out_dir)))
    our_cli = best_of(repeat, lambda: mlops_cli(path))
    cs_api = best_of(max(1, repeat - 1), lambda: AuthorizationDetails(data, exclusions=DEFAULT_EXCLUSIONS).results)
    our_api = best_of(
        repeat,
        lambda: run_audit(parse_account(data, {"kind": "file", "path": path.name}), Settings(now=datetime.now(UTC))),
    )
    print(
        f"\n== {path.name}: {len(data.get('UserDetailList', []))} users, {len(data.get('GroupDetailList', []))} "
        f"groups, {len(data.get('RoleDetailList', []))} roles, {len(data.get('Policies', []))} policies"
    )
    print(f"   {'seconds (best of runs)':28} {'cloudsplaining':>15} {'mlops audit-iam':>16} {'speed-up':>9}")
    for label, theirs_time, ours_time in [
        ("CLI end to end, wall", cs_cli[0], our_cli[0]),
        ("CLI end to end, CPU", cs_cli[1], our_cli[1]),
        ("analysis in-process, wall", cs_api[0], our_api[0]),
        ("analysis in-process, CPU", cs_api[1], our_api[1]),
    ]:
        print(f"   {label:28} {theirs_time:15.4f} {ours_time:16.4f} {theirs_time / max(ours_time, 1e-6):8.1f}x")
    cs_results, our_report = cs_cli[2], our_cli[2]
    theirs, ours = cloudsplaining_flagged(cs_results), our_flagged(our_report)
    print(
        f"   {'flagged policies':30} {'cloudsplaining':>14} {'mlops':>6} {'both':>5} {'only cs':>8} {'only mlops':>11}"
    )
    for category in CLOUDSPLAINING_CATEGORIES.values():
        cs, us = theirs[category], ours[category]
        print(f"   {category:30} {len(cs):14} {len(us):6} {len(cs & us):5} {len(cs - us):8} {len(us - cs):11}")
    for category in CLOUDSPLAINING_CATEGORIES.values():
        missed = sorted(theirs[category] - ours[category])
        if category == "privilege-escalation":
            for name in missed:
                print(f"   privesc flagged only by cloudsplaining: {name}: {why_not_flagged(path, name)}")
            extra = sorted(ours[category] - theirs[category])
            if extra:
                print(f"   privesc flagged only by mlops: {', '.join(extra)}")
        elif missed:
            print(f"   {category} only by cloudsplaining: {', '.join(missed)}")


# --- scaling ---------------------------------------------------------------------------------------------------

ACCOUNT = "111122223333"
SERVICES = ["lambda.amazonaws.com", "ec2.amazonaws.com", "sagemaker.amazonaws.com", "ecs-tasks.amazonaws.com"]


def _inline_policy(rng: random.Random, i: int) -> dict[str, Any]:
    """One of a few realistic shapes, with per-role resource names so documents differ."""
    bucket = f"arn:aws:s3:::app-{i}-data"
    shapes = [
        [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket},
        ],
        [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/{i}:*",
            }
        ],
        [
            {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": f"arn:aws:iam::{ACCOUNT}:role/app-{i}-*"},
            {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:InvokeFunction"], "Resource": "*"},
        ],
        [{"Effect": "Allow", "Action": ["dynamodb:*"], "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t{i}"}],
        [{"Effect": "Allow", "Action": ["s3:*", "sqs:SendMessage"], "Resource": "*"}],
        [{"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}],
        [{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": f"arn:aws:iam::*:policy/app-{i}-*"}],
        [
            {
                "Effect": "Allow",
                "Action": ["ssm:GetParameter*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/app": str(i)}},
            }
        ],
    ]
    return {"Version": "2012-10-17", "Statement": rng.choice(shapes)}


def synthetic_account(roles: int, managed: list[dict[str, Any]], seed: int = 7) -> dict[str, Any]:
    """An account of `roles` roles (plus roles/10 users, roles/100 groups) over the given managed policies."""
    rng = random.Random(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def attached() -> list[dict[str, str]]:
        return [
            {"PolicyName": p.get("PolicyName", p["Arn"].rsplit("/", 1)[-1]), "PolicyArn": p["Arn"]}
            for p in rng.sample(managed, rng.randint(0, 2))
        ]

    groups = [
        {
            "Path": "/",
            "GroupName": f"group-{g}",
            "GroupId": f"G{g}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:group/group-{g}",
            "CreateDate": "2020-01-01T00:00:00Z",
            "GroupPolicyList": [],
            "AttachedManagedPolicies": attached(),
        }
        for g in range(max(1, roles // 100))
    ]
    role_list = []
    for i in range(roles):
        trust = rng.choice(
            [
                {"Service": rng.choice(SERVICES)},
                {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                {"AWS": "arn:aws:iam::999988887777:root"},
            ]
        )
        used = now - timedelta(days=rng.randint(0, 400))
        role_list.append(
            {
                "Path": "/",
                "RoleName": f"app-{i}-role",
                "RoleId": f"R{i}",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/app-{i}-role",
                "CreateDate": (used - timedelta(days=30)).isoformat(),
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": trust, "Action": "sts:AssumeRole"}],
                },
                "InstanceProfileList": [],
                "RolePolicyList": [{"PolicyName": f"inline-{i}", "PolicyDocument": _inline_policy(rng, i)}],
                "AttachedManagedPolicies": attached(),
                "Tags": [],
                "RoleLastUsed": {"LastUsedDate": used.isoformat(), "Region": "us-east-1"} if rng.random() < 0.8 else {},
            }
        )
    users = [
        {
            "Path": "/",
            "UserName": f"user-{u}",
            "UserId": f"U{u}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/user-{u}",
            "CreateDate": "2021-01-01T00:00:00Z",
            "GroupList": [rng.choice(groups)["GroupName"]],
            "AttachedManagedPolicies": attached(),
            "Tags": [],
            "UserPolicyList": [{"PolicyName": f"user-inline-{u}", "PolicyDocument": _inline_policy(rng, 10**6 + u)}],
            "AccessKeys": [
                {
                    "AccessKeyId": f"AKIA{u:016d}",
                    "Status": "Active",
                    "CreateDate": (now - timedelta(days=rng.randint(1, 500))).isoformat(),
                }
            ],
            "LoginProfile": None,
            "MFADevices": [],
        }
        for u in range(max(1, roles // 10))
    ]
    return {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": role_list, "Policies": managed}


def scaling(sizes: list[int], managed: list[dict[str, Any]], repeat: int) -> None:
    from mlops_cli.services.audit import Settings, load_account_file, run_audit

    print("\n== scaling: synthetic accounts (file read + parse + every check, in-process)")
    print(
        f"   {'roles':>7} {'users':>6} {'findings':>9} {'wall s':>7} {'CPU s':>7} {'CPU us/role':>12} "
        f"{'vs smallest':>12}"
    )
    base = None
    for size in sizes:
        data = synthetic_account(size, managed)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(data, handle)
        wall, cpu, report = best_of(
            repeat, lambda: run_audit(load_account_file(handle.name), Settings(now=datetime(2026, 1, 1, tzinfo=UTC)))
        )
        Path(handle.name).unlink()
        per_role = cpu / size * 1e6
        base = base or per_role
        print(
            f"   {size:7} {len(data['UserDetailList']):6} {len(report.findings):9} {wall:7.2f} {cpu:7.2f} "
            f"{per_role:12.0f} {per_role / base:11.2f}x"
        )
    print("   (CPU time per role stays flat when the run is linear in the account size)")
    ratio = per_role / base
    verdict = "OK" if ratio <= SCALING_TARGET else "OVER TARGET"
    print(f"target: per role at {sizes[-1]} roles <= {SCALING_TARGET}x at {sizes[0]} -> {ratio:.2f}x {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--skip-fixtures", action="store_true")
    args = parser.parse_args()
    floor = best_of(
        args.repeat,
        lambda: subprocess.run(
            [str(BIN / "mlops"), "-c", str(REPO / "configs" / "local.yaml"), "config", "validate"],
            check=True,
            stdout=subprocess.DEVNULL,
        ),
    )
    print(
        f"mlops start-up floor (`mlops config validate`): wall {floor[0]:.3f} s, CPU {floor[1]:.3f} s "
        "(interpreter, typer, the config: paid by every mlops command)"
    )
    with tempfile.TemporaryDirectory() as work:
        dumps = account_dumps(args.fixtures, Path(work))
        if not args.skip_fixtures:
            for path in dumps:
                compare_fixture(path, args.repeat)
        managed = json.loads(dumps[0].read_text())["Policies"]
    scaling([int(size) for size in args.sizes.split(",") if size], managed, args.repeat)


def account_dumps(fixtures: Path, work: Path) -> list[Path]:
    """The public dumps when they are there (an optional input), then the project's own sample account."""
    sys.path.insert(0, str(REPO))
    from tests.audit.sample_account import build

    public = sorted(fixtures.glob("*.json")) if fixtures.is_dir() else []
    return public + [build().account.write(work / "sample-account.json")]


if __name__ == "__main__":
    main()
