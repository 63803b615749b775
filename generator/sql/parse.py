"""Step 1 of the SQL stage: parse a spec's SQL and map positions back to the YAML.

``Source`` holds the SQL text, its tokens and the spec, and turns an offset in
the SQL into a ``Span`` in the YAML file. ``parse_statement`` parses exactly
one statement of the allowed kind (FG060, FG067) and lower-cases identifiers;
``check_params`` matches ``:name`` placeholders with declared params (FG063,
FG064).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import Spec

READ_KINDS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
WRITE_KINDS = (exp.Insert, exp.Update, exp.Delete)


@dataclass(frozen=True)
class Source:
    """A spec's SQL text with its tokens, for positions of errors."""

    spec: Spec
    tokens: tuple[Token, ...]

    @property
    def sql(self) -> str:
        """The spec's SQL text."""
        return self.spec.sql

    def span(self, offset: int) -> Span:
        """The YAML position of character ``offset`` of the SQL text.

        The first SQL line starts at ``sql_span``; later lines at column
        ``sql_indent + 1`` (the block's indentation).
        """
        offset = max(0, min(offset, len(self.sql)))
        line = self.sql.count("\n", 0, offset)
        col = offset - (self.sql.rfind("\n", 0, offset) + 1) + 1
        return line_col_span(self.spec, line + 1, col)

    def diag(self, offset: int, code: str, message: str) -> Diagnostic:
        """A diagnostic at character ``offset`` of the SQL text."""
        return Diagnostic(self.span(offset), code, message)


def line_col_span(spec: Spec, line: int, col: int) -> Span:
    """Map a 1-based (line, col) in the SQL text to the YAML file.

    >>> from generator.sql.testing import make_spec
    >>> s = make_spec("SELECT 1 AS x", sql_line=5, sql_col=3, indent=2)
    >>> line_col_span(s, 1, 8), line_col_span(s, 2, 1)
    (Span(path='specs/t.yaml', line=5, col=10), Span(path='specs/t.yaml', line=6, col=3))
    """
    base = spec.sql_span
    shift = base.col - 1 if line == 1 else spec.sql_indent
    return Span(base.path, base.line + line - 1, col + shift)


def tokenize(spec: Spec) -> Source:
    """Tokenize the SQL in the spec's dialect (FG060 on an unterminated quote)."""
    try:
        tokens = Dialect.get_or_raise(spec.dialect).tokenize(spec.sql)
    except TokenError:
        where = unclosed_quote(spec.sql)
        src = Source(spec, ())
        raise SpecError([src.diag(where, "FG060", "SQL syntax error: unterminated quote")]) from None
    return Source(spec, tuple(tokens))


def unclosed_quote(sql: str) -> int:
    """Offset of the quote that is never closed (0 when none is found).

    >>> unclosed_quote("SELECT 'a', 'b")
    12
    """
    opened: int | None = None
    quote = ""
    for i, ch in enumerate(sql):
        if opened is None and ch in "'\"`":
            opened, quote = i, ch
        elif opened is not None and ch == quote:
            opened = None
    return opened if opened is not None else 0


def parse_statement(src: Source) -> exp.Expr:
    """Parse exactly one statement of the kind the spec allows.

    Identifiers are lower-cased: names are case-insensitive, as in MySQL.
    """
    spec = src.spec
    foreign = _foreign_placeholders(src)
    if foreign:
        raise SpecError(foreign)
    try:
        trees = sqlglot.parse(spec.sql, read=spec.dialect)
    except ParseError as e:
        raise SpecError(_keyword_params(src) or [_parse_error(src, e)]) from None
    stmts = [t for t in trees if t is not None]
    if len(stmts) != 1:
        second = _second_statement_offset(src)
        msg = "the SQL must be exactly one statement" + (f", found {len(stmts)}" if stmts else ", found none")
        raise SpecError([src.diag(second, "FG060", msg)])
    tree = stmts[0]
    _check_kind(src, tree)
    for ident in tree.find_all(exp.Identifier):
        ident.set("this", ident.name.lower())
    return tree


