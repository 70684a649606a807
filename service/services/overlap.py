"""Work that waits on the database, run beside Python work that does not need it.

A bulk call's batch ends with statements whose answers it does not read (its history
rows) and its COMMIT. The driver releases the GIL while the database works, so these
can run in a thread of their own while the call computes the batch's results (links
signed with HMAC, result messages), which need only what is already known. The block
waits for the work at its end: nothing is answered before the commit is over, and the
work's error is raised there.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import Callable, Iterator


@contextlib.contextmanager
def alongside(work: Callable[[], object], worth_a_thread: bool = True) -> Iterator[None]:
    """Run ``work`` in another thread while the block runs (with the caller's context
    variables: request id, logging); at the block's end wait for it, and raise its
    error if it failed. An error of the block itself is raised once the work is over
    (the work's error, if any, is then its context).

    Starting and joining a thread costs about a tenth of a millisecond: for little work
    (``worth_a_thread`` false) ``work`` simply runs first, then the block."""
    if not worth_a_thread:
        work()
        yield
        return
    failed: list[BaseException] = []
    context = contextvars.copy_context()

    def run() -> None:
        try:
            context.run(work)
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=run, name="feedloop-alongside", daemon=True)
    thread.start()
    try:
        yield
    except BaseException as error:
        thread.join()
        if failed:
            raise error from failed[0]
        raise
    thread.join()
    if failed:
        raise failed[0]
