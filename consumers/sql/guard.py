"""What a user's SQL is, and which tables it reads, as ClickHouse's own parser sees it.

Every ad-hoc query (the SQL port, `cdrflow sql`) and every custom report (saved and run) passes
`check_statement` on a read-only session before it runs. ClickHouse parses the text without
running it (`parseQueryToJSON`; `EXPLAIN AST` for the few statements it cannot serialise), and
the tree, never the text, decides:
- the statement must be one that reads: SELECT (with WITH, UNION, INTERSECT, EXCEPT), SHOW
  TABLES/DATABASES/COLUMNS, DESCRIBE, EXISTS, SHOW CREATE TABLE, EXPLAIN; anything else answers
  ClickHouse's READONLY;
- no `INTO OUTFILE` anywhere in it: the embedded engine writes that file on its client side,
  where `readonly` does not reach (INTO_OUTFILE_NOT_ALLOWED);
- every table it names, in any place (FROM, JOIN, IN, a subquery, a CTE, EXPLAIN, DESCRIBE),
  is one of READABLE_TABLES, a metadata table of `system` or `information_schema`, or no table
  at all (a CTE's name, or a typo ClickHouse will answer); table functions other than the
  number generators, functions that read the host's files or other tables by name, and names
  given as `{name:Identifier}` parameters (bound after the parse) are refused. Refusals answer
  ClickHouse's ACCESS_DENIED (497).
The same text then runs unchanged, so what ran is what was checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from consumers.sql.errors import SqlError

# docs/schema.md: what users may read. The rest (schedules, alert_rules, alert_notifications,
# custom_reports, cdr_changes, schema_migrations, the views) holds recipients, webhook URLs, saved
# SQL or internals.
READABLE_TABLES = ("cdr", "agg_breakout", "agg_number", "schedule_runs", "alert_events", "pipeline_progress")
# What clients read for metadata (DBeaver and the JDBC driver's DatabaseMetaData, SQLAlchemy's inspector).
READABLE_SYSTEM_TABLES = frozenset({
    "databases", "tables", "columns", "functions", "settings", "data_type_families", "one", "numbers",
    "numbers_mt", "zeros", "zeros_mt", "table_engines", "table_functions", "formats", "time_zones",
    "aggregate_function_combinators", "collations", "build_options", "keywords",
})  # fmt: skip
METADATA_DATABASES = frozenset({"information_schema", "INFORMATION_SCHEMA"})
TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateSeries", "values"}
)
# Functions that read a file of the host, or a table named in a string.
HOST_FUNCTIONS = frozenset({"file", "catboostevaluate", "joinget", "joingetornull"})
SELECTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
# Reading statements parseQueryToJSON cannot serialise: their tree comes from EXPLAIN AST instead.
READING_WITHOUT_JSON = frozenset({"DescribeQuery", "ExistsTableQuery", "ExistsDatabaseQuery", "ShowCreateTableQuery"})
READING = SELECTS | READING_WITHOUT_JSON | {"ShowTablesQuery", "ShowColumnsQuery", "ExplainQuery"}
NOT_SERIALISABLE = re.compile(r"AST node of type '([A-Za-z]+)")
IN_SCOPE = re.compile(r": In scope SELECT parseQueryToJSON\(.*(?=\. \([A-Z_]+\)\s*$)", re.S)
READONLY_TEXT = "Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)"
OUTFILE_TEXT = "Code: 358. DB::Exception: INTO OUTFILE is not allowed. (INTO_OUTFILE_NOT_ALLOWED)"
AskClickHouse = Callable[[str, dict], list]  # one query with parameters on the read-only session: its rows


def access_denied(what: str) -> SqlError:
    return SqlError(
        f"Code: 497. DB::Exception: default: Not enough privileges: {what} is not readable. (ACCESS_DENIED)"
    )


@dataclass(frozen=True)
class TableName:
    database: str | None
    name: str


@dataclass(frozen=True)
class StatementTree:
    """What the parser found: the statement's type, and every table, identifier and function named."""

    kind: str
    writes_file: bool
    tables: tuple[TableName, ...]
    identifiers: tuple[tuple[str, ...], ...]
    table_functions: tuple[str, ...]
    functions: tuple[str, ...]
    names_from_parameters: bool = False  # {name:Identifier}: a table or column the parse does not show


def split_name(name: str, parts: list[str] | None) -> TableName:
    if parts and len(parts) == 2:
        return TableName(parts[0], parts[1])
    if not parts and "." in name:
        database, _, table = name.partition(".")
        return TableName(database, table)
    return TableName(None, name)


