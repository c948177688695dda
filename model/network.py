"""The classifier: a torchvision ResNet backbone with a replaceable head.

Transfer learning the course-project way (ImageNet backbone frozen, small head trained: 2048 -> 128 -> ReLU -> 133)
or full fine-tuning, chosen by ``freeze_backbone``. Pretrained weights come from the torch hub cache or a download;
offline, a missing file fails fast with a message saying where to put it, or falls back to random init when
``pretrained_fallback`` is set.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

from model.hyperparameters import ARCHS

# Every supported backbone is a torchvision ResNet, so the head is always `model.fc`.
HEAD = "fc"
# Seconds without progress before a weight download is abandoned (connect and each read).
DOWNLOAD_TIMEOUT_S = 30.0


class PretrainedWeightsUnavailable(RuntimeError):
    """The ImageNet weights are neither cached nor downloadable (e.g. no internet)."""


def build_model(
    arch: str,
    num_classes: int,
    pretrained: bool = True,
    freeze_backbone: bool = True,
    hidden_units: int = 128,
    pretrained_fallback: bool = False,
) -> nn.Module:
    """A ResNet with a new ``num_classes`` head; ``hidden_units`` 0 means a single linear layer."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if hidden_units < 0:
        raise ValueError(f"hidden_units must be 0 (linear head) or positive, got {hidden_units}")
    model = models.get_model(arch, weights=None)
    if pretrained:
        state = _pretrained_state_dict(arch, pretrained_fallback)
        if state is not None:
            model.load_state_dict(state)
    in_features = model.fc.in_features
    if hidden_units:
        model.fc = nn.Sequential(
            nn.Linear(in_features, hidden_units), nn.ReLU(inplace=True), nn.Linear(hidden_units, num_classes)
        )
    else:
        model.fc = nn.Linear(in_features, num_classes)
    if freeze_backbone:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith(HEAD + ".")
    return model


def set_train_mode(model: nn.Module) -> None:
    """``model.train()``, except that frozen backbone blocks stay in eval mode.

    A frozen backbone must keep its ImageNet batch-norm statistics; letting them drift to the new data's
    statistics while the weights stay fixed silently degrades the features the head is trained on.
    """
    model.train()
    for name, child in model.named_children():
        parameters = list(child.parameters())
        if name != HEAD and parameters and not any(p.requires_grad for p in parameters):
            child.eval()


def weights_cache_path(arch: str) -> str:
    """Where torch hub keeps (or would download) the ImageNet weights of ``arch``."""
    url = models.get_model_weights(arch).DEFAULT.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _pretrained_state_dict(arch: str, fallback: bool) -> dict | None:
    weights = models.get_model_weights(arch).DEFAULT
    cached = weights_cache_path(arch)
    if os.path.exists(cached):
        return weights.get_state_dict(progress=False)
    previous_timeout = socket.getdefaulttimeout()
    # torch.hub opens the URL without a timeout; a blackholed network would otherwise hang the job.
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return weights.get_state_dict(progress=False)
    except (OSError, ValueError, RuntimeError) as error:  # URLError, timeouts and DNS errors are OSErrors
        reason = str(getattr(error, "reason", error)).splitlines()[0] or type(error).__name__
        message = (
            f"pretrained ImageNet weights for {arch} are not in the torch hub cache ({cached}) and could not be "
            f"downloaded from {weights.url} ({reason})"
        )
        if not fallback:
            raise PretrainedWeightsUnavailable(
                f"{message}; copy the file there (the cache dir follows TORCH_HOME), or set pretrained=false, "
                "or pretrained_fallback=true to train from random init"
            ) from None
        print(
            f"WARNING: {message}; pretrained_fallback=true: training {arch} from random init",
            file=sys.stderr,
            flush=True,
        )
        return None
    finally:
        socket.setdefaulttimeout(previous_timeout)
