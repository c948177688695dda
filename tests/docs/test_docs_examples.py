"""Docs as tests: every `mlops` command in the code blocks of README.md and docs/*.md runs as written, page by page,
in a project folder made by `mlops init --local` with a local AWS of its own, and must exit as the page says and
print what the page quotes.

What a page's blocks may say, in an HTML comment on the line before the block (the reader does not see it):

- `<!-- docs-test: aws -->`: the block needs real AWS. Its `mlops` commands run with `--dry-run`, offline (no
  config file, no credentials: the plan for an account where nothing exists yet); its other commands do not run.
- `<!-- docs-test: skip REASON -->`: illustrative only (the reason says why it cannot run here cheaply).
- `<!-- docs-test: file NAME -->`: the block is a file's content; it is written to NAME in the project folder.

In a block, lines starting with `$ ` are commands and the lines after one are its quoted output: each must appear
in what it printed (`...` stands for anything; table borders and runs of spaces do not count). Without `$ `,
every line that is not a comment is a command (a trailing `\\` continues it). A command exits 0 unless its line
ends with `# exit N`, and prints no traceback unless the page quotes one. `eval` and `export` lines stay in
effect for the rest of the page, as in a shell. Blocks without an `mlops` command (`make demo`, a layout) and
languages other than shell are not run.

Pages run in the order of PAGES (each builds on the ones before, as a reader going through the manual would):
data, training and tuning make the model that deploy serves and operations load-tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import REPO, free_port

# The order a reader follows; every other page with commands runs after these (a test checks there is none).
PAGES = [
    "docs/configuration.md",
    "docs/local-aws.md",
    "docs/data.md",
    "docs/training.md",
    "docs/tuning.md",
    "docs/deploy.md",
    "docs/operations.md",
    "docs/audit.md",
    "docs/ci.md",
    "README.md",
]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}
COMMAND_TIMEOUT_S = 900
TRACEBACK = "Traceback (most recent call last)"
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(aws|skip|file)\b\s*(.*?)\s*-->\s*$")
_EXIT = re.compile(r"\s#\s*exit\s+(\d+)\s*$")
_MLOPS = re.compile(r"(^|[\s;&|(=\"'])mlops\s")
_BORDERS = re.compile(r"[│┃┌┐└┘─━┬┴┼├┤╭╮╰╯═║╔╗╚╝╠╣╦╩╬]")


@dataclass
class Command:
    line: str  # as on the page (continuations joined)
    exit_code: int = 0
    output: list[str] = field(default_factory=list)  # the lines the page quotes after it


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    language: str
    text: list[str]
    marker: str = ""  # "", "aws", "skip", "file"
    argument: str = ""  # the skip reason or the file name

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    def commands(self) -> list[Command]:
        prompt = any(line.startswith("$ ") for line in self.text)
        commands: list[Command] = []
        pending = ""
        for raw in self.text:
            line = raw.rstrip()
            if prompt and not line.startswith("$ ") and not pending:
                if commands and line.strip():
                    commands[-1].output.append(line)
                continue
            line = line[2:] if line.startswith("$ ") else line
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            found = _EXIT.search(line)
            commands.append(Command(line.strip(), int(found.group(1)) if found else 0))
        return commands

    def runs(self) -> bool:
        return self.language in SHELL_LANGUAGES and any(_MLOPS.search(c.line) for c in self.commands())


def blocks(page: str) -> list[Block]:
    """The fenced code blocks of a page, each with the docs-test marker on the line before it (if any)."""
    found: list[Block] = []
    lines = (REPO / page).read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.group(1), opening.group(2).lower()
        end = index + 1
        while end < len(lines) and not _FENCE.match(lines[end]):
            end += 1
        text = [line[len(indent) :] if line.startswith(indent) else line for line in lines[index + 1 : end]]
        block = Block(page, index + 1, language, text)
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.match(before)
        if marker:
            block.marker, block.argument = marker.group(1), marker.group(2)
        found.append(block)
        index = end + 1
    return found


def pages_with_commands() -> list[str]:
    every = ["README.md", *sorted(f"docs/{path.name}" for path in (REPO / "docs").glob("*.md"))]
    return [page for page in every if any(block.runs() for block in blocks(page))]


def _normal(text: str) -> str:
    return " ".join(_BORDERS.sub(" ", text).split())


def quoted_lines_missing(quoted: list[str], printed: str) -> list[str]:
    """The quoted lines that appear in no printed line (`...`: anything; borders and spacing ignored)."""
    lines = [_normal(line) for line in printed.splitlines()]
    missing = []
    for expected in quoted:
        pattern = re.compile(".*?".join(re.escape(part.strip()) for part in _normal(expected).split("...")))
        if not any(pattern.search(line) for line in lines):
            missing.append(expected)
    return missing


def _dry_run(line: str) -> str:
    """An `mlops` command line with `--dry-run` (a global option: right after `mlops`)."""
    return line if "--dry-run" in line else _MLOPS.sub(lambda m: f"{m.group(1)}mlops --dry-run ", line, count=1)


@dataclass
class Project:
    folder: Path
    env: dict[str, str]
    ran: list[tuple[str, float]] = field(default_factory=list)  # (where, seconds) of every command run

    def shell(self, script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", "set -o pipefail\n" + script],
            cwd=self.folder,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )


def _user_env(home_folder: Path) -> dict[str, str]:
    """A user's shell: this checkout's `mlops` and `aws` on PATH, no MLOPS_* or AWS settings of the suite's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MLOPS_", "AWS_")) and name not in ("PYTHONPATH", "COLUMNS")
    }
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(REPO),  # the `mlops` script then runs this checkout's code
        "HOME": str(home_folder),  # nothing of the developer's ~/.aws or ~/.mlops
        "AWS_EC2_METADATA_DISABLED": "true",
        "COLUMNS": "200",  # tables on one line each, as quoted
        "NO_COLOR": "1",
        # The server's IAM propagation delay (a few seconds per new role) only slows the run: the CLI's retries
        # for it are tested in tests/strict.
        "MLOPS_LOCAL_IAM_PROPAGATION_S": "0",
    }


