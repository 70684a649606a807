"""Waiting for a condition instead of sleeping for a guessed time."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something true; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


class Background:
    """A function running in a daemon thread, whose result (or exception) the test collects."""

    def __init__(self, target: Callable[[], Any]) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self._thread.start()

    def _run(self, target: Callable[[], Any]) -> None:
        try:
            self._result = target()
        except BaseException as error:  # handed to the test thread by result()
            self._error = error

    def result(self, timeout: float) -> Any:
        """Its return value; its exception re-raised; a failure if it runs past ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the background thread still runs after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result


def process_is_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie nobody reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # the state follows the command name, which is in parentheses and may hold spaces
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
