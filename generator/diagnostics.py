"""Positions and errors: every problem in a spec is reported as

    specs/x.yaml:LINE:COL: error[FGnnn]: what is wrong; what would be right
       |   sql: SELECT nope FROM flight
       |               ^

Stages collect diagnostics instead of raising on the first one; the CLI prints
them all and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A position in a file the user wrote: 1-based line and column."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    span: Span
    code: str
    message: str
    severity: str = "error"  # "error" stops the build; "warning" is a lint of `check`

    def render(self, source: str | None = None) -> str:
        """The one-line form, plus the source line and a caret when known."""
        head = f"{self.span}: {self.severity}[{self.code}]: {self.message}"
        if source is None:
            return head
        lines = source.splitlines()
        if not 1 <= self.span.line <= len(lines):
            return head
        text = lines[self.span.line - 1].expandtabs(1)
        caret = " " * max(self.span.col - 1, 0) + "^"
        return f"{head}\n   | {text}\n   | {caret}"


class SpecError(Exception):
    """One or more diagnostics; raised by a stage that cannot go on."""

    def __init__(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]):
        self.diagnostics = tuple(sorted(diagnostics, key=_order))
        super().__init__("\n".join(d.render() for d in self.diagnostics))


def _order(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.span.path, d.span.line, d.span.col, d.code)


# The error codes, one per rule, so that tests and users can refer to them (the table in
# docs/spec-format.md says the same; tests/generator/test_house.py checks that both list every
# code the build raises). A store kind lists the codes of its own rules (generator/stores/).
CODES: dict[str, str] = {
    "FG001": "file cannot be read or is not valid UTF-8 text",
    "FG002": "YAML syntax error",
    "FG003": "the spec is not a mapping / empty file",
    "FG004": "the spec is too large, too deep, or expands too far through aliases",
    "FG010": "unknown field",
    "FG011": "missing required field",
    "FG012": "wrong type for a field",
    "FG013": "value not allowed for a field",
    "FG020": "name is not a Python identifier or is reserved",
    "FG021": "duplicate spec name",
    "FG030": "unknown parameter type",
    "FG031": "invalid parameter pattern",
    "FG040": "TTL or duration cannot be parsed",
    "FG041": "jitter cannot be parsed",
    "FG042": "near cache: `near` longer than `ttl`, or `near_size` not a whole number from 1 to 1,000,000",
    "FG043": "`replica_reads` together with `near` (a near copy of a replica's value could outlive an invalidation)",
    "FG050": "key template syntax error",
    "FG051": "key template names an undeclared parameter",
    "FG052": "key template does not cover every parameter",
    "FG053": "key template fields not separated",
    "FG054": "tag template names an unknown parameter or column",
    "FG060": "SQL syntax error",
    "FG061": "unknown table",
    "FG062": "unknown or ambiguous column",
    "FG063": "placeholder names an undeclared parameter",
    "FG064": "parameter is never used in the SQL",
    "FG065": "computed column needs an alias",
    "FG066": "`returns` does not fit the query",
    "FG067": "statement kind not allowed (read spec must be SELECT, write spec INSERT/UPDATE/DELETE)",
    "FG068": "construct does not translate to every dialect",
    "FG069": "`columns:` override names a column the query does not return",
    "FG070": "trigger names an unknown table or column",
    "FG071": "trigger needs a value the write does not bind",
    "FG072": "a dialect's SQL is refused by that database (EXPLAIN on an empty copy of the schema, at build)",
    "FG080": "schema.sql cannot be read",
    "FG094": "the store does not fit `returns`, `stampede` or `near` (hash: returns one; zset: returns many; early, near and near_size: json only)",
    "FG095": "zset member or score names no result column, both name the same one, or the member has a parameter's or a reserved name",
    "FG096": "a zset column cannot be stored: a nullable member, a score that is not a non-null int or float, or other columns",
    "FG097": "a `moves:` trigger on a spec that is not a zset, or one that cannot move this ranking, or a write that does not bind or look up its column",
    "FG100": "store: bitmap member is not a result column of the right type",
    "FG101": "store: bitmap seats: is not a seat alphabet",
    "FG102": "a field does not fit store: bitmap, or cache.bitmap on another store",
    "FG103": "maintain: names an unknown table or column",
    "FG104": "a write that maintains a set does not bind its key or member",
    "FG105": "a counter names no fitting read spec or int field, or a zero change",
    "FG106": "a maintained entry is registered under a tag its maintaining write drops",
    "FGL01": "non-sargable predicate on an indexed column",
    "FGL02": "comparison or ordering whose result depends on the collation",
    "FGL03": "LIMIT without a total ORDER BY",
    "FGL04": "returns: one on a query that can return many rows",
    "FGL05": "unbounded result on a large table",
    "FGL06": "a table the query reads has no trigger: freshness rests on the TTL alone",
}
