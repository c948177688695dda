"""Where an upload's time goes, on both sides: the client (`mlops data upload`, or `aws s3 sync`) and the local AWS.

Starts its own local AWS (a free port, MLOPS_HOME in a temporary folder), writes a tree (the 2,000-file digits
tree, or --big N files of --mib MiB), and for each tool runs a first upload and a no-change re-run, printing the
wall time, the client's CPU seconds and the server's CPU seconds of each (the server's share is what the local
AWS costs per request: validation, moto, journal). With --profile, the mlops runs are repeated in-process under
cProfile, every thread included, and the functions with the most own time are printed. With --profile-server,
the local AWS itself runs under cProfile (its requests one at a time, so each is profiled whole) while mlops
uploads the tree once, and its profile is printed.

    .venv/bin/python bench/profile_upload.py [--big 20 --mib 20] [--profile] [--profile-server]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_upload import free_port, make_tree  # noqa: E402


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(argv: list[str], env: dict[str, str], pid: int) -> tuple[float, float, float]:
    """(wall, client CPU, server CPU) seconds of one run of `argv`."""
    wall, client, server = time.perf_counter(), children_cpu(), server_cpu(pid)
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - wall, children_cpu() - client, server_cpu(pid) - server


def profiled(argv: list[str]) -> pstats.Stats:
    """`mlops argv` in this process under cProfile, in every thread it starts."""
    from mlops_cli.app import app

    profiles: list[cProfile.Profile] = []

    def start_in_thread(*_args: object) -> None:
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread

    main = cProfile.Profile(time.thread_time)
    threading.setprofile(start_in_thread)
    main.enable()
    try:
        app(argv, prog_name="mlops", standalone_mode=False)
    finally:
        main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profile in profiles:
        stats.add(profile)
    return stats


class _ProfiledApp:
    """The local AWS's WSGI app with every request run under one profiler, one request at a time."""

    def __init__(self, app: object):
        self.app, self.profile, self.lock = app, cProfile.Profile(time.thread_time), threading.Lock()

    def __call__(self, environ: dict, start_response: object) -> list[bytes]:
        with self.lock:
            self.profile.enable()
            try:
                return list(self.app(environ, start_response))  # type: ignore[operator]
            finally:
                self.profile.disable()


def serve_profiled(server_args: list[str], out: str) -> None:
    """Run the local AWS's own main() with its app wrapped in _ProfiledApp; write the profile to `out` at exit."""
    import atexit

    from mlops_cli.local.core import server

    build_app = server.build_app
    apps: list[_ProfiledApp] = []

    def profiled_app(context: object) -> object:
        apps.append(_ProfiledApp(build_app(context)))  # type: ignore[arg-type]
        return apps[-1]

    server.build_app = profiled_app  # type: ignore[assignment]
    atexit.register(lambda: apps[0].profile.dump_stats(out))
    server.main(server_args)


# Where a request's CPU goes in the local AWS, by the function each stage runs in (module path suffix, name).
SERVER_STAGES = {
    "whole request (WSGI app)": ("core/guard.py", "__call__"),
    "front door: SigV4, IAM, body read": ("core/guard.py", "_admit"),
    "strict check (botocore model)": ("core/strict.py", "check"),
    "moto (Flask dispatch, S3 backend)": ("moto_server/werkzeug_app.py", "__call__"),
    "journal: encode and write": ("core/store.py", "append"),
    "journal: fsync (group commit)": ("core/store.py", "sync"),
}


