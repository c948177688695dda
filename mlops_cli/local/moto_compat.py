"""The local AWS's reach into moto's internals (moto 5.2, pinned in pyproject.toml), kept in one place: no other
module imports moto.

- `server_app`/`server_request_handler`: moto's own WSGI app and request handler, configured for the embedded AWS.
- `backend`/`backends`: a service's in-process state (moto's `BackendDict`s); `lambda_backend` the Docker-less one.
- `service_model`/`route`/`parse_params`: botocore's service model as moto loads it, and a request matched to
  its operation by moto's router and parsed by its protocol parsers.
- `utcnow`, `random`, `new_ami`, `instance_shutdown_reason`, `MISSING_BUCKET`: moto's clock, its seedable Random
  and the few model classes the local services create.

- `dump_state`/`load_state`: every instantiated moto backend (`BackendDict`) pickled and restored in place.
  Object bodies in S3 go to a content-addressed store instead of the pickle; the module-level `BackendDict`s
  that moto's code refers to are pickled by reference, so restoring fills the live ones.
- `seeded_at`: moto draws every generated id (access keys, role ids, revision ids, ...) from one seedable
  `Random` and reads the time from `utcnow`/`time.time`; with the same seed and time a replayed request makes
  the same ids and timestamps. `make_deterministic` covers what moto draws elsewhere (S3 upload ids from
  `os.urandom`, a backend's own ids when it is created).
- `locate`: a moto object (or collection) from a path such as ("sagemaker", account, region, "endpoints", name).
"""

from __future__ import annotations

import contextlib
import copyreg
import importlib
import io
import json
import os
import pickle
import sys
import threading
import time
import types
import weakref
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Protocol

# Service name as the local AWS calls it -> (module, BackendDict attribute)
BACKENDS = {
    "s3": ("moto.s3.models", "s3_backends"),
    "cloudwatch": ("moto.cloudwatch.models", "cloudwatch_backends"),
    "sagemaker": ("moto.sagemaker.models", "sagemaker_backends"),
    "application-autoscaling": ("moto.applicationautoscaling.models", "applicationautoscaling_backends"),
    "ec2": ("moto.ec2.models", "ec2_backends"),
    "iam": ("moto.iam.models", "iam_backends"),
    "sts": ("moto.sts.models", "sts_backends"),
}


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


def backends(service: str) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend of the service that exists."""
    module_name, attribute = BACKENDS[service]
    yield from list(getattr(importlib.import_module(module_name), attribute).iter_backends())


def has_account(service: str, account: str) -> bool:
    """Whether the service has state for the account yet (looking it up would create it)."""
    module_name, attribute = BACKENDS[service]
    return account in getattr(importlib.import_module(module_name), attribute)


def backend(service: str, account: str, region: str) -> Any:
    module_name, attribute = BACKENDS[service]
    return getattr(importlib.import_module(module_name), attribute)[account][region]


def locate(path: tuple[Any, ...]) -> tuple[Any, Any]:
    """(container, key) for a path (service, account, region, attribute, key...): the last key in its container."""
    service, account, region, attribute, *keys = path
    container: Any = getattr(backend(service, account, region), attribute)
    for key in keys[:-1]:
        container = container[key]
    return container, keys[-1]


def set_attributes(path: tuple[Any, ...], attributes: dict[str, Any]) -> None:
    container, key = locate(path)
    target = container[key]
    for name, value in attributes.items():
        setattr(target, name, value)


def delete(path: tuple[Any, ...]) -> None:
    container, key = locate(path)
    container.pop(key, None)


def lambda_backend(account: str, region: str) -> Any:
    """moto's Lambda backend for the account and region (the Docker-less one the server runs with)."""
    from moto.awslambda.utils import get_backend

    return get_backend(account, region)


def utcnow() -> Any:
    """moto's clock (naive UTC), the one its records are stamped with."""
    from moto.core.utils import utcnow as moto_utcnow

    return moto_utcnow()


def random() -> Any:
    """moto's seedable Random: ids drawn from it are the same when the journal replays a change."""
    return _random()


def configure() -> None:
    """moto settings for the embedded AWS: AWS managed policies loaded, Lambda without Docker, no CORS."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"  # web pages must not reach the local AWS
    from moto.core.config import default_user_config

    default_user_config["iam"]["load_aws_managed_policies"] = True
    default_user_config["lambda"]["use_docker"] = False


def server_app() -> Any:
    """moto's server as a WSGI app (every service, dispatched by host and path), configured by `configure`."""
    configure()
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto's dispatcher lists its own package folder (a stat per module, ~150) on every request to find the
    # service; the folder does not change while the server runs. Listed once, requests and journal replay are
    # faster (bench/bench_durability.py).
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    return DomainDispatcherApplication(create_backend_app)


