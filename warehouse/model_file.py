"""A mart's SQL file: one model per file, named after its table, in SQLMesh's manner.

    MODEL (
      name marts.readings_by_site,             -- schema.table; the file is <table>.sql
      kind VIEW,                               -- how it is kept (below)
      grain (site_code, month),                -- what one row is; () for a single row
      owner '市数据资源管理局',                 -- the department that answers for it
      description '各站点月读数 / readings by site and month',
      column_descriptions (                    -- every column, '中文 / English'
        site_code = '站点代码 / site code',
        ...
      )
    );
    SELECT ...                                 -- one SELECT: the model's rows

Kinds (warehouse.marts keeps them):
- VIEW: a view, always current;
- FULL: a table recomputed whole at every refresh;
- INCREMENTAL_BY_KEY (key <k>[, key_columns (<c>, ...)]): a table whose rows are
  recomputed for the keys the caller says it touched (what a merge recomputed). The
  query keeps its rows to those keys with `@touched(<expression holding a k>)`, which
  stands for TRUE when everything is recomputed; the table's rows whose key_columns
  (default: k itself) hold a touched key are the ones replaced.

The header is parsed here by hand, not with a SQL parser: it is a small fixed language
(names, quoted strings, parenthesised lists), and a bad header must say which file and
line is wrong (ModelError). The query is kept as written; DuckDB checks it when it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

KINDS = ("VIEW", "FULL", "INCREMENTAL_BY_KEY")
#: the properties a header gives, each once
PROPERTIES = ("name", "kind", "grain", "owner", "description", "column_descriptions")
#: what stands between the Chinese and the English of a description
SEPARATOR = " / "
#: the one macro of a query: `@touched(expr)`
TOUCHED = re.compile(r"@touched\s*\(")
_MACRO = re.compile(r"@([A-Za-z_]\w*)")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(rf"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<string>'(?:[^'\n]|'')*')
  | (?P<unclosed>')
  | (?P<name>{_IDENT}(?:\.{_IDENT})*)
  | (?P<punct>[(),=;])
""", re.VERBOSE)


