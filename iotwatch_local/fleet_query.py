"""AWS IoT fleet-index queries, as far as iotwatch uses them, evaluated against simulated things.

The subset of the query syntax (AWS IoT developer guide, "Query syntax"): `field:value`,
prefix `field:val*`, `field:*` (has the field), ranges `field>n`, `field>=n`, `field<n`,
`field<=n`, `field:[a TO b]`, field groups `field:(a OR b)`, quoted phrases, `\\` escapes,
AND / OR / NOT / `-`, parentheses, AND as the default operator. Values match case-insensitively;
field names are case-sensitive. Anything else raises `QueryError` (served as
InvalidQueryException), so a query the emulation does not understand is never silently wrong.

A thing is a document: field name -> value, list of values (thingGroupNames), number or bool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Document = Mapping[str, Any]
Matcher = Callable[[Document], bool]
MAX_TERMS = 12  # the query syntax's limit


class QueryError(ValueError):
    """A query outside the supported syntax (InvalidQueryException on the wire)."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "AND" "OR" "NOT" "TERM"
    text: str = ""


def _tokens(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(_Token(c))
            i += 1
        elif c == "-" and i + 1 < n and not query[i + 1].isspace():
            tokens.append(_Token("NOT"))
            i += 1
        else:
            start = i
            i = _term_end(query, i)
            text = query[start:i]
            if text in ("AND", "OR", "NOT", "&&", "||"):
                tokens.append(_Token({"&&": "AND", "||": "OR"}.get(text, text)))
            else:
                tokens.append(_Token("TERM", text))
    return tokens


def _term_end(query: str, i: int) -> int:
    n, quoted = len(query), False
    while i < n:
        c = query[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and c == "(" and i > 0 and query[i - 1] == ":":
            depth = 0
            while i < n:  # a field group: read to its closing parenthesis
                depth += {"(": 1, ")": -1}.get(query[i], 0)
                i += 1
                if depth == 0:
                    return i
            raise QueryError("unbalanced parentheses in a field group")
        elif not quoted and c == "[" and i > 0 and query[i - 1] == ":":
            end = query.find("]", i)
            if end < 0:
                raise QueryError("unterminated range")
            i = end + 1
            continue
        elif not quoted and (c.isspace() or c in "()"):
            return i
        i += 1
    if quoted:
        raise QueryError("unterminated quoted phrase")
    return i


class _Parser:
    def __init__(self, tokens: list[_Token], default_field: str | None) -> None:
        self.tokens = tokens
        self.pos = 0
        self.default_field = default_field
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Matcher:
        if not self.tokens:
            raise QueryError("empty query")
        matcher = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return matcher

    def or_expr(self) -> Matcher:
        parts = [self.and_expr()]
        while (t := self.peek()) is not None and t.kind == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def and_expr(self) -> Matcher:
        parts = [self.unary()]
        while (t := self.peek()) is not None and t.kind in ("AND", "NOT", "TERM", "("):
            if t.kind == "AND":
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def unary(self) -> Matcher:
        token = self.peek()
        if token is None:
            raise QueryError("the query ends where a term was expected")
        if token.kind == "NOT":
            self.take()
            inner = self.unary()
            return lambda d: not inner(d)
        if token.kind == "(":
            self.take()
            inner = self.or_expr()
            if self.peek() is None or self.take().kind != ")":
                raise QueryError("unbalanced parentheses")
            return inner
        if token.kind == "TERM":
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise QueryError(f"more than {MAX_TERMS} terms")
            return _term(self.take().text, self.default_field)
        raise QueryError(f"unexpected {token.kind}")


def _split_field(text: str) -> tuple[str | None, str, str]:
    """(field, operator, value) of a term; operator one of ':', '>', '>=', '<', '<='."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            break
        if c in ":<>":
            op = c
            if c in "<>" and text[i + 1 : i + 2] == "=":
                op += "="
            return text[:i], op, text[i + len(op) :]
        i += 1
    return None, ":", text


def _unescape(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out)


def _term(text: str, default_field: str | None) -> Matcher:
    field, op, raw = _split_field(text)
    field = field or default_field
    if not field:
        raise QueryError(f"the term {text!r} names no field (searching every field is not emulated)")
    if op == ":" and raw.startswith("(") and raw.endswith(")"):
        return compile_query(raw[1:-1], default_field=field)
    if op == ":" and raw.startswith("[") and raw.endswith("]"):
        low, sep, high = raw[1:-1].partition(" TO ")
        if not sep:
            raise QueryError(f"a range needs 'TO': {text!r}")
        return lambda d: _compare(d, field, ">=", low.strip()) and _compare(d, field, "<=", high.strip())
    if op != ":":
        return lambda d: _compare(d, field, op, raw)
    if raw == "*":
        return lambda d: bool(_values(d, field))
    prefix = raw.endswith("*") and not raw.endswith("\\*")
    wanted = _unescape(raw[:-1] if prefix else raw).lower()
    if prefix:
        return lambda d: any(v.startswith(wanted) for v in _values(d, field))
    return lambda d: wanted in _values(d, field)


def _values(document: Document, field: str) -> list[str]:
    value = document.get(field)
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v).lower() if not isinstance(v, bool) else ("true" if v else "false") for v in items]


def _compare(document: Document, field: str, op: str, raw: str) -> bool:
    value = document.get(field)
    if value is None or isinstance(value, list | tuple):
        return False
    try:
        left, right = float(value), float(_unescape(raw))
    except ValueError:
        left_s, right_s = str(value).lower(), _unescape(raw).lower()
        return {
            ">": left_s > right_s,
            ">=": left_s >= right_s,
            "<": left_s < right_s,
            "<=": left_s <= right_s,
        }[op]
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


def compile_query(query: str, *, default_field: str | None = None) -> Matcher:
    """A predicate over thing documents for `query`; raises QueryError outside the subset."""
    return _Parser(_tokens(query), default_field).parse()


def field_values(document: Document, field: str) -> list[str]:
    """The values of `field` a terms aggregation counts (original case kept)."""
    value = document.get(field)
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in items]