def print_stages(stats: pstats.Stats) -> None:
    """The CPU ms per request of each of SERVER_STAGES (inclusive), and what none of them covers."""
    found: dict[str, float] = {}
    calls = 0
    for (filename, _line, name), (_cc, count, _tt, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for stage, (suffix, function) in SERVER_STAGES.items():
            if filename.endswith(suffix) and name == function:
                found[stage] = found.get(stage, 0.0) + cumulative
                if stage.startswith("whole"):
                    calls += count
    if not calls:
        return
    print(f"\n{'stage, CPU ms per request (' + str(calls) + ' requests, under cProfile)':62} {'ms':>6}")
    for stage in SERVER_STAGES:
        print(f"{stage:62} {1000 * found.get(stage, 0.0) / calls:6.2f}")
    whole = found.get(next(iter(SERVER_STAGES)), 0.0)
    rest = whole - sum(value for stage, value in found.items() if not stage.startswith("whole"))
    print(f"{'the rest (hooks, checksum, parsing, answer)':62} {1000 * rest / calls:6.2f}")


def profile_server(url: str, env: dict[str, str], upload: list[str]) -> None:
    """Restart the local AWS under serve_profiled (same port, state and credentials), upload, print its profile."""
    from urllib.parse import urlsplit

    from mlops_cli.local.core import credentials, manager

    state_dir = manager.status(url).state_dir
    manager.down(url)
    port = str(urlsplit(url).port)
    out = str(Path(tempfile.gettempdir()) / f"profile-upload-server-{port}.prof")
    server_args = ["--port", port, "--state-dir", str(state_dir), "--credentials-file", str(credentials.path(url))]
    log = open(Path(tempfile.gettempdir()) / f"profile-upload-server-{port}.log", "wb")  # its access log
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-profiled", out, *server_args], env=env, stdout=log, stderr=log
    )
    try:
        while not manager.health(url, timeout=0.5):
            time.sleep(0.1)
        subprocess.run(upload, env=env, check=True, stdout=subprocess.DEVNULL)
    finally:
        process.terminate()
        process.wait()
        log.close()
        Path(log.name).unlink()
    print("\n== the local AWS during one mlops upload, CPU time: most own time, then most time inside")
    stats = pstats.Stats(out)
    print_stages(stats)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    Path(out).unlink()


def main() -> None:
    if sys.argv[1:2] == ["--serve-profiled"]:
        serve_profiled(sys.argv[3:], sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=0, help="N large files instead of the digits tree")
    parser.add_argument("--mib", type=int, default=20, help="size of each large file")
    parser.add_argument("--profile", action="store_true", help="also profile the mlops runs in-process")
    parser.add_argument("--profile-server", action="store_true", help="also profile the local AWS during an upload")
    parser.add_argument("--measure", type=int, default=1, help="0: skip the side-by-side measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profile-upload-") as temp:
        home, tree = Path(temp) / "home", Path(temp) / "tree"
        url = f"http://127.0.0.1:{free_port()}"
        os.environ.update(MLOPS_HOME=str(home))
        env = {
            **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
            "MLOPS_AWS__ENDPOINT_URL": url,
        }
        if args.big:
            tree.mkdir()
            for index in range(args.big):
                (tree / f"big-{index:02d}.bin").write_bytes(os.urandom(args.mib * 1024 * 1024))
            files = args.big
        else:
            files = make_tree(tree, 253)
        from mlops_cli.local.core import credentials, manager

        server = manager.up(url)[0]
        env.update(credentials.process_env(url, "us-east-1", credentials.load(url)))
        try:
            mlops = [str(BIN / "mlops"), "-q", "-c", str(REPO / "configs/local.yaml"), "data", "upload", str(tree)]
            aws = [str(BIN / "aws"), "--endpoint-url", url, "s3"]
            subprocess.run(aws + ["mb", "s3://profile-aws"], env=env, check=True, stdout=subprocess.DEVNULL)
            runs = {
                "mlops": mlops + ["--to", "s3://profile-mlops/data"],
                "aws": aws + ["sync", str(tree), "s3://profile-aws/data", "--only-show-errors"],
            }
            heading = f"{'run':22} {'wall s':>7} {'client CPU s':>13} {'server CPU s':>13} {'server share':>13}"
            print(f"{files} files; {heading}")
            for phase in ("first", "re-run") if args.measure else ():
                for tool, argv in runs.items():
                    wall, client, served = measured(argv, env, server.pid)
                    share = served / (client + served) if client + served else 0.0
                    row = f"{tool + ' ' + phase:22} {wall:7.2f} {client:13.2f} {served:13.2f} {share:12.0%}"
                    print(" " * (len(str(files)) + 8) + row)
            if args.profile:
                os.environ.update(env)
                for phase in ("first", "re-run"):
                    print(f"\n== mlops {phase}, in-process, every thread: most own time")
                    stats = profiled(mlops[1:] + ["--to", "s3://profile-mlops-2/data"])
                    stats.sort_stats("tottime").print_stats(20)
            if args.profile_server:
                profile_server(url, env, mlops + ["--to", "s3://profile-mlops-3/data"])
        finally:
            manager.down(url)


if __name__ == "__main__":
    main()
