"""The hostile-input corpus: every case in cases/*.yaml, run by one parametrised test.

Each case file names its kind and lists cases as data:

- ``cli``: files to plant in a scratch folder (the working directory), an argv for `mlops` (in-process, with
  configs/local.yaml first), env vars; it asserts the exit code, exactly one error line naming what was wrong
  (every ``says`` fragment in it), no traceback or internal error, and that nothing in the folder was deleted
  or changed (except paths listed in ``creates``). Unless a case ``needs: local_aws``, the AWS endpoint is a
  closed port, so a case that sent any request would fail with exit 1 instead of the expected refusal.
- ``inference``: a request body and content type through the real handlers of model/inference.py with the
  session's trained model; asserts the status of the refusal and its one-line message.
- ``lambda``: an event through the real Lambda handler (mlops_cli/lambda_function/handler.py, loaded as Lambda
  does); asserts the response's status and its one-line JSON error.

Values may be generated instead of written out (see `make_value`): ``{repeat: "[", times: 100000}``,
``{b64: <value>}``, ``{png: [w, h], mode: "I;16", cut: 3000}``, ``{concat: [<value>, ...]}``, ``{json: <data>}``,
``{hex: "ff00"}``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import LOCAL_CONFIG, REPO

CASES = Path(__file__).parent / "cases"
CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens, so any request fails fast
# A hang guard, not a timing measurement: every refusal here takes well under a second on an idle machine (an
# unbounded billion-laughs config took minutes); cases that do real work (exit 0) get longer.
MAX_SECONDS = 20
MAX_SECONDS_WORKING = 180


def load_cases() -> list[Any]:
    params = []
    for file in sorted(CASES.glob("*.yaml")):
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        ids = [case["id"] for case in document["cases"]]
        assert len(ids) == len(set(ids)), f"{file.name}: duplicate case ids"
        for case in document["cases"]:
            # Endpoint bodies and Lambda events need the session's trained model or local AWS: make test only.
            slow = document["kind"] in ("inference", "lambda") or case.get("needs") == "local_aws"
            marks = [pytest.mark.integration] if slow else []
            if document["kind"] == "inference":  # the session's training (run_inference)
                marks.append(pytest.mark.training)
            params.append(pytest.param(document["kind"], case, id=f"{file.stem}:{case['id']}", marks=marks))
    return params


ALL_CASES = load_cases()


def test_the_corpus_is_large_enough():
    assert len(ALL_CASES) >= 150, len(ALL_CASES)


@pytest.mark.parametrize("kind, case", ALL_CASES)
def test_hostile_case(
    kind: str, case: dict, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    {"cli": run_cli, "inference": run_inference, "lambda": run_lambda}[kind](case, request, tmp_path, monkeypatch)


# --- values ------------------------------------------------------------------------------------------------


def make_value(spec: Any, **places: str) -> Any:
    """A case's value: plain data (strings get {dir}/{repo} filled in), or one generator mapping."""
    if isinstance(spec, str):
        for name, value in places.items():
            spec = spec.replace("{" + name + "}", value)
        return spec
    if isinstance(spec, list):
        return [make_value(item, **places) for item in spec]
    if not isinstance(spec, dict):
        return spec
    if "repeat" in spec:
        return make_value(spec["repeat"], **places) * spec["times"]
    if "concat" in spec:
        parts = [make_value(part, **places) for part in spec["concat"]]
        return b"".join(_bytes(part) for part in parts) if any(isinstance(p, bytes) for p in parts) else "".join(parts)
    if "b64" in spec:
        return base64.b64encode(_bytes(make_value(spec["b64"], **places))).decode()
    if "json" in spec:
        return json.dumps(make_value(spec["json"], **places))
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "png" in spec:
        return _image(spec["png"], "PNG", spec.get("cut"), spec.get("mode", "RGB"))
    if "jpeg" in spec:
        return _image(spec["jpeg"], "JPEG", spec.get("cut"), spec.get("mode", "RGB"))
    return {key: make_value(value, **places) for key, value in spec.items()}


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def _image(size: list[int], image_format: str, cut: int | None, mode: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    noise = Image.effect_noise(tuple(size), 64)
    (noise.point(lambda value: value * 256).convert("I;16") if mode == "I;16" else noise.convert(mode)).save(
        buffer, image_format
    )
    data = buffer.getvalue()
    return data[:cut] if cut else data


# --- cli cases ---------------------------------------------------------------------------------------------


def plant(root: Path, files: dict[str, Any]) -> None:
    """Write a case's files; a value may also be {fifo: true}, {symlink: target} or {dir: true}."""
    for name, spec in files.items():
        path = root / os.fsdecode(os.fsencode(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, dict) and spec.get("fifo"):
            os.mkfifo(path)
        elif isinstance(spec, dict) and "symlink" in spec:
            path.symlink_to(spec["symlink"])
        elif isinstance(spec, dict) and spec.get("dir"):
            path.mkdir()
        elif isinstance(spec, dict) and "raw_name" in spec:  # a name with bytes that are not UTF-8
            (path.parent / os.fsdecode(bytes.fromhex(spec["raw_name"]))).write_bytes(b"x")
        else:
            path.write_bytes(_bytes(make_value(spec)))


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root (links not followed, FIFOs never opened): type, size, content hash, link target."""
    seen: dict[str, tuple] = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder, name)
            info = path.lstat()
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                seen[relative] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                seen[relative] = ("file", info.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                seen[relative] = (stat.S_IFMT(info.st_mode),)
    return seen


def error_lines(stderr: str) -> list[str]:
    """The error lines: ours ("error: …") and click's usage errors ("Error: …", or in a box when typer found
    rich already imported, as it is in this process)."""
    lines = stderr.splitlines()
    found = [line for line in lines if line.lower().startswith("error")]
    for start, line in enumerate(lines):
        if line.startswith("╭─ Error"):
            body = [text.strip("│ ") for text in lines[start + 1 :] if not text.startswith("╰")][:1]
            found.append("Error: " + " ".join(body))
    return found


def run_cli(case: dict, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from mlops_cli.app import app

    request.getfixturevalue("mlops_home")  # never the user's ~/.mlops
    work = tmp_path / "work"
    work.mkdir()
    plant(work, case.get("files", {}))
    monkeypatch.chdir(work)
    places = {"dir": str(work), "repo": str(REPO)}
    env = {name: make_value(value, **places) for name, value in case.get("env", {}).items()}  # None: unset
    if case.get("needs") == "local_aws":
        request.getfixturevalue("local_aws")
    else:
        env.setdefault("MLOPS_AWS__ENDPOINT_URL", CLOSED_PORT)
    argv = ["-c", str(LOCAL_CONFIG)] if case.get("base_config", True) else []
    argv += [make_value(arg, **places) for arg in case["argv"]]
    before = snapshot(work)

    started = time.monotonic()
    result = CliRunner().invoke(app, argv, env=env, input=case.get("input"), catch_exceptions=True)
    elapsed = time.monotonic() - started

    shown = (
        f"argv={[arg[:80] for arg in argv]}\nexit={result.exit_code}\n"
        f"stdout={result.stdout[-1500:]}\nstderr={result.stderr[-1500:]}"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{shown}\nraised {result.exception!r}"
    assert result.exit_code == case["exit"], shown
    assert "Traceback" not in result.output and "internal error" not in result.output, shown
    errors = error_lines(result.stderr)
    if case["exit"] == 0:
        assert not errors, shown
    else:
        assert len(errors) == 1, shown
        for fragment in case.get("says", []):
            assert make_value(fragment, **places) in errors[0], f"{fragment!r} not in the error line\n{shown}"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    for fragment in case.get("warns", []):
        assert any(fragment in line for line in warnings), f"{fragment!r} not warned\n{shown}"
    assert elapsed < (MAX_SECONDS if case["exit"] else MAX_SECONDS_WORKING), f"took {elapsed:.1f} s\n{shown}"
    after = snapshot(work)
    created = tuple(case.get("creates", []))
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    unexpected = sorted(path for path in changed if not (created and path.startswith(created)))
    assert not unexpected, f"changed or deleted: {unexpected}\n{shown}"


# --- endpoint bodies and Lambda events ---------------------------------------------------------------------

_models: dict[str, Any] = {}


def run_inference(case: dict, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from model.inference import InferenceInputError, input_fn, model_fn, output_fn, predict_fn

    model_dir = str(request.getfixturevalue("trained_model").model_dir)
    if model_dir not in _models:
        _models[model_dir] = model_fn(model_dir)
    body = _bytes(make_value(case["body"]))  # as the model server hands it over
    started = time.monotonic()
    try:
        output_fn(predict_fn(input_fn(body, case.get("content_type")), _models[model_dir]), "application/json")
    except InferenceInputError as exc:
        status, message = exc.status, str(exc)
    else:
        status, message = 200, ""
    assert time.monotonic() - started < MAX_SECONDS
    assert status == case["status"], message
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in case.get("says", []):
        assert fragment in message, message


def run_lambda(case: dict, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.lambda_.lambda_helpers import CONTEXT, CONTEXT_VALUES, MISSING_ENDPOINT, load_handler

    handler = load_handler(monkeypatch, request.getfixturevalue("local_aws"), MISSING_ENDPOINT)
    event = make_value(case["event"])
    started = time.monotonic()
    response = handler.lambda_handler(event, CONTEXT)
    assert time.monotonic() - started < MAX_SECONDS
    assert response["statusCode"] == case["status"], response
    error = json.loads(response["body"]).get("error", "")
    assert isinstance(error, str) and "\n" not in error and "Traceback" not in error, response
    assert not any(value in response["body"] for value in CONTEXT_VALUES), response
    for fragment in case.get("says", []):
        assert fragment in error, response
