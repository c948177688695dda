"""A fixed pool of worker threads behind a bounded queue, as TorchServe runs a model's workers.

TorchServe (the model server of the SageMaker PyTorch container) hands each request to one of a fixed number of
workers through a job queue of bounded length and answers 503 when that queue is full, rather than queueing
without limit. Here the queue is bounded by its number of jobs and by the bytes of the request bodies it holds,
so a flood of large requests is refused before it can exhaust memory: a request is admitted (its bytes counted)
before its body is read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The job was refused: the queue holds as many jobs (or request bytes) as it may."""


@dataclass
class _Job:
    size: int
    function: Callable[[], Any] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class WorkerPool:
    def __init__(self, workers: int, max_waiting_jobs: int, max_waiting_bytes: int, name: str = "worker"):
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self.max_waiting_jobs = max_waiting_jobs
        self.max_waiting_bytes = max_waiting_bytes
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting_jobs = 0
        self._waiting_bytes = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def admit(self, size: int = 0) -> _Job:
        """A place in the queue for a job holding ``size`` bytes (its request body, which may be read only
        now); :class:`QueueFull` if there is none. Hand it to :meth:`run`, or give it back with :meth:`cancel`."""
        with self._lock:
            if self._waiting_jobs >= self.max_waiting_jobs or self._waiting_bytes + size > self.max_waiting_bytes:
                raise QueueFull()
            self._waiting_jobs += 1
            self._waiting_bytes += size
        return _Job(size)

    def cancel(self, job: _Job) -> None:
        self._leave_queue(job)

    def run(self, job: _Job, function: Callable[[], Any]) -> Any:
        """Run ``function`` on a worker in the admitted ``job``'s place; its result, or its exception."""
        job.function = function
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        """Let the workers finish the jobs already queued, then stop them."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._leave_queue(job)
            try:
                assert job.function is not None
                job.result = job.function()
            except BaseException as error:  # handed to the caller, which decides what it means
                job.error = error
            finally:
                job.done.set()

    def _leave_queue(self, job: _Job) -> None:
        with self._lock:
            self._waiting_jobs -= 1
            self._waiting_bytes -= job.size
