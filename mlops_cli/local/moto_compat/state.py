"""Saved state: every instantiated moto backend (`BackendDict`) pickled and restored in place.

Object bodies in S3 go to a content-addressed store instead of the pickle; the module-level `BackendDict`s that
moto's code refers to are pickled by reference, so restoring fills the live ones. `loads` reads a snapshot or a
journal record, finding classes of ours that moved (`MOVED`) where they live now.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import pickle
import weakref
from collections import defaultdict
from typing import Any, Protocol


class Blobs(Protocol):
    """What the pickler needs from a content-addressed body store."""

    def put(self, body: bytes) -> str: ...

    def get(self, digest: str) -> bytes: ...


def _registry() -> list[Any]:
    """moto's class-level list of every BackendDict (declared on a generic class, so read through its vars)."""
    from moto.core.base_backend import BackendDict

    return vars(BackendDict)["_instances"]


def _backend_dicts() -> list[Any]:
    return list(_registry())


def _key(backend_dict: Any) -> str:
    cls = backend_dict.backend
    return f"{cls.__module__}:{cls.__qualname__}:{backend_dict.service_name}"


def _live(key: str) -> Any:
    """The module-level BackendDict that moto's code uses for this key."""
    from moto.core.base_backend import BackendDict

    module_name, qualname, _ = key.split(":", 2)
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and _key(value) == key:
            return value
    for candidate in _backend_dicts():
        if _key(candidate) == key:
            return candidate
    raise KeyError(f"no moto backend {key}")


_loading_blobs: list[Blobs] = []  # the blob store of the load in progress (a load runs before serving, alone)


def _weak_values(items: dict[Any, Any]) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _default_dict(factory: type, items: dict[Any, Any]) -> defaultdict:
    return defaultdict(factory, items)


def _fake_key(cls: type, state: dict[str, Any], digest: str) -> Any:
    key: Any = object.__new__(cls)  # as unpickling does: no __init__, the state comes next
    key.__setstate__({**state, "value": _loading_blobs[-1].get(digest)})
    _blob_digests[key] = digest
    return key


# The blob-store digest of each large S3 object's body, by object (kept as long as moto keeps the object).
_blob_digests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _pickler(file: Any, blobs: Blobs, digests: set[str], inline_max: int) -> pickle.Pickler:
    """A pickler for moto's backends. Its reducers are looked up by exact type in C (a reducer_override or
    persistent_id would be a Python call for each of the ~500,000 objects IAM's managed policies alone make)."""
    from moto.core.base_backend import BackendDict
    from moto.s3.models import FakeKey

    def fake_key(key: Any) -> Any:
        if key.contentsize <= inline_max:
            return key.__reduce_ex__(5)
        # A large body goes to the blob store, the pickle keeps its digest. A key's body never changes once made
        # (moto 5.2 sets `value` only in __init__ and __setstate__), so it is read and hashed once, not at every
        # snapshot: re-hashing every model tarball held the store's lock, and so every request, for seconds.
        digest = _blob_digests.get(key)
        if digest is None:
            try:
                value = key.value
            except ValueError:  # its buffer is closed: the key was deleted (moto's own __getstate__ does this)
                value = b""
            digest = blobs.put(value.encode() if isinstance(value, str) else value)
            _blob_digests[key] = digest
        state = {name: item for name, item in key.__dict__.items() if name not in ("_value_buffer", "lock")}
        digests.add(digest)
        return _fake_key, (FakeKey, state, digest)

    def default_dict(value: defaultdict) -> Any:
        factory = value.default_factory
        if getattr(factory, "__name__", "") == "<lambda>":  # moto's `defaultdict(lambda: {})` -> defaultdict(dict)
            made = factory()  # type: ignore[misc]
            if type(made) in (dict, list, set, int) and not made:
                return _default_dict, (type(made), dict(value))
        return value.__reduce_ex__(5)

    pickler = pickle.Pickler(file, protocol=5)
    pickler.dispatch_table = {
        **copyreg.dispatch_table,  # this table replaces the global one: keep what it knows (re.Pattern, ...)
        BackendDict: lambda value: (_live, (_key(value),)),  # moto's code refers to the live ones
        FakeKey: fake_key,
        weakref.WeakValueDictionary: lambda value: (_weak_values, (dict(value.items()),)),  # moto Lambda's index
        defaultdict: default_dict,
    }
    return pickler


def dump_state(extra: Any, blobs: Blobs, inline_max: int) -> tuple[bytes, set[str]]:
    """(pickle of every moto backend plus `extra`, the blob digests it refers to); S3 bodies over `inline_max`
    bytes go to `blobs`."""
    digests: set[str] = set()
    buffer = io.BytesIO()
    state = {_key(backend_dict): dict(backend_dict) for backend_dict in _backend_dicts() if len(backend_dict)}
    _pickler(buffer, blobs, digests, inline_max).dump({"moto": state, "extra": extra})
    return buffer.getvalue(), digests


def load_state(data: bytes, blobs: Blobs) -> Any:
    """Fill moto's live backends from `dump_state`'s pickle; returns its `extra`."""
    _loading_blobs.append(blobs)
    try:
        loaded = loads(data)
    finally:
        _loading_blobs.pop()
    for key, accounts in loaded["moto"].items():
        live = _live(key)
        dict.clear(live)
        dict.update(live, accounts)
        if live not in _registry():
            _registry().append(live)
    return loaded["extra"]


# Classes of ours that state written by an earlier version names where they used to live (the local AWS's
# services were split into modules; older snapshots and journals still load).
MOVED = {
    ("mlops_cli.local.lambda_.functions", "Provisioned"): ("mlops_cli.local.lambda_.provisioned", "Provisioned"),
}


class _StateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = MOVED.get((module, name), (module, name))
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """Unpickle saved state (a snapshot, a journal record), finding moved classes where they live now."""
    return _StateUnpickler(io.BytesIO(data)).load()
