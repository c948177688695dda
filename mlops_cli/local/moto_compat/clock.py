"""moto's clock and its seedable Random, made a function of the seed and the time so that the journal's replay
makes the same ids and timestamps.

- `seeded_at`: moto draws every generated id (access keys, role ids, revision ids, ...) from one seedable `Random`
  and reads the time from `utcnow`/`time.time`; with the same seed and time a replayed request makes the same ids
  and timestamps. `make_deterministic` covers what moto draws elsewhere (S3 upload ids from `os.urandom`, a
  backend's own ids when it is created); `prepare` loads a request's service before its seed and clock apply.
- `utcnow`, `random`: moto's clock and its seedable Random, for the records the local services stamp and name.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
import types
from collections.abc import Iterator
from typing import Any


def _random() -> Any:
    from moto.moto_api._internal import mock_random

    return mock_random


class _UrandomFromMoto(types.ModuleType):
    """`os` for moto's S3 models, with `urandom` drawn from moto's seedable Random (multipart upload ids)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def urandom(size: int) -> bytes:
        return _random().randbytes(size)


_clock = threading.local()  # .at: the time moto reads in this thread, while a change is made or replayed


class _ClockedTime(types.ModuleType):
    """`time` for moto's modules: `time()` reads the thread's clock when it is set."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        at = getattr(_clock, "at", None)
        return time.time() if at is None else at


_CLOCKED_TIME = _ClockedTime("time")
_clocked_modules = 0


def _utcnow() -> Any:
    import datetime

    at = getattr(_clock, "at", None)
    now = datetime.datetime.now(datetime.UTC) if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC)
    return now.replace(tzinfo=None)


def _clock_moto_modules() -> None:
    """Point every loaded moto module's `utcnow` and `time` at the thread's clock (moto imports a service's
    modules on its first request, so this runs again whenever modules were added)."""
    global _clocked_modules
    if len(sys.modules) == _clocked_modules:
        return
    from moto.core import utils

    original = utils.__dict__.get("_mlops_original_utcnow") or utils.utcnow
    utils._mlops_original_utcnow = original  # type: ignore[attr-defined]
    for name, module in list(sys.modules.items()):
        if name.startswith("moto") and module is not None:
            if getattr(module, "utcnow", None) is original:
                module.utcnow = _utcnow  # type: ignore[attr-defined]
            if getattr(module, "time", None) is time:
                module.time = _CLOCKED_TIME  # type: ignore[attr-defined]
    _clocked_modules = len(sys.modules)


def make_deterministic() -> None:
    """Make what moto generates a function of the seed and the clock: S3 upload ids from its Random, and a
    backend (a service in a region: EC2's default VPC, IAM's managed policies...) created with a Random seeded
    by its name, wherever its first use happens (a read, which is not journaled, or the replay of a write)."""
    import moto.s3.models as s3_models
    from moto.core.base_backend import AccountSpecificBackend

    s3_models.os = _UrandomFromMoto("os")
    if getattr(AccountSpecificBackend.__getitem__, "_mlops_seeded", False):
        return
    original = AccountSpecificBackend.__getitem__

    def getitem(self: Any, region_name: str) -> Any:
        key = "aws" if region_name == "global" else region_name
        if dict.__contains__(self, key):
            return original(self, region_name)
        random = _random()
        state = random.getstate()
        random.seed(f"{self.service_name}/{self.account_id}/{key}")
        try:
            return original(self, region_name)
        finally:
            random.setstate(state)

    getitem._mlops_seeded = True  # type: ignore[attr-defined]
    AccountSpecificBackend.__getitem__ = getitem  # type: ignore[method-assign]


def prepare(moto_app: Any, environ: dict[str, Any]) -> None:
    """Let moto's server load the service a request is for (its modules, its backend) before the request's
    seed and clock apply, then point the modules just loaded at the clock."""
    body = environ["wsgi.input"].getvalue()
    moto_app.get_application(environ)
    environ["wsgi.input"] = io.BytesIO(body)  # it may have read the body to find the service
    _clock_moto_modules()


@contextlib.contextmanager
def seeded_at(seed: int, at: float) -> Iterator[None]:
    """moto's ids drawn from `seed`, its clock reading `at` (epoch seconds) in this thread, meanwhile."""
    _clock_moto_modules()
    _random().seed(seed)
    _clock.at = at
    try:
        yield
    finally:
        _clock.at = None


def utcnow() -> Any:
    """moto's clock (naive UTC), the one its records are stamped with."""
    from moto.core.utils import utcnow as moto_utcnow

    return moto_utcnow()


def random() -> Any:
    """moto's seedable Random: ids drawn from it are the same when the journal replays a change."""
    return _random()
