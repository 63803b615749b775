"""What generated accessor modules import at run time.

See docs/generated-module-contract.md for how a generated module uses it.
"""

from flughafen.config import (
    CacheUrl,
    Config,
    ConfigError,
    DatabaseUrl,
    load_config,
    parse_cache_url,
    parse_database_url,
    redact,
)
from flughafen.db import Database, QueryError, connect
from flughafen.keys import MAX_KEY_LENGTH, encode_value, row_field
from flughafen.metrics import Metrics
from flughafen.protocol import last_read_was_stale
from flughafen.runtime import Runtime, configure, default_runtime, invalidate_tag, invalidate_tags
from flughafen.spec import Col, Param, Trigger
from flughafen.stores.json import ReadQuery

__all__ = [
    "MAX_KEY_LENGTH",
    "CacheUrl",
    "Col",
    "Config",
    "ConfigError",
    "Database",
    "DatabaseUrl",
    "Metrics",
    "Param",
    "QueryError",
    "ReadQuery",
    "Runtime",
    "Trigger",
    "configure",
    "connect",
    "default_runtime",
    "encode_value",
    "invalidate_tag",
    "invalidate_tags",
    "last_read_was_stale",
    "load_config",
    "parse_cache_url",
    "parse_database_url",
    "redact",
    "row_field",
]