def _foreign_placeholders(src: Source) -> list[Diagnostic]:
    """FG060 for ``?``, ``%s``, ``%(name)s``, ``$1`` and ``:keyword``: write ``:name``."""
    diags = []
    toks = src.tokens
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        adjacent = nxt is not None and nxt.start == tok.end + 1
        text = None
        if tok.token_type == TokenType.PLACEHOLDER or (tok.text == "$" and adjacent):
            text = f"{tok.text}{nxt.text if tok.text == '$' and nxt else ''}"
        elif tok.token_type == TokenType.MOD and adjacent and nxt is not None and nxt.text == "s":
            text = "%s"
        elif tok.token_type == TokenType.MOD and [t.text for t in toks[i + 1 : i + 5]][::3] == ["(", "s"]:
            text = "%(name)s"
        if text is not None:
            diags.append(
                src.diag(tok.start, "FG060", f"driver placeholder {text!r}: write :name for a declared parameter (the build writes each driver's own)")
            )
    return diags


def _keyword_params(src: Source) -> list[Diagnostic]:
    """``:from`` does not parse: its name is a keyword (reported only when parsing fails)."""
    toks = src.tokens
    diags = []
    for colon, name in pairwise(toks):
        if colon.token_type == TokenType.COLON and name.start == colon.end + 1 and name.token_type != TokenType.VAR and _NAME.match(name.text):
            diags.append(src.diag(colon.start, "FG060", f"the parameter name :{name.text} is a SQL keyword; rename the parameter"))
    return diags


def _parse_error(src: Source, e: ParseError) -> Diagnostic:
    """FG060 at the start of the token sqlglot stopped at."""
    err = e.errors[0] if e.errors else {}
    line, col = int(err.get("line") or 1), int(err.get("col") or 1)
    highlight = str(err.get("highlight") or "")
    col = max(1, col - len(highlight) + 1)
    desc = _readable(str(err.get("description") or e))
    near = f" near {highlight!r}" if highlight else ""
    return Diagnostic(line_col_span(src.spec, line, col), "FG060", f"SQL syntax error{near}: {desc}")


_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class 'sqlglot\.expressions\.[\w.]*?(\w+)'>")


def _readable(description: str) -> str:
    """sqlglot's wording, without its class names.

    >>> _readable("Required keyword: 'expression' missing for <class 'sqlglot.expressions.core.EQ'>")
    'the EQ has no right-hand side; complete the expression'
    """
    m = _MISSING.search(description)
    if m is None:
        return description
    part = {"expression": "right-hand side", "this": "left-hand side"}.get(m.group(1), m.group(1))
    return f"the {m.group(2)} has no {part}; complete the expression"


def _second_statement_offset(src: Source) -> int:
    """Where a second statement starts (after the first ';'), or 0."""
    for i, tok in enumerate(src.tokens):
        if tok.token_type == TokenType.SEMICOLON and i + 1 < len(src.tokens):
            return src.tokens[i + 1].start
    return 0


def _check_kind(src: Source, tree: exp.Expr) -> None:
    """FG067: a read spec must be a query, a write spec INSERT/UPDATE/DELETE."""
    allowed = READ_KINDS if src.spec.kind == "read" else WRITE_KINDS
    if isinstance(tree, allowed):
        return
    want = "SELECT (or WITH/UNION)" if src.spec.kind == "read" else "INSERT, UPDATE or DELETE"
    found = src.tokens[0].text.upper() if src.tokens else tree.key.upper()
    raise SpecError([src.diag(0, "FG067", f"a {src.spec.kind} spec must be {want}, found {found}; set `kind:` to match the statement")])


# ------------------------------------------------------------- placeholders


@dataclass(frozen=True, slots=True)
class PlaceholderAt:
    """A ``:name`` in the SQL text and where it starts."""

    name: str
    start: int  # offset of the ':' in the SQL text


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def placeholders(src: Source) -> list[PlaceholderAt]:
    """Every ``:name`` in the SQL text, in order (strings and comments skipped).

    >>> from generator.sql.testing import make_spec
    >>> [p.name for p in placeholders(tokenize(make_spec("SELECT ':no' AS a WHERE x = :yes")))]
    ['yes']
    """
    found: list[PlaceholderAt] = []
    toks = src.tokens
    for colon, name in pairwise(toks):
        if colon.token_type == TokenType.COLON and name.start == colon.end + 1 and _NAME.match(name.text):
            found.append(PlaceholderAt(name.text, colon.start))
    return found