def json_nodes(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from json_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from json_nodes(value)


def tree_from_json(root: dict) -> StatementTree:
    tables, identifiers, table_functions, functions = [], [], [], []
    writes_file = names_from_parameters = False
    for node in json_nodes(root):
        kind = node.get("type")
        if kind == "QueryParameter" and "Identifier" in str(node.get("param_type", "")):
            names_from_parameters = True
        if "out_file" in node or node.get("is_into_outfile_with_stdout"):
            writes_file = True
        if kind == "TableIdentifier":
            tables.append(split_name(node["name"], node.get("name_parts")))
        elif kind == "Identifier":
            identifiers.append(tuple(node.get("name_parts") or [node["name"]]))
        elif kind == "Function":
            functions.append(node["name"])
        elif kind == "TableExpression" and isinstance(node.get("table_function"), dict):
            table_functions.append(node["table_function"]["name"])
        elif kind == "ShowColumnsQuery":
            tables.append(TableName(node.get("database") or None, node["table"]))
    return StatementTree(root["type"], writes_file, tuple(tables), tuple(identifiers), tuple(table_functions),
                         tuple(functions), names_from_parameters)  # fmt: skip


def tree_from_explain(dump: str) -> StatementTree:
    """The tree of EXPLAIN AST's text: one node a line, indented one space a level."""
    lines = [line for line in dump.splitlines() if line.strip()]
    header = lines[0].split(" ")
    kind = header[0]
    tables, identifiers, table_functions, functions = [], [], [], []
    if kind in ("ExistsTableQuery", "ShowCreateTableQuery"):  # "<kind> <database> <table> (children n)"
        tables.append(TableName(header[1] or None, header[2]))
    writes_file = False
    table_expression_depth = -1
    for line in lines[1:]:
        depth = len(line) - len(line.lstrip(" "))
        node, _, rest = line.strip().partition(" ")
        rest = rest.split(" (children")[0]
        if depth == 1 and node == "Literal":  # the root's own literal is its INTO OUTFILE (or COMPRESSION)
            writes_file = True
        if node == "TableIdentifier":
            tables.append(split_name(rest, None))
        elif node == "Identifier":
            identifiers.append(tuple(rest.split(".")))
        elif node == "Function":
            functions.append(rest)
            if depth == table_expression_depth + 1:
                table_functions.append(rest)
        table_expression_depth = depth if node == "TableExpression" else table_expression_depth
    return StatementTree(kind, writes_file, tuple(tables), tuple(identifiers), tuple(table_functions),
                         tuple(functions))  # fmt: skip


def parse(sql: str, ask: AskClickHouse) -> StatementTree:
    """The statement's tree from ClickHouse's parser; its syntax errors as ClickHouse words them."""
    try:
        [(tree, parsed)] = ask("SELECT parseQueryToJSON({q:String}), {q:String}", {"q": sql})
    except SqlError as error:
        if error.code != 36:  # 36: parsed, but of a kind it cannot serialise
            raise SqlError(IN_SCOPE.sub("", error.text)) from None
        unserialisable = NOT_SERIALISABLE.search(error.text)
        if unserialisable is None or unserialisable.group(1) not in READING_WITHOUT_JSON:
            raise SqlError(READONLY_TEXT) from None
    else:
        if parsed != sql:  # the text checked must be the text that runs, byte for byte
            raise SqlError(
                "Code: 457. DB::Exception: the query did not reach the parser unchanged. (BAD_QUERY_PARAMETER)"
            )
        return tree_from_json(orjson.loads(tree))
    # One whole statement of a kind that takes its own INTO OUTFILE, so none is left over for the EXPLAIN.
    return tree_from_explain("\n".join(row[0] for row in ask(f"EXPLAIN AST {sql}", {})))


def check_statement(sql: str, database: str, ask: AskClickHouse, home: str, kinds: frozenset[str] = READING) -> str:
    """Raise SqlError, as ClickHouse would answer, unless `sql` is one statement that only reads
    what users may read. `database` is the one its unqualified names refer to; `home` is the
    warehouse's, which holds READABLE_TABLES. Answers the statement's kind (its AST node's name)."""
    tree = parse(sql, ask)
    if tree.kind not in kinds:
        raise SqlError(
            READONLY_TEXT
            if tree.kind not in READING
            else f"Code: 164. DB::Exception: one SELECT, not {tree.kind}. (READONLY)"
        )
    if tree.writes_file:
        raise SqlError(OUTFILE_TEXT)
    if tree.names_from_parameters:
        raise access_denied("a table or column named by a query parameter ({name:Identifier})")
    for name in tree.table_functions:
        if name not in TABLE_FUNCTIONS:
            raise access_denied(f"table function {name}()")
    for name in tree.functions:
        if name.lower() in HOST_FUNCTIONS:
            raise access_denied(f"function {name}()")
    hidden = hidden_tables(ask, home)
    for table in tree.tables:
        refuse_hidden(TableName(table.database or database, table.name), hidden)
    for parts in tree.identifiers:  # `x IN schedules`, `schedules.column`
        if len(parts) == 1:
            refuse_hidden(TableName(database, parts[0]), hidden, only_existing=True)
        elif len(parts) >= 2:
            refuse_hidden(TableName(parts[0], parts[1]), hidden, only_existing=True)
    return tree.kind


def refuse_hidden(table: TableName, hidden: frozenset[TableName], only_existing: bool = False) -> None:
    if table.database in METADATA_DATABASES:
        return
    if table.database == "system":
        if table.name not in READABLE_SYSTEM_TABLES and (not only_existing or table in hidden):
            raise access_denied(f"system.{table.name}")
        return
    if table in hidden:
        raise access_denied(f"{table.database}.{table.name}")


def names(values) -> str:
    """Constant names (of this module, never a user's) as a ClickHouse tuple literal."""
    return "(" + ", ".join(f"'{value}'" for value in sorted(values)) + ")"


def hidden_tables(ask: AskClickHouse, database: str) -> frozenset[TableName]:
    """Every table, view and system table no user may read."""
    rows = ask(
        "SELECT database, name FROM system.tables "
        f"WHERE NOT (database = {{db:String}} AND name IN {names(READABLE_TABLES)}) "
        f"AND NOT (database = 'system' AND name IN {names(READABLE_SYSTEM_TABLES)}) "
        "AND database NOT IN ('information_schema', 'INFORMATION_SCHEMA')",
        {"db": database},
    )
    return frozenset(TableName(database, name) for database, name in rows)
