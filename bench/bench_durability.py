"""What durable state costs: `mlops data upload` of the digits sample into a journaling local AWS vs one with
the journal off (MLOPS_LOCAL_JOURNAL=off, the state kept in memory only, as before), side by side.

Starts two local AWS servers (free ports, MLOPS_HOME in a temporary folder) and uploads the digits sample
(1,797 PNGs from mlops_cli.services.sample_data.write_digits_imagefolder) into a fresh bucket on each, in
alternating order, `--rounds` times; prints the medians and the ratio durable/baseline (1.00 = no cost). Then
the start-up: `mlops local up` after `down` (loads the snapshot) and after a SIGKILL (replays the journal),
against the baseline's start with nothing to load.

    .venv/bin/python bench/bench_durability.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[-4:])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, done.stdout


class Server:
    def __init__(self, name: str, root: Path, journal: bool):
        self.name = name
        self.url = f"http://127.0.0.1:{free_port()}"
        self.home = root / name
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "MLOPS_HOME": str(self.home),
            "MLOPS_AWS__ENDPOINT_URL": self.url,
            "MLOPS_LOCAL_JOURNAL": "on" if journal else "off",
        }
        self.cli = [str(BIN / "mlops"), "-q", "-o", "json", "-c", str(REPO / "configs/local.yaml")]

    def local(self, command: str) -> float:
        return run(self.cli + ["local", command], self.env)[0]

    def upload(self, tree: Path, bucket: str) -> float:
        elapsed, stdout = run(self.cli + ["data", "upload", str(tree), "--to", f"s3://{bucket}/data"], self.env)
        assert json.loads(stdout)["uploaded"] > 0
        return elapsed

    def kill(self) -> None:
        pid = json.loads((self.home / "local" / self.url.rsplit(":", 1)[1] / "server.pid").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from mlops_cli.services.sample_data import write_digits_imagefolder

    with tempfile.TemporaryDirectory(prefix="bench-durability-") as temp:
        root = Path(temp)
        tree = root / "digits"
        write_digits_imagefolder(tree)
        files = sum(1 for path in tree.rglob("*") if path.is_file())
        servers = [Server("durable", root, journal=True), Server("baseline", root, journal=False)]
        times: dict[str, list[float]] = {server.name: [] for server in servers}
        for server in servers:
            server.local("up")
        try:
            print(
                f"{files} files, {sum(p.stat().st_size for p in tree.rglob('*') if p.is_file()):,} bytes; "
                f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs"
            )
            for server in servers:  # warm-up: bytecode, the S3 backend, the first bucket
                server.upload(tree, "bench-warm-up")
            for index in range(args.rounds):
                order = servers if index % 2 == 0 else servers[::-1]
                for server in order:
                    times[server.name].append(server.upload(tree, f"bench-{index}"))
                print(f"round {index + 1}: " + ", ".join(f"{name} {values[-1]:.2f}s" for name, values in times.items()))
            durable, baseline = servers
            starts = {
                "baseline up (nothing kept)": [],
                "durable up after down (snapshot)": [],
                "durable up after SIGKILL (journal replay)": [],
            }
            for _ in range(3):
                baseline.local("down")
                starts["baseline up (nothing kept)"].append(baseline.local("up"))
                durable.local("down")
                starts["durable up after down (snapshot)"].append(durable.local("up"))
                durable.upload(tree, f"bench-replay-{len(starts['durable up after down (snapshot)'])}")
                durable.kill()
                starts["durable up after SIGKILL (journal replay)"].append(durable.local("up"))
        finally:
            for server in servers:
                server.local("down")

    ours, theirs = statistics.median(times["durable"]), statistics.median(times["baseline"])
    print(f"\n{'upload of the digits sample':40} {'N':>3} {'median s':>9} {'x baseline':>11}")
    print(f"{'journal off (baseline)':40} {len(times['baseline']):3d} {theirs:9.2f} {1:11.2f}")
    print(f"{'durable (journal + fsync)':40} {len(times['durable']):3d} {ours:9.2f} {ours / theirs:11.2f}")
    print(f"\n{'mlops local up':40} {'N':>3} {'median s':>9}")
    for name, values in starts.items():
        print(f"{name:40} {len(values):3d} {statistics.median(values):9.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