def server_request_handler() -> Any:
    """moto's werkzeug request handler (it keeps the raw request line moto's S3 needs)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def service_model(service: str) -> Any:
    """botocore's service model of `service`, as moto loads it."""
    from moto.core.utils import get_service_model

    return get_service_model(service)


def route(service: str, environ: dict[str, Any], body: bytes) -> tuple[Any, dict[str, Any], str, Any] | None:
    """(operation model, URI parameters, protocol, moto request) of a request to `service`, by moto's own router;
    None when it is no operation of the service model."""
    from moto.core.request import Request, determine_request_protocol
    from moto.core.routing import NotFound, get_service_router

    routing_environ = dict(environ)
    routing_environ["wsgi.input"] = io.BytesIO(body)
    routing_environ["CONTENT_LENGTH"] = str(len(body))
    request = Request(routing_environ)
    try:
        operation, uri_params = get_service_router(service).match(request)
        protocol = determine_request_protocol(service_model(service), request.content_type)
    except (NotFound, NotImplementedError):  # no operation of the model: moto answers it as it always did
        return None
    return operation, uri_params, protocol, request


def parse_params(routed: tuple[Any, dict[str, Any], str, Any], body: bytes, headers: Any) -> dict[str, Any]:
    """The parameters of a `route`d request, by moto's protocol parsers; ValueError on a body that does not parse."""
    from moto.core.parse import PROTOCOL_PARSERS

    operation, uri_params, protocol, request = routed
    rest = protocol.startswith("rest")
    parser = PROTOCOL_PARSERS[protocol](operation)
    try:
        return parser.parse(
            {
                "method": request.method,
                "values": request.args if rest else request.values,
                "headers": headers,
                "body": body,
                "url_path": request.path,
                "url_params": uri_params,
            }
        )
    except Exception as exc:  # moto's parsers raise what int()/json/XML raise on a body that is not the shape
        raise ValueError(str(exc) or type(exc).__name__) from None


def bucket_keys(account: str, bucket_name: str) -> list[str] | None:
    """The object keys of a bucket in the local S3 (one C-level copy: uploads may go on beside); None if the
    bucket does not exist."""
    from moto.s3.exceptions import MissingBucket

    try:
        bucket = backend("s3", account, "aws").get_bucket(bucket_name)
    except MissingBucket:
        return None
    return list(dict.keys(bucket.keys))


def new_ami(backend: Any, **attributes: Any) -> str:
    """Add an image to an EC2 backend; its id drawn from moto's seeded Random. Returns the id."""
    from moto.ec2.models.amis import Ami
    from moto.ec2.utils import random_ami_id

    ami_id = random_ami_id()
    backend.amis[ami_id] = Ami(backend, ami_id, **attributes)
    return ami_id


def instance_shutdown_reason(message: str, code: str) -> Any:
    """An EC2 instance's state reason, as moto models it."""
    from moto.ec2.models.instances import StateReason

    return StateReason(message, code)


def iam_caller(account: str, access_key_id: str) -> dict[str, Any] | None:
    """Who holds `access_key_id` in the local IAM: {"arn", "secret", "token" (None for a user's key), "policies"
    (its inline and attached policies' documents, its groups' too)}; None when no active key or role session has it
    (moto.iam.access_control's lookup)."""
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure, IAMUserAccessKey

    def document(policy: Any) -> dict[str, Any]:
        text = next(v.document for v in policy.versions if v.is_default) if hasattr(policy, "versions") else policy
        return json.loads(text if isinstance(text, str) else text["policy_document"])

    session = backend("sts", account, "aws").get_assumed_role_from_access_key(access_key_id)
    if session is not None:
        key: Any = AssumedRoleAccessKey(account, "aws", access_key_id, {"X-Amz-Security-Token": session.session_token})
        token, secret = session.session_token, session.secret_access_key
    else:
        try:
            key = IAMUserAccessKey(account, "aws", access_key_id, {})
        except CreateAccessKeyFailure:
            return None
        if any(
            k.access_key_id == access_key_id and k.status != "Active"
            for k in key.backend.get_user(key._owner_user_name).access_keys
        ):
            return None
        token, secret = None, key._secret_access_key
    return {"arn": key.arn, "secret": secret, "token": token, "policies": [document(p) for p in key.collect_policies()]}
