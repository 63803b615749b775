"""The typed data that flows between the pipeline's stages.

Every class here is a frozen, slotted dataclass: stages never mutate what they
are given. ``RawSpec`` (spec/load.py) -> ``Spec`` (spec/validate.py) ->
``CompiledQuery`` (sql/compile.py) -> ``Linked`` (link.py) -> files
(render.py, format.py) -> disk (write.py).

What is particular to one store kind (json, hash, zset, bitmap) is kept in
that kind's own ``StoreOptions`` subclass (stores/*.py), so this module does
not change when a kind is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from generator.diagnostics import Span

Dialect = Literal["mysql", "postgres", "sqlite"]
DIALECTS: tuple[Dialect, ...] = ("mysql", "postgres", "sqlite")

# Python-side types of parameters and result columns ("json": a result column of JSON text, never a parameter).
PyType = Literal["str", "int", "float", "decimal", "bool", "date", "datetime", "time", "json"]
PY_TYPES: tuple[PyType, ...] = (
    "str",
    "int",
    "float",
    "decimal",
    "bool",
    "date",
    "datetime",
    "time",
)

Returns = Literal["one", "many", "scalar"]
Stampede = Literal["lock", "early", "none"]
Kind = Literal["read", "write"]
WriteMode = Literal["through", "behind"]
Statement = Literal["select", "insert", "update", "delete"]

# ---------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class Literal_:
    """A fixed piece of a key or tag template."""

    text: str


@dataclass(frozen=True, slots=True)
class Field:
    """A ``{name}`` piece of a template.

    ``source`` is "param" for ``{origin}``, "row" for ``{row.flight_id}`` and
    "column" for ``{flight_id}`` in a trigger (a column of the written row).
    """

    name: str
    source: Literal["param", "row", "column"]
    span: Span


TemplatePart = Literal_ | Field


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed ``"flight:search:{origin}:{day}"`` template."""

    text: str
    parts: tuple[TemplatePart, ...]
    span: Span

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(p for p in self.parts if isinstance(p, Field))


# -------------------------------------------------------------------- specs


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: PyType
    span: Span
    pattern: str | None = None  # a regex a str param must fully match
    nullable: bool = False  # `{type: int, nullable: true}`: Optional in Python


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """What a store kind reads from the fields of its own (stores/*.py subclass this).

    ``store: json`` and ``store: hash`` read none; ``zset`` reads ``member``
    and ``score``, ``bitmap`` its ``cache.bitmap`` section.
    """


@dataclass(frozen=True, slots=True)
class CacheSpec:
    key: Template
    ttl: int  # seconds, > 0
    span: Span
    jitter: float = 0.0  # fraction of ttl, 0 <= jitter < 1
    tags: tuple[Template, ...] = ()
    store: str = "json"  # a store kind's name (generator/stores/)
    stampede: Stampede = "lock"
    negative_ttl: int | None = None  # seconds; None: empty results use `ttl`
    options: StoreOptions = field(default_factory=StoreOptions)  # the store kind's own fields
    replica_reads: int | None = None  # seconds of staleness a hit read from a replica may have; None: primaries only


@dataclass(frozen=True, slots=True)
class Trigger:
    """``invalidate:`` entry: a write to ``table`` drops entries.

    ``tags`` are filled from the written row's columns; ``all`` drops every
    entry of the spec (a namespace generation bump). ``options``: what the
    spec's store kind reads of the entry (``moves:`` of store: zset).
    """

    table: str
    span: Span
    tags: tuple[Template, ...] = ()
    all: bool = False
    options: StoreOptions | None = None


@dataclass(frozen=True, slots=True)
class ColumnOverride:
    """``columns: {avg_lat: {type: float, nullable: false}}`` in a spec."""

    name: str
    type: PyType | None
    nullable: bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class Spec:
    path: str  # as given on the command line, relative where possible
    name: str
    name_span: Span
    kind: Kind
    summary: str
    dialect: Dialect
    params: tuple[Param, ...]
    sql: str
    # Position of the first character of the SQL text in the YAML file, and
    # the column offset of every following line (the block's indentation).
    sql_span: Span
    sql_indent: int
    returns: Returns
    returns_span: Span
    cache: CacheSpec | None  # None for write specs
    invalidate: tuple[Trigger, ...] = ()
    write: WriteMode | None = None
    columns: tuple[ColumnOverride, ...] = ()
    examples: tuple[tuple[tuple[str, object], ...], ...] = ()  # parameter sets
    lookup: bool = False  # write specs: read trigger columns of touched rows first
    source: str = field(default="", repr=False, compare=False)  # file text
    collation: str | None = None  # the project's ``collation`` setting (generator/sql/collation.py)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


# ------------------------------------------------------------ compiled query


@dataclass(frozen=True, slots=True)
class Column:
    """A result column, typed from the schema."""

    name: str
    type: PyType
    nullable: bool
    scale: int | None = None  # digits after the point, for decimal columns


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    spec: Spec
    # SQL per dialect, with that driver's placeholders (%s or ?), literal
    # percent signs escaped for the %s drivers; one clause a line.
    sql: dict[Dialect, str]
    # The parameter bound to each placeholder, in order (a name may repeat).
    param_order: tuple[str, ...]
    columns: tuple[Column, ...]  # empty for writes without RETURNING
    tables: tuple[str, ...]  # tables the query reads, sorted, lower case
    # Hash of the normalised SQL and result columns: part of every key, so a
    # changed query never reads entries cached by the old one.
    version: str
    statement: Statement = "select"
    # For writes: the table written and the columns bound from params
    # (column -> param name), so triggers can be filled from the written row.
    written_table: str | None = None
    bound_columns: tuple[tuple[str, str], ...] = ()
    # UPDATE: every column it sets, and (column, param) of each `SET column = :param`.
    set_columns: tuple[str, ...] = ()
    set_params: tuple[tuple[str, str], ...] = ()
    # UPDATE and DELETE: (column, param) of each top-level `column = :param` in WHERE.
    where_params: tuple[tuple[str, str], ...] = ()
    # For reads: the WHERE fixes a primary or unique key of every table read
    # (directly or through join equalities), and, more broadly, the query can
    # return at most one row (that, LIMIT 1, an aggregate without GROUP BY, or
    # a GROUP BY on fixed columns). For a lint on `returns: one`.
    pins_key: bool = False
    single_row: bool = False


# ------------------------------------------------------------- write values


@dataclass(frozen=True, slots=True)
class FromParam:
    """A value a write knows from its parameter ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class FromRow:
    """A value read from the touched row before the write (``lookup: true``): its ``column``."""

    column: str


# Where a write finds a value it needs after it ran: a tag's field, a set's member, a ranking's member.
Value = FromParam | FromRow
# A tag as a write fills it: literal text and values, in order.
TagPart = str | FromParam | FromRow
