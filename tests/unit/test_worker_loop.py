"""`feedloop worker`'s loop: a failed round is logged and retried, a stop signal ends it."""
from __future__ import annotations

import logging
import os
import signal

import pytest

from service import worker
from tests.support.conditions import wait_until


@pytest.fixture
def rounds(monkeypatch):
    """run_once replaced by a script: each entry is a round's counts or the error it raises."""
    script: list = []
    done: list = []

    def run_once(rt, sender, worker_id):
        done.append(worker_id)
        outcome = script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(worker, "run_once", run_once)
    return script, done


def stop_after(done: list, n: int):
    return lambda: len(done) >= n


def test_a_failed_round_is_logged_and_the_next_one_runs(rounds, caplog):
    script, done = rounds
    script += [OSError("database is restarting"), {"sent": 2}, {"sent": 0}]
    with caplog.at_level(logging.INFO, logger="feedloop.worker"):
        worker.run_forever(rt=None, sender=None, interval=0, stop=stop_after(done, 3))
    assert len(done) == 3 and len(set(done)) == 1
    failure = next(r for r in caplog.records if r.exc_info)
    assert failure.getMessage() == "worker round failed; trying again in 0s"
    assert isinstance(failure.exc_info[1], OSError)
    rounds_logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("round")]
    # every round that ran is logged, an idle one too: the log shows the worker is alive
    assert rounds_logged == ["round sent=2", "round sent=0"]


def test_the_loop_waits_its_interval_between_rounds_but_stops_at_once(rounds, monkeypatch):
    script, done = rounds
    script += [{}, {}]
    slept: list[float] = []
    monkeypatch.setattr(worker.time, "sleep", slept.append)
    asked: list[int] = []
    worker.run_forever(rt=None, sender=None, interval=5,
                       stop=lambda: asked.append(1) or len(asked) > 2)
    # one round, then naps of at most 0.2 s until stop() says so: not the whole 5 s
    assert len(done) == 1 and slept == [0.2]


@pytest.fixture
def restored_signals():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_ask_the_loop_to_stop(restored_signals, sig):
    stop = worker.install_stop_signals()
    assert stop() is False
    os.kill(os.getpid(), sig)
    wait_until(stop, 5, "the signal handler to run")
