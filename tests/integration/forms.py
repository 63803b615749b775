"""One test, both forms: the sync accessors, or their async twins (``generated/aio``) on an event loop.

A test takes the ``form`` fixture (conftest.py) and calls accessors through it::

    form(flight_search).fetch(origin="JFK", destination="LAX", day=DAY, runtime=runtime)

In the sync form that is the module's own function. In the async form it is the
function of ``generated.aio.flight_search``, run to its end on the test's event
loop, on an AsyncRuntime that stands in for ``runtime`` (the sync runtime the test
got from its fixture, still used for its checks: its Valkey client, its
database). Both runtimes count into the same Metrics, so a test's assertions on
``runtime.metrics`` hold in either form. After every async call the runtime's
replies still owed (a fill sent without waiting) are awaited, as the sync
runtime's next command on another connection does for its thread.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

from flughafen import Runtime
from flughafen import invalidate_tag as sync_invalidate_tag
from flughafen.aio import AsyncRuntime
from flughafen.aio import invalidate_tag as async_invalidate_tag
from flughafen.protocol import last_read_was_stale

T = TypeVar("T")
FORMS = ["sync", "async"]


class Form:
    """How a test calls accessors: ``sync`` or ``async`` (see the module's docstring)."""

    def __init__(self, name: str, runtime: Runtime, make: Callable[..., Any]):
        self.name = name
        self.runtime = runtime
        self._make = make  # kwargs -> a runtime of this form
        self.loop: asyncio.AbstractEventLoop | None = None
        self.art: AsyncRuntime | None = None
        self._deferred = False  # inside gather(): async calls give back their coroutines
        self._stale = False
        if name == "async":
            self.loop = asyncio.new_event_loop()
            self.art = make()
            self.art.metrics = runtime.metrics

    @property
    def is_async(self) -> bool:
        return self.loop is not None

    def __call__(self, module: ModuleType) -> Any:
        """The accessor module in this form."""
        if not self.is_async:
            return module
        return _Async(self, importlib.import_module(module.__name__.replace("generated.", "generated.aio.", 1)))

    def query(self, q: Any) -> Any:
        """An accessor object (a ReadQuery, a HashQuery...) in this form: ``form.query(q).one(args, runtime)``
        calls ``q.one_async`` in the async form."""
        return _AsyncQuery(self, q) if self.is_async else q

    def of(self, runtime: Any) -> Any:
        """The runtime a call in this form uses for ``runtime`` (the fixture's sync runtime: this form's own)."""
        return self.art if self.is_async and runtime is self.runtime else runtime

    def run(self, awaitable: Awaitable[T], runtime: Any = None) -> T:
        """Runs ``awaitable`` on the form's loop, then waits for the replies ``runtime``'s connection still owes."""
        assert self.loop is not None
        rt = self.of(runtime) if runtime is not None else self.art

        async def settled() -> T:
            value = await awaitable
            self._stale = last_read_was_stale()
            if isinstance(rt, AsyncRuntime):
                await rt.cache.settle()
            return value

        return self.loop.run_until_complete(settled())

    def call(self, function: Callable[..., Any], *args: Any, runtime: Any = None, **kwargs: Any) -> Any:
        rt = self.of(runtime)
        if self._deferred:
            return function(*args, runtime=rt, **kwargs)
        return self.run(function(*args, runtime=rt, **kwargs), rt)

    def last_read_was_stale(self) -> bool:
        """Whether the last read of the test (its task, in the async form) was answered from a stale copy."""
        return self._stale if self.is_async else last_read_was_stale()

    def invalidate_tag(self, tag: str, runtime: Any) -> int:
        if self.is_async:
            return self.call(async_invalidate_tag, tag, runtime=runtime)  # type: ignore[no-any-return]
        return sync_invalidate_tag(tag, runtime)

    def settle(self, runtime: Any = None) -> None:
        """Waits for the replies still owed (a fill sent without waiting) on ``runtime``'s connection."""
        rt = self.of(runtime if runtime is not None else self.runtime)
        if isinstance(rt, AsyncRuntime):
            assert self.loop is not None
            self.loop.run_until_complete(rt.cache.settle())
        else:
            rt.cache.settle()

    def cache(self, runtime: Any = None) -> Any:
        """The cache state (health, fail-open) of ``runtime`` in this form."""
        return self.of(runtime if runtime is not None else self.runtime).cache

    def gather(self, calls: list[Callable[[], T]]) -> list[T]:
        """Runs ``calls`` at once: threads started together (sync), or coroutines gathered on the loop (async)."""
        if not self.is_async:
            barrier = threading.Barrier(len(calls))
            out: list[Any] = [None] * len(calls)

            def one(i: int) -> None:
                barrier.wait()
                out[i] = calls[i]()

            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return out
        self._deferred = True
        try:
            coroutines = [c() for c in calls]
        finally:
            self._deferred = False

        async def together() -> list[T]:
            return list(await asyncio.gather(*coroutines))

        return self.run(together())

    def after_query(self, monkeypatch: Any, query: Any, hook: Callable[[Any], None], method: str = "query_database") -> None:
        """Calls ``hook(result)`` (sync code: another process's write, say) each time ``query``'s
        ``method`` (or its ``_async`` twin) has the database's result."""
        if self.is_async:
            real_async = getattr(query, f"{method}_async")

            async def patched_async(args: tuple[Any, ...], rt: Any) -> Any:
                result = await real_async(args, rt)
                hook(result)
                return result

            monkeypatch.setattr(query, f"{method}_async", patched_async)
        else:
            real = getattr(query, method)

            def patched(args: tuple[Any, ...], rt: Any) -> Any:
                result = real(args, rt)
                hook(result)
                return result

            monkeypatch.setattr(query, method, patched)

    @contextmanager
    def runtime_of(self, **kwargs: Any) -> Iterator[Any]:
        """Another runtime of this form (``Runtime.from_config``'s arguments), closed after use."""
        rt = self._make(**kwargs)
        try:
            yield rt
        finally:
            if self.is_async:
                assert self.loop is not None
                self.loop.run_until_complete(rt.close())
            else:
                rt.close()

    def close(self) -> None:
        if self.loop is not None:
            assert self.art is not None
            self.loop.run_until_complete(self.art.close())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class _Async:
    """An async accessor module whose functions run to their end when called (see Form.call)."""

    def __init__(self, form: Form, module: ModuleType):
        self._form = form
        self._module = module

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if not asyncio.iscoroutinefunction(value):
            return value  # QUERY, Row, key, EXAMPLES: shared with the sync module
        form = self._form

        def call(*args: Any, runtime: Any = None, **kwargs: Any) -> Any:
            return form.call(value, *args, runtime=runtime, **kwargs)

        return call


class _AsyncQuery:
    """An accessor object whose methods call their ``_async`` twins, run to their end (see Form.query)."""

    def __init__(self, form: Form, q: Any):
        self._form = form
        self._q = q

    def __getattr__(self, name: str) -> Any:
        twin = getattr(self._q, f"{name}_async", None)
        if twin is None:
            return getattr(self._q, name)  # key, name, tags: the same in both forms
        form = self._form

        def call(*args: Any, runtime: Any = None) -> Any:
            if args and isinstance(args[-1], (Runtime, AsyncRuntime)):
                *args, runtime = args  # type: ignore[assignment]
            return form.call(twin, *args, runtime=runtime)

        return call