class ModelError(ValueError):
    """A mart file that cannot be used: names the file, the line and what is wrong."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{path}:{line}: {problem}")


@dataclass(frozen=True)
class ModelFile:
    """One mart, as its file declares it."""

    path: Path
    name: str                         # schema.table
    kind: str                         # one of KINDS
    grain: tuple[str, ...]
    owner: str
    description: str                  # '中文 / English'
    columns: dict[str, str]           # column → '中文 / English', in the file's order
    query: str
    #: the line of the file the query starts on (errors about the query name it)
    query_line: int
    #: INCREMENTAL_BY_KEY: the touched keys it takes, and the table's columns they match
    key: str | None = None
    key_columns: tuple[str, ...] = ()

    @property
    def schema(self) -> str:
        return self.name.split(".")[0]

    @property
    def table(self) -> str:
        return self.name.split(".")[1]

    @property
    def is_table(self) -> bool:
        return self.kind != "VIEW"


@dataclass(frozen=True)
class _Token:
    kind: str     # name, string or punct
    text: str
    line: int


def parse_model(path: Path) -> ModelFile:
    """The model in the file at `path` (UTF-8)."""
    return parse_model_text(path.read_text(encoding="utf-8"), path)


def parse_model_text(text: str, path: Path) -> ModelFile:
    """The model in `text`, read from `path` (which names it in errors)."""
    tokens, end = _header_tokens(text, path)
    header = _Header(tokens, path)
    props = header.properties()
    rest = text[end:]
    query = rest.strip().removesuffix(";").rstrip()
    query_line = text.count("\n", 0, end) + 1 + _leading_lines(rest)
    if not query:
        raise ModelError(path, query_line, "no query after the MODEL header")
    model = ModelFile(path=path, query=query, query_line=query_line, **props)
    _check(model, header.lines["kind"])
    return model


def _leading_lines(text: str) -> int:
    return text[:len(text) - len(text.lstrip())].count("\n")


def _header_tokens(text: str, path: Path) -> tuple[list[_Token], int]:
    """The header's tokens, from MODEL to the `;` after its closing parenthesis, and the
    offset where the query begins."""
    tokens: list[_Token] = []
    depth, at, line = 0, 0, 1
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None:
            raise ModelError(path, line, f"unexpected {text[at]!r} in the MODEL header")
        kind, value = m.lastgroup or "", m.group()
        if kind == "unclosed":
            raise ModelError(path, line, "a quoted string that does not end on its line")
        if kind in ("name", "string", "punct"):
            if not tokens and value.upper() != "MODEL":
                raise ModelError(path, line, "a mart file starts with MODEL (...);")
            tokens.append(_Token(kind, value, line))
        line += value.count("\n")
        at = m.end()
        if value == "(":
            depth += 1
        elif value == ")":
            depth -= 1
        elif value == ";" and depth == 0:
            return tokens, at
    raise ModelError(path, line, "the MODEL header does not end (MODEL (...); then the query)")


class _Header:
    """Reads MODEL ( property value, ... ); from its tokens."""

    def __init__(self, tokens: list[_Token], path: Path) -> None:
        self.tokens, self.path, self.at = tokens, path, 0
        #: the line each property is given on
        self.lines: dict[str, int] = {}

    def error(self, problem: str, token: _Token | None = None) -> ModelError:
        return ModelError(self.path, (token or self.peek()).line, problem)

    def peek(self) -> _Token:
        return self.tokens[min(self.at, len(self.tokens) - 1)]

    def take(self, kind: str, what: str, text: str | None = None) -> _Token:
        token = self.peek()
        if token.kind != kind or (text is not None and token.text != text):
            raise self.error(f"expected {what}, found {token.text!r}")
        self.at += 1
        return token

    def properties(self) -> dict[str, object]:
        self.take("name", "MODEL")
        self.take("punct", "'(' after MODEL", "(")
        found: dict[str, object] = {}
        while self.peek().text != ")":
            token = self.take("name", "a property name")
            prop = token.text.lower()
            if prop not in PROPERTIES:
                raise self.error(f"unknown property {token.text!r} (a header gives "
                                 f"{', '.join(PROPERTIES)})", token)
            if prop in found:
                raise self.error(f"{prop!r} given twice", token)
            self.lines[prop] = token.line
            getattr(self, f"_{prop}")(found)
            if self.peek().text != ")":
                self.take("punct", f"',' or ')' after {prop}", ",")
        closing = self.take("punct", "')'", ")")
        missing = [p for p in PROPERTIES if p not in found]
        if missing:
            raise self.error(f"the header lacks {', '.join(missing)}", closing)
        return {("columns" if k == "column_descriptions" else k): v for k, v in found.items()}

    def _name(self, found: dict[str, object]) -> None:
        token = self.take("name", "schema.table after name")
        if not re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", token.text):
            raise self.error(f"name must be schema.table in lower case, not {token.text!r}",
                             token)
        if self.path.name != f"{token.text.split('.')[1]}.sql":
            raise self.error(f"{token.text} belongs in a file named "
                             f"{token.text.split('.')[1]}.sql", token)
        found["name"] = token.text

    def _kind(self, found: dict[str, object]) -> None:
        token = self.take("name", "a kind after kind")
        kind = token.text.upper()
        if kind not in KINDS:
            raise self.error(f"unknown kind {token.text!r}: one of {', '.join(KINDS)}", token)
        found["kind"] = kind
        if kind != "INCREMENTAL_BY_KEY":
            if self.peek().text == "(":
                raise self.error(f"kind {kind} takes no parameters")
            return
        if self.peek().text != "(":
            raise self.error("kind INCREMENTAL_BY_KEY needs (key <column>)")
        self.take("punct", "'('", "(")
        params: dict[str, object] = {}
        while self.peek().text != ")":
            name = self.take("name", "key or key_columns")
            if name.text not in ("key", "key_columns") or name.text in params:
                raise self.error(f"INCREMENTAL_BY_KEY takes key and key_columns once each, "
                                 f"not {name.text!r}", name)
            params[name.text] = (self._column(f"a column after {name.text}")
                                 if name.text == "key" else self._columns(name.text))
            if self.peek().text != ")":
                self.take("punct", "',' or ')'", ",")
        self.take("punct", "')'", ")")
        if "key" not in params:
            raise self.error("kind INCREMENTAL_BY_KEY needs (key <column>)", token)
        found["key"] = params["key"]
        found["key_columns"] = params.get("key_columns") or (params["key"],)

    def _grain(self, found: dict[str, object]) -> None:
        found["grain"] = (self._columns("grain") if self.peek().text == "("
                          else (self._column("a column or (columns) after grain"),))

    def _owner(self, found: dict[str, object]) -> None:
        found["owner"] = self._string("the owning department after owner")

    def _description(self, found: dict[str, object]) -> None:
        found["description"] = self._labels("description")

    def _column_descriptions(self, found: dict[str, object]) -> None:
        self.take("punct", "'(' after column_descriptions", "(")
        columns: dict[str, str] = {}
        while self.peek().text != ")":
            token = self.peek()
            column = self._column("a column name")
            if column in columns:
                raise self.error(f"column {column!r} described twice", token)
            self.take("punct", f"'=' after {column}", "=")
            columns[column] = self._labels(column)
            if self.peek().text != ")":
                self.take("punct", "',' or ')'", ",")
        self.take("punct", "')'", ")")
        found["column_descriptions"] = columns

    def _column(self, what: str) -> str:
        token = self.take("name", what)
        if "." in token.text:
            raise self.error(f"a column name, not {token.text!r}", token)
        return token.text

    def _columns(self, what: str) -> tuple[str, ...]:
        self.take("punct", f"'(' after {what}", "(")
        out: list[str] = []
        while self.peek().text != ")":
            out.append(self._column(f"a column name in {what}"))
            if self.peek().text != ")":
                self.take("punct", f"',' or ')' in {what}", ",")
        self.take("punct", "')'", ")")
        return tuple(out)

    def _string(self, what: str) -> str:
        return self.take("string", f"a quoted string: {what}").text[1:-1].replace("''", "'")

    def _labels(self, what: str) -> str:
        token = self.peek()
        text = self._string(f"'中文 / English' for {what}")
        zh, _, en = text.partition(SEPARATOR)
        if not (zh.strip() and en.strip()):
            raise self.error(f"{what} must read '中文 / English', not {text!r}", token)
        return text


def render(model: ModelFile, touched: str | None) -> str:
    """The model's query, each `@touched(expr)` made `(expr) IN (SELECT <key> FROM
    <touched>)`, or TRUE when `touched` is None (everything is recomputed)."""
    out, at = [], 0
    for start, end, expr in _touched_calls(model):
        out.append(model.query[at:start])
        keep = f'(({expr}) IN (SELECT "{model.key}" FROM {touched}))'  # noqa: S608 - pack SQL
        out.append("TRUE" if touched is None else keep)
        at = end
    return "".join(out) + model.query[at:]


def _touched_calls(model: ModelFile) -> list[tuple[int, int, str]]:
    """(start, end, expression) of every @touched(...) of the query."""
    calls = []
    for m in TOUCHED.finditer(model.query):
        depth, at = 1, m.end()
        while depth and at < len(model.query):
            depth += {"(": 1, ")": -1}.get(model.query[at], 0)
            at += 1
        expr = model.query[m.end():at - 1].strip()
        if depth or not expr:
            line = model.query_line + model.query.count("\n", 0, m.start())
            raise ModelError(model.path, line, "@touched takes one expression in balanced "
                             "parentheses")
        calls.append((m.start(), at, expr))
    return calls


def _check(model: ModelFile, kind_line: int) -> None:
    """What the query must hold for its kind, and what grain and key_columns name."""
    for macro in _MACRO.findall(model.query):
        if macro != "touched":
            raise ModelError(model.path, model.query_line, f"unknown macro @{macro}: the "
                             "only one is @touched(<key expression>)")
    uses = bool(_touched_calls(model))
    if model.kind == "INCREMENTAL_BY_KEY" and not uses:
        raise ModelError(model.path, kind_line, "an INCREMENTAL_BY_KEY query keeps its rows "
                         f"to the touched keys with @touched(<{model.key} expression>)")
    if model.kind != "INCREMENTAL_BY_KEY" and uses:
        raise ModelError(model.path, kind_line, f"kind {model.kind} recomputes everything: "
                         "only INCREMENTAL_BY_KEY may use @touched")
    unknown = [c for c in (*model.grain, *model.key_columns) if c not in model.columns]
    if unknown:
        raise ModelError(model.path, kind_line, "grain and key_columns name columns the "
                         f"header describes; not {', '.join(unknown)}")
