"""The deployable model directory: weights + metadata in ``model.pt`` and the serving code in ``code/``.

Layout (what SageMaker tars into ``model.tar.gz`` from ``/opt/ml/model``)::

    model.pt               {"format", "arch", "num_classes", "hidden_units", "image_size", "class_names",
                            "mean", "std", "state_dict"}: plain types and tensors only, so
                            torch.load(..., weights_only=True) reads it
    code/inference.py      re-exports the SageMaker serving handlers from model.inference
    code/model/            a copy of this package (SAGEMAKER_PROGRAM=inference.py,
                           SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code)

``class_names`` are the training folder names as found (e.g. ``"001.zero"``); their list index is the class index.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from model.data import IMAGENET_MEAN, IMAGENET_STD
from model.network import build_model

FORMAT = "mlops-model/1"
WEIGHTS_FILE = "model.pt"
CODE_DIR = "code"
INFERENCE_SHIM = (
    '"""SageMaker serving entry point: the handlers live in the model package."""\n\n'
    "from model.inference import model_fn, input_fn, predict_fn, output_fn  # noqa: F401\n"
)
PACKAGE_DIR = Path(__file__).resolve().parent


def save_model_dir(
    model_dir: str | os.PathLike,
    model: nn.Module,
    *,
    arch: str,
    class_names: list[str],
    image_size: int,
    hidden_units: int,
) -> Path:
    """Write ``model.pt`` and ``code/`` into ``model_dir``; each appears whole or not at all."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format": FORMAT,
        "arch": arch,
        "num_classes": len(class_names),
        "hidden_units": int(hidden_units),
        "image_size": int(image_size),
        "class_names": list(class_names),
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "state_dict": {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()},
    }
    atomic_torch_save(payload, model_dir / WEIGHTS_FILE)
    _write_code_dir(model_dir / CODE_DIR)
    return model_dir


def load_model_dir(model_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The model (eval mode, on ``map_location``) and its metadata (everything in model.pt but the weights)."""
    path = Path(model_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in model dir {model_dir}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an {FORMAT} file")
    state_dict = payload.pop("state_dict")
    model = build_model(
        payload["arch"],
        payload["num_classes"],
        pretrained=False,
        freeze_backbone=False,
        hidden_units=payload["hidden_units"],
    )
    model.load_state_dict(state_dict)
    model.to(map_location)
    model.eval()
    return model, payload


def atomic_torch_save(obj: object, path: Path) -> None:
    """torch.save to a temporary sibling, then rename: a crash never leaves a truncated file at ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_code_dir(code_dir: Path) -> None:
    staging = code_dir.with_name(f".{code_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    (staging / "inference.py").write_text(INFERENCE_SHIM)
    shutil.copytree(PACKAGE_DIR, staging / "model", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if code_dir.exists():
        shutil.rmtree(code_dir)
    staging.rename(code_dir)
