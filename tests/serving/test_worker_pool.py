"""The model server's worker pool: a fixed number of workers, a bounded queue, refusal (not waiting) beyond it."""

from __future__ import annotations

import threading

import pytest

from mlops_cli.local.sagemaker.worker_pool import QueueFull, WorkerPool


def wait_until(condition, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def test_jobs_beyond_the_workers_and_the_queue_are_refused_not_queued():
    pool = WorkerPool(workers=1, max_waiting_jobs=1, max_waiting_bytes=1 << 20)
    started, release = threading.Event(), threading.Event()
    results: list[str] = []

    def blocking() -> str:
        started.set()
        release.wait(10)
        return "first"

    first = threading.Thread(target=lambda: results.append(pool.run(pool.admit(), blocking)))
    first.start()
    assert started.wait(10)  # the only worker is busy
    second = threading.Thread(target=lambda: results.append(pool.run(pool.admit(10), lambda: "second")))
    second.start()
    wait_until(lambda: pool._waiting_jobs == 1)  # the queue holds one job: full
    with pytest.raises(QueueFull):
        pool.admit()
    release.set()
    first.join(10)
    second.join(10)
    assert sorted(results) == ["first", "second"]
    assert pool.run(pool.admit(), lambda: "again") == "again"  # room again once the queue drained
    pool.close()


def test_the_queue_is_bounded_by_the_bytes_it_holds():
    pool = WorkerPool(workers=1, max_waiting_jobs=100, max_waiting_bytes=1000)
    started, release = threading.Event(), threading.Event()
    busy = threading.Thread(target=lambda: pool.run(pool.admit(), lambda: (started.set(), release.wait(10))))
    busy.start()
    assert started.wait(10)
    waiting = threading.Thread(target=lambda: pool.run(pool.admit(800), lambda: None))
    waiting.start()
    wait_until(lambda: pool._waiting_bytes == 800)
    with pytest.raises(QueueFull):
        pool.admit(201)
    admitted = pool.admit(200)  # admitted before its body is read; given back if reading fails
    pool.cancel(admitted)
    assert pool._waiting_bytes == 800
    release.set()
    busy.join(10)
    waiting.join(10)
    pool.close()


def test_a_jobs_exception_reaches_its_caller():
    pool = WorkerPool(workers=2, max_waiting_jobs=4, max_waiting_bytes=1000)
    with pytest.raises(ZeroDivisionError):
        pool.run(pool.admit(), lambda: 1 / 0)
    assert pool.run(pool.admit(), lambda: 42) == 42
    pool.close()
