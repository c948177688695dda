"""`mlops data upload` vs `aws s3 sync` on the same local server and the same tree of >= 2,000 files.

Starts its own local AWS (a free port, MLOPS_HOME in a temporary folder) and stops it at the end. The tree is
the digits sample (1,797 PNGs) plus small text files. Each round uploads to empty prefixes in fresh buckets (one
per tool; `mlops` creates its bucket inside its timed run, `aws` gets one made beforehand), then re-runs both
with no change `--reruns` times. The tools alternate which goes first, so machine load hits both alike; medians
and the ratio mlops/aws are printed (below 1.00 = mlops faster). Targets: first run <= 0.65x `aws s3 sync`,
no-change re-run <= 0.5x (the level of s5cmd, a Go client). `--big 20 --mib 20` uploads 20 random files of
20 MiB instead (multipart for both tools). Both send `--jobs` requests at once in parts of 8 MiB above 8 MiB:
`mlops --jobs N` (its default threshold and part size) beside an AWS config file giving `aws` the same
max_concurrent_requests, multipart_threshold and multipart_chunksize.

Both run as installed tools do: with bytecode caching on (PYTHONDONTWRITEBYTECODE is dropped for them, else
`mlops` would recompile its own modules on every run while botocore and awscli load precompiled ones), after
one untimed warm-up run each.

    .venv/bin/python bench/bench_upload.py [--rounds 7] [--reruns 3] [--extra-files 253 | --big 20 --mib 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {"first": 0.65, "re-run": 0.5}  # mlops / aws s3 sync, medians
HIDDEN = ["--exclude", ".*", "--exclude", "*/.*"]  # mlops never uploads hidden files: neither does aws here


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tree(root: Path, extra_files: int) -> int:
    from mlops_cli.services.sample_data import write_digits_imagefolder

    write_digits_imagefolder(root)
    for index in range(extra_files):
        path = root / "extra" / f"{index % 10}" / f"note_{index:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"extra file {index}\n" * (1 + index % 40))
    # What both tools upload: hidden files (the sample's .mlops-sample marker) are never uploaded by mlops.
    return sum(1 for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))


def make_big_tree(root: Path, count: int, mib: int) -> int:
    root.mkdir(parents=True)
    for index in range(count):
        (root / f"big-{index:03d}.bin").write_bytes(os.urandom(mib * 1024 * 1024))
    return count


def make_warm_up_tree(root: Path) -> Path:
    (root / "a").mkdir(parents=True)
    (root / "a" / "warm-up.txt").write_text("warm-up\n")
    return root


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


def count_objects(url: str, bucket: str) -> int:
    import boto3

    from mlops_cli.local.core import credentials

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **credentials.load(url).boto_kwargs())
    return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)  # 3 rounds on a 2-core VM flipped the verdict by noise
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs per tool and round")
    parser.add_argument("--extra-files", type=int, default=253, help="added to the 1,797 digits (default: 2,050 files)")
    parser.add_argument("--big", type=int, default=0, help="N random files of --mib MiB instead of the digits tree")
    parser.add_argument("--mib", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=16, help="requests in flight, for both tools (mlops' default)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as temp:
        home, tree = Path(temp) / "home", Path(temp) / "tree"
        url = f"http://127.0.0.1:{free_port()}"
        env = {
            **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
            "MLOPS_HOME": str(home),
            "MLOPS_AWS__ENDPOINT_URL": url,
        }
        os.environ.update(MLOPS_HOME=str(home))
        from mlops_cli.local.core import manager

        files = make_big_tree(tree, args.big, args.mib) if args.big else make_tree(tree, args.extra_files)
        manager.up(url)
        from mlops_cli.local.core import credentials

        env.update(credentials.process_env(url, "us-east-1", credentials.load(url)))  # for `aws s3 sync`
        aws_config = Path(temp) / "aws-config"  # the same concurrency and part size as mlops'
        aws_config.write_text(
            f"[default]\ns3 =\n    max_concurrent_requests = {args.jobs}\n"
            "    multipart_threshold = 8MB\n    multipart_chunksize = 8MB\n"
        )
        env["AWS_CONFIG_FILE"] = str(aws_config)
        try:
            print(
                f"tree: {files} files, {sum(p.stat().st_size for p in tree.rglob('*') if p.is_file()):,} bytes; "
                f"server {url}; load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs"
            )
            mlops = [
                str(BIN / "mlops"),
                "-q",
                "-o",
                "json",
                "-c",
                str(REPO / "configs/local.yaml"),
                "data",
                "upload",
                str(tree),
                "--jobs",
                str(args.jobs),
                "--to",
            ]
            aws = [str(BIN / "aws"), "--endpoint-url", url, "s3"]
            times: dict[str, list[float]] = {"mlops first": [], "aws first": [], "mlops re-run": [], "aws re-run": []}
            warm_up = make_warm_up_tree(Path(temp) / "warm-up")
            timed(aws + ["mb", "s3://bench-warm-up"], env)
            timed(mlops[:-4] + [str(warm_up), "--to", "s3://bench-warm-up/mlops"], env)
            timed(aws + ["sync", str(warm_up), "s3://bench-warm-up/aws", "--only-show-errors"], env)
            for round_index in range(args.rounds):
                mlops_bucket, aws_bucket = f"bench-mlops-{round_index}", f"bench-aws-{round_index}"
                timed(aws + ["mb", f"s3://{aws_bucket}"], env)
                runs = {
                    "mlops": mlops + [f"s3://{mlops_bucket}/data"],
                    "aws": aws + ["sync", str(tree), f"s3://{aws_bucket}/data", "--only-show-errors", *HIDDEN],
                }
                order = ["mlops", "aws"] if round_index % 2 == 0 else ["aws", "mlops"]
                for phase in ["first"] + ["re-run"] * args.reruns:
                    order.reverse()
                    for tool in order:
                        elapsed, stdout = timed(runs[tool], env)
                        times[f"{tool} {phase}"].append(elapsed)
                        if tool == "mlops":
                            summary = json.loads(stdout)
                            expected = (files, 0) if phase == "first" else (0, files)
                            assert (summary["uploaded"], summary["skipped"]) == expected, summary
                assert count_objects(url, mlops_bucket) == count_objects(url, aws_bucket) == files
                print(
                    f"round {round_index + 1}: "
                    + ", ".join(
                        f"{name} "
                        + "/".join(f"{value:.2f}" for value in values[-(1 if "first" in name else args.reruns) :])
                        + "s"
                        for name, values in times.items()
                    )
                )
        finally:
            manager.down(url)

    print(f"\n{'median of N runs':28} {'N':>3} {'mlops s':>8} {'aws s':>8} {'mlops/aws':>10}")
    verdicts = []
    for phase, target in TARGETS.items():
        ours, theirs = statistics.median(times[f"mlops {phase}"]), statistics.median(times[f"aws {phase}"])
        print(
            f"{phase + ' (' + str(files) + ' files)':28} {len(times[f'mlops {phase}']):3d} {ours:8.2f} "
            f"{theirs:8.2f} {ours / theirs:10.2f}"
        )
        verdicts.append(
            f"target: {phase} <= {target}x aws s3 sync -> {ours / theirs:.2f}x "
            + ("OK" if ours / theirs <= target else "OVER TARGET")
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
