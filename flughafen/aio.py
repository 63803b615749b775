"""What async application code and the generated async modules (``<package>.aio``) import.

The names of ``flughafen``'s module-level helpers, for an AsyncRuntime::

    from flughafen.aio import AsyncRuntime, configure, invalidate_tag, last_read_was_stale

``last_read_was_stale()`` is the same function: the flag lives in a contextvar, so
each task sees its own last read.
"""

from flughafen.protocol import last_read_was_stale
from flughafen.runtime_async import AsyncRuntime, configure, default_async_runtime, invalidate_tag, invalidate_tags

__all__ = ["AsyncRuntime", "configure", "default_async_runtime", "invalidate_tag", "invalidate_tags", "last_read_was_stale"]
