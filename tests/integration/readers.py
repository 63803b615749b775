"""Threads that read accessors while a test breaks the cache under them, checking every answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Readers:
    """``count`` threads calling ``read(code)`` for every code, over and over, until ``stop()``:
    ``wrong`` lists the codes whose answer was not ``expected``'s, ``failures`` what a read raised."""

    def __init__(self, read: Callable[[str], Any], expected: dict[str, Any], count: int):
        self.read, self.expected = read, expected
        self.wrong: list[str] = []
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(count)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for code, answer in self.expected.items():
                try:
                    got = self.read(code)
                except BaseException as e:  # noqa: BLE001 - every failure is the test's to report
                    self.failures.append(e)
                    return
                if got != answer:
                    self.wrong.append(code)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
