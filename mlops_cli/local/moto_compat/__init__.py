"""The local AWS's reach into moto's internals (moto pinned exactly in pyproject.toml and the lock), kept in one
package: no other module imports moto or reaches a moto backend (tests/foundation/test_local_layout.py), and
tests/foundation/test_moto_contract.py calls every internal used here once.

- routing.py: moto's server (WSGI app, request handler), botocore's service models as moto loads them, a request
  routed to its operation and parsed by moto's own router and protocol parsers.
- clock.py: moto's clock and seedable Random, made a function of a seed and a time (the journal's replay).
- state.py: every moto backend pickled and restored in place (snapshots), saved state read back (`loads`).
- backends.py: a service's backend by account and region, and the journal's changes by path (`moto.set`,
  `moto.delete`): for this package only.
- records/<service>.py: typed views of moto's records and the lookups and changes the local services make.

The names below are the package's interface for the server's machinery (core/); the local services import the
record modules they read.
"""

from mlops_cli.local.moto_compat.backends import delete, set_attributes
from mlops_cli.local.moto_compat.clock import make_deterministic, prepare, random, seeded_at, utcnow
from mlops_cli.local.moto_compat.routing import parse_params, route, server_app, server_request_handler, service_model
from mlops_cli.local.moto_compat.state import MOVED, Blobs, dump_state, load_state, loads

__all__ = [
    "MOVED",
    "Blobs",
    "delete",
    "dump_state",
    "load_state",
    "loads",
    "make_deterministic",
    "parse_params",
    "prepare",
    "random",
    "route",
    "seeded_at",
    "server_app",
    "server_request_handler",
    "service_model",
    "set_attributes",
    "utcnow",
]
