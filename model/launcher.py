"""torchrun for the training entry points: the same launcher, with its arguments, except that a signal stopping
it (a managed spot interruption, a stopped job) is reported in one line instead of torch's ~30-line
``SignalException`` traceback per host: an expected event, not a crash."""

from __future__ import annotations

import sys


def main() -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun

    try:
        torchrun()
    except SignalException as stopped:
        print(f"torchrun: stopped by {stopped.sigval.name}", file=sys.stderr, flush=True)
        return 128 + int(stopped.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
