"""alongside: work run in another thread while a block runs, waited for at its end."""
from __future__ import annotations

import contextvars
import threading

import pytest

from service.services.overlap import alongside

REQUEST = contextvars.ContextVar("request", default="none")


def test_the_work_runs_while_the_block_runs_and_is_over_at_its_end():
    started, may_finish, finished = threading.Event(), threading.Event(), []

    def work() -> None:
        started.set()
        assert may_finish.wait(5), "the block never let the work finish"
        finished.append(threading.current_thread().name)

    with alongside(work):
        # The work has started before the block is over: it runs beside it, not after.
        assert started.wait(5)
        assert not finished
        may_finish.set()
    assert finished == ["feedloop-alongside"]


def test_the_work_sees_the_caller_s_context_variables():
    seen = []
    token = REQUEST.set("r-42")
    try:
        with alongside(lambda: seen.append(REQUEST.get())):
            pass
    finally:
        REQUEST.reset(token)
    assert seen == ["r-42"]


def test_the_work_s_error_is_raised_at_the_block_s_end():
    after = []
    with pytest.raises(LookupError, match="commit failed"):
        with alongside(lambda: (_ for _ in ()).throw(LookupError("commit failed"))):
            after.append("the block still ran")
    assert after == ["the block still ran"]


def test_an_error_of_the_block_waits_for_the_work_and_keeps_the_work_s_as_its_cause():
    done = threading.Event()

    def work() -> None:
        done.wait(0.2)
        raise LookupError("commit failed")

    with pytest.raises(ValueError) as caught:
        with alongside(work):
            raise ValueError("result failed")
    assert isinstance(caught.value.__cause__, LookupError)
    assert not any(t.name == "feedloop-alongside" for t in threading.enumerate())


def test_little_work_runs_first_in_the_caller_s_thread_without_a_thread():
    seen = []
    with alongside(lambda: seen.append(threading.current_thread().name), worth_a_thread=False):
        seen.append("block")
    assert seen == [threading.current_thread().name, "block"]


def test_little_work_s_error_is_raised_before_the_block_runs():
    ran = []
    with pytest.raises(LookupError):
        with alongside(lambda: (_ for _ in ()).throw(LookupError("x")), worth_a_thread=False):
            ran.append("block")
    assert ran == []