@pytest.fixture(scope="module")
def docs_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project folder as a reader has one: the clone's configs/default.yaml, `mlops init --local` (here on a free
    port, so nothing of the user's is touched) and its local AWS started."""
    root = tmp_path_factory.mktemp("docs")
    folder = root / "project"
    (folder / "configs").mkdir(parents=True)
    shutil.copy(REPO / "configs" / "default.yaml", folder / "configs" / "default.yaml")
    (root / "home").mkdir()
    project = Project(folder, _user_env(root / "home"))
    for command in (f"mlops init --local --port {free_port()}", "mlops local up"):
        done = project.shell(command)
        assert done.returncode == 0, f"{command}: {done.stdout}"
    try:
        yield project
    finally:
        project.shell("mlops local down")
        total = sum(seconds for _, seconds in project.ran)
        print(f"\ndocs examples: {len(project.ran)} commands in {total:.0f} s", file=sys.stderr)


def test_every_page_with_commands_is_in_the_reading_order():
    assert sorted(pages_with_commands()) == sorted(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run_as_written(docs_project: Project, page: str):
    project = docs_project
    kept: list[str] = []  # eval/export lines: in effect for the rest of the page
    failures: list[str] = []
    for block in blocks(page):
        if block.marker == "file":
            (project.folder / block.argument).write_text("\n".join(block.text) + "\n", encoding="utf-8")
            continue
        if block.marker == "skip" or not block.runs():
            continue
        for command in block.commands():
            line, env = command.line, None
            if block.marker == "aws":
                if not _MLOPS.search(line):
                    continue
                line, env = _dry_run(line), {"MLOPS_CONFIG": ""}  # real AWS's defaults, no credentials: offline
            started = time.monotonic()
            where = f"{block.where}: `{command.line}`"
            try:
                done = project.shell("\n".join([*kept, line]), env)
            except subprocess.TimeoutExpired as exc:
                failures.append(f"{where} still ran after {COMMAND_TIMEOUT_S} s:\n{exc.output or ''}")
                continue
            finally:
                project.ran.append((block.where, time.monotonic() - started))
            if done.returncode != command.exit_code:
                failures.append(f"{where} exited {done.returncode}, the page says {command.exit_code}:\n{done.stdout}")
            elif missing := quoted_lines_missing(command.output, done.stdout):
                failures.append(f"{where} did not print {missing}:\n{done.stdout}")
            elif TRACEBACK in done.stdout and not any(TRACEBACK in line for line in command.output):
                failures.append(f"{where} printed a traceback the page does not show:\n{done.stdout}")
            if line.startswith(("eval ", "export ")):
                kept.append(line)
    assert not failures, "\n\n".join(failures)