def check_params(src: Source, tree: exp.Expr) -> list[Diagnostic]:
    """FG063 for a placeholder with no declared param, FG064 for an unused param."""
    spec = src.spec
    diags: list[Diagnostic] = []
    used = {p.name for p in tree.find_all(exp.Placeholder)}
    positions = placeholders(src)
    declared = [p.name for p in spec.params]
    for ph in positions:
        if ph.name not in declared:
            hint = f"; declared: {', '.join(declared)}" if declared else "; declare it under `params:`"
            diags.append(src.diag(ph.start, "FG063", f"placeholder ':{ph.name}' names no declared parameter{hint}"))
    unplaced = sorted(used - {p.name for p in positions} - set(declared))
    for name in unplaced:
        diags.append(src.diag(0, "FG063", f"placeholder ':{name}' names no declared parameter"))
    for p in spec.params:
        if p.name not in used:
            diags.append(Diagnostic(p.span, "FG064", f"parameter {p.name!r} is never used in the SQL; use it as :{p.name} or remove it"))
    return diags


# ---------------------------------------------------------------- positions


def node_offset(src: Source, node: exp.Expr) -> int:
    """Best offset of ``node`` in the SQL text, for an error message.

    Identifiers and literals carry their position; a function is found by its
    name token before ``(``; an operator by its token between the operands.
    """
    own = node.meta.get("start")
    if isinstance(own, int):
        return own
    starts = _starts(node)
    if not starts:
        return 0
    lo, hi = min(starts), max(starts)
    if isinstance(node, exp.Func):
        fn = _function_token(src, node, lo, hi)
        if fn is not None:
            return fn
    if isinstance(node, exp.Binary) and isinstance(node.left, exp.Expr):
        left = _starts(node.left)
        right = _starts(node.right) if isinstance(node.right, exp.Expr) else []
        if left and right:
            return _operator_token(src, max(left), min(right)) or lo
    return lo


def _starts(node: exp.Expr) -> list[int]:
    """The offsets of every node in ``node``'s subtree that knows its position."""
    return [n.meta["start"] for n in node.walk() if isinstance(n.meta.get("start"), int)]


def _function_token(src: Source, node: exp.Expr, lo: int, hi: int) -> int | None:
    """The start of the name token of the call enclosing offsets lo..hi."""
    names = {n.upper() for n in _function_names(node)}
    best: tuple[bool, int] | None = None
    toks = src.tokens
    for i, tok in enumerate(toks[:-1]):
        if tok.start >= lo or toks[i + 1].token_type != TokenType.L_PAREN:
            continue
        close = _matching_paren(toks, i + 1)
        if close is None or toks[close].start < hi:
            continue
        key = (tok.text.upper() in names, tok.start)
        if best is None or key > best:
            best = key
    return best[1] if best else None


def _function_names(node: exp.Expr) -> list[str]:
    """The names a function node may be written with."""
    if isinstance(node, exp.Anonymous):
        return [node.name]
    if isinstance(node, exp.Func):
        return list(node.sql_names())
    return []


def _matching_paren(toks: tuple[Token, ...], open_index: int) -> int | None:
    """The index of the token closing the parenthesis at ``open_index``."""
    depth = 0
    for j in range(open_index, len(toks)):
        if toks[j].token_type == TokenType.L_PAREN:
            depth += 1
        elif toks[j].token_type == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                return j
    return None


def _operator_token(src: Source, after: int, before: int) -> int | None:
    """The first token strictly between two offsets (an operator), if any."""
    for tok in src.tokens:
        if after < tok.start < before and tok.token_type not in (TokenType.L_PAREN, TokenType.R_PAREN):
            return tok.start
    return None
