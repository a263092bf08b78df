"""Offline Redshift check of the dbt project: every model compiled for the ``redshift`` target
without a connection, parsed with sqlglot's Redshift dialect and held to a portability rule set.

Run it with ``python -m ingestion.redshift_check [dbt_project_dir]``; exit status 0 means clean,
1 means findings, 2 means the project could not be compiled.

How it compiles without a cluster (dbt-core 1.11, dbt-redshift 1.11):

- The project is copied to a temporary folder (the ``seeds`` link copied as a folder), so the
  check never writes into the real project.
- ``dbt compile --target redshift --select resource_type:model --no-introspect
  --no-populate-cache`` runs with the project's own ``profiles.yml`` and placeholder
  ``REDSHIFT_*`` values (host 127.0.0.1, port 1: nothing listens and nothing connects).
  Selecting only models leaves out the on-run-start/-end hooks, which create schemas and count
  rows at render time. Cross-database macros render their Redshift versions.
- ``is_incremental()`` asks the warehouse whether the model's table exists, which needs a
  connection. The copy gets a root-project ``is_incremental`` macro that returns a variable
  instead, and the project is compiled twice, once per branch.

What this does not prove: that the SQL runs on a cluster (types of expressions, function
argument types, permissions), post-hooks (rendered only at run time), data tests and unit tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from ingestion.settings import DBT_PROJECT_DIR

DIALECT = "redshift"
FORCE_INCREMENTAL_VAR = "redshift_check_force_incremental"
_OVERRIDE_MACRO = (
    "{#- Written by ingestion/redshift_check.py into a temporary copy of the project: the\n"
    "    built-in is_incremental() asks the warehouse, this one reads a variable. -#}\n"
    "{% macro is_incremental() %}\n"
    "    {{ return(var('" + FORCE_INCREMENTAL_VAR + "', false)) }}\n"
    "{% endmacro %}\n"
)
# Placeholders for profiles.yml; no connection is ever opened with them.
_OFFLINE_ENV = {
    "REDSHIFT_HOST": "127.0.0.1",
    "REDSHIFT_PORT": "1",
    "REDSHIFT_USER": "offline_check",
    "REDSHIFT_DATABASE": "offline_check",
    "REDSHIFT_AUTH_METHOD": "database",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}
_COMPILE_TIMEOUT_SECONDS = 300
_RUN_DBT = "import sys; from dbt.cli.main import cli; sys.exit(cli())"

# Window functions that take no frame in Redshift; every other aggregate needs ROWS with ORDER BY.
_NO_FRAME_FUNCTIONS = (
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.PercentRank,
    exp.CumeDist,
    exp.Ntile,
    exp.Lag,
    exp.Lead,
)
_COVARIANCE_FUNCTIONS = (
    exp.Corr,
    exp.CovarPop,
    exp.CovarSamp,
    exp.RegrAvgx,
    exp.RegrAvgy,
    exp.RegrCount,
    exp.RegrIntercept,
    exp.RegrR2,
    exp.RegrSlope,
    exp.RegrSxx,
    exp.RegrSxy,
    exp.RegrSyy,
    exp.RegrValx,
    exp.RegrValy,
)
# Functions DuckDB has and Redshift does not (the first three are listed by Redshift's
# "Unsupported PostgreSQL functions"); matched by the name written in the SQL.
_FOREIGN_FUNCTIONS = frozenset(
    {
        "string_agg", "array_agg", "every", "list", "unnest", "range", "today",
        "epoch", "epoch_ms", "epoch_us", "epoch_ns", "make_date", "make_time", "make_timestamp",
        "strftime", "strptime", "time_bucket", "date_diff", "date_sub",
        "regexp_matches", "regexp_extract", "regexp_full_match",
        "string_split", "str_split", "string_split_regex",
        "arg_max", "arg_min", "argmax", "argmin", "max_by", "min_by",
        "quantile", "quantile_cont", "quantile_disc", "approx_quantile", "histogram",
        "product", "fsum", "favg", "kurtosis", "skewness", "entropy", "geomean",
        "geometric_mean", "count_if", "countif",
        "read_csv", "read_csv_auto", "read_json", "read_json_auto", "read_parquet",
    }
)  # fmt: skip
_FOREIGN_PREFIXES = ("list_", "struct_", "map_")
_CAST_PARENTS = (exp.Cast, exp.TryCast, exp.ColumnDef)


class RedshiftCheckError(RuntimeError):
    """The project could not be compiled for the redshift target offline."""


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    snippet: str
    line: int | None = None  # line in the compiled SQL
    model: str = ""
    path: str = ""
    branch: str = ""

    def __str__(self) -> str:
        where = self.path or "<sql>"
        if self.branch:
            where += f" [{self.branch}]"
        if self.line is not None:
            where += f" compiled line {self.line}"
        return f"{where}: {self.rule}: {self.message}: {self.snippet}"


@dataclass(frozen=True)
class CompiledModel:
    name: str
    path: str  # original file path inside the project
    branch: str  # "full refresh" or "incremental"
    sql: str
    contract_types: dict[str, str | None]  # column -> data_type, for enforced contracts


@dataclass
class CheckResult:
    models: int
    statements: int
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def _line(node: exp.Expression) -> int | None:
    for child in node.walk():
        if child.meta.get("line"):
            return child.meta["line"]
    return None


def _finding(rule: str, message: str, node: exp.Expression) -> Finding:
    snippet = " ".join(node.sql(dialect=DIALECT).split())
    return Finding(rule, message, snippet[:160], _line(node))


def _window_rules(tree: exp.Expression) -> Iterator[Finding]:
    for window in tree.find_all(exp.Window):
        function = window.this
        if isinstance(function, (exp.IgnoreNulls, exp.RespectNulls)):
            function = function.this
        spec = window.args.get("spec")
        if spec is not None and str(spec.args.get("kind", "")).lower() != "rows":
            yield _finding(
                "window-frame-not-rows",
                "Redshift window frames are ROWS only (no RANGE or GROUPS); "
                "use ROWS BETWEEN n PRECEDING AND CURRENT ROW over one row per period",
                window,
            )
        elif (
            window.args.get("order")
            and spec is None
            and isinstance(function, exp.AggFunc)
            and not isinstance(function, _NO_FRAME_FUNCTIONS)
        ):
            yield _finding(
                "window-order-without-rows",
                "an aggregate window with ORDER BY needs an explicit ROWS frame in Redshift "
                "(and DuckDB's default RANGE frame differs on ties)",
                window,
            )
        if any(isinstance(arg, exp.Distinct) for arg in function.args.values()):
            yield _finding(
                "window-distinct",
                "Redshift window aggregates do not take DISTINCT",
                window,
            )


def _function_rules(tree: exp.Expression) -> Iterator[Finding]:
    for node in tree.find_all(exp.Filter):
        yield _finding(
            "aggregate-filter",
            "Redshift has no FILTER (WHERE ...); use an aggregate over CASE WHEN ... END",
            node,
        )
    for node in tree.find_all(*_COVARIANCE_FUNCTIONS):
        yield _finding(
            "covariance-regression",
            "Redshift has no CORR, COVAR_* or REGR_* functions; compute them from sum(x), "
            "sum(y), sum(x*y), sum(y*y) and count(*) over one ROWS frame",
            node,
        )
    for node in tree.find_all(exp.GenerateSeries, exp.ExplodingGenerateSeries):
        yield _finding(
            "generate-series",
            "generate_series runs only on the Redshift leader node and fails next to tables; "
            "use a calendar seed or a numbers table",
            node,
        )
    for node in tree.find_all(exp.NullSafeEQ, exp.NullSafeNEQ):
        yield _finding(
            "is-distinct-from",
            "Redshift has no IS [NOT] DISTINCT FROM; compare with "
            "(a = b or (a is null and b is null))",
            node,
        )


def _clause_rules(tree: exp.Expression) -> Iterator[Finding]:
    for node in tree.find_all(exp.Qualify):
        yield _finding(
            "qualify",
            "QUALIFY exists only on Redshift releases since July 2023 and needs an alias on "
            "a bare FROM relation; filter the window result in an outer query instead",
            node,
        )
    for node in tree.find_all(exp.Values):
        if not isinstance(node.parent, exp.Insert):
            yield _finding(
                "values-table",
                "Redshift does not accept a VALUES list as a table; use a seed or UNION ALL",
                node,
            )
    for node in tree.find_all(exp.Lambda, exp.Struct):
        yield _finding("duckdb-syntax", "DuckDB-only lambda or struct literal", node)
    for node in tree.find_all(exp.Star):
        if any(node.args.get(key) for key in ("except_", "replace", "rename", "ilike")):
            yield _finding(
                "duckdb-syntax",
                "SELECT * EXCLUDE/REPLACE/RENAME is DuckDB-only; list the columns",
                node,
            )


_UNBOUNDED_TEXT = (exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR, exp.DataType.Type.TEXT)


def _type_rules(tree: exp.Expression) -> Iterator[Finding]:
    for node in tree.find_all(exp.DataType):
        cast = node.parent
        if not isinstance(cast, _CAST_PARENTS):
            continue  # sqlglot adds implied types to some functions; only written ones count
        if node.this in _UNBOUNDED_TEXT and not node.expressions:
            yield _finding(
                "text-without-length",
                "varchar/text without a length is varchar(256) on Redshift and can reject "
                "longer values; write varchar(n)",
                cast,
            )
        if node.this == exp.DataType.Type.DECIMAL and len(node.expressions) < 2:
            yield _finding(
                "decimal-without-scale",
                "decimal/numeric without a scale has scale 0 on Redshift (18,3 on DuckDB); "
                "write numeric(p, s) or double precision",
                cast,
            )


_AST_RULES: tuple[Callable[[exp.Expression], Iterator[Finding]], ...] = (
    _window_rules,
    _function_rules,
    _clause_rules,
    _type_rules,
)


def _token_rules(sql: str) -> Iterator[Finding]:
    # Type spellings and function names that sqlglot normalises away in the syntax tree.
    tokens = sqlglot.tokenize(sql, read=DIALECT)
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        text = token.text.lower()
        if token.token_type == TokenType.FLOAT:
            yield Finding(
                "single-precision-float",
                f"{token.text} is single precision; write double precision",
                token.text,
                token.line,
            )
        elif token.token_type == TokenType.DOUBLE and text == "float":
            yield Finding(
                "single-precision-float",
                "float is single precision on DuckDB (double only on Redshift); "
                "write double precision",
                token.text,
                token.line,
            )
        elif token.token_type == TokenType.DOUBLE and text == "double":
            yield Finding(
                "double-without-precision",
                "Redshift has no type named double; write double precision",
                token.text,
                token.line,
            )
        elif (
            following is not None
            and following.token_type == TokenType.L_PAREN
            and token.token_type not in (TokenType.STRING, TokenType.IDENTIFIER)
            and (text in _FOREIGN_FUNCTIONS or text.startswith(_FOREIGN_PREFIXES))
        ):
            yield Finding(
                "duckdb-function",
                f"{token.text}() does not exist in Redshift",
                token.text,
                token.line,
            )


def _check(sql: str) -> tuple[int, list[Finding]]:
    """(statements parsed, findings in line order) for one SQL text."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as error:
        return 0, [Finding("parse-error", "sqlglot cannot parse this as Redshift SQL", str(error))]
    findings = [f for statement in statements for rule in _AST_RULES for f in rule(statement)]
    findings.extend(_token_rules(sql))
    return len(statements), sorted(findings, key=lambda f: (f.line or 0, f.rule))


def check_sql(sql: str) -> list[Finding]:
    """Every portability finding in one SQL text (one or more statements), in line order."""
    return _check(sql)[1]


def check_contract_type(data_type: str | None) -> list[Finding]:
    """Findings for one contract column type, e.g. ``varchar(32)`` or ``double precision``."""
    if not data_type:
        return [Finding("contract-type", "a contracted column needs an explicit data_type", "")]
    return [replace(f, line=None) for f in check_sql(f"select cast(null as {data_type})")]


def _copy_project(project_dir: Path, work_dir: Path) -> Path:
    """Copy the project; copytree follows links, so the linked seeds folder is copied too."""
    config = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    copy = work_dir / project_dir.name
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")
    shutil.copytree(project_dir, copy, ignore=ignore)
    macro_dir = copy / (config.get("macro-paths") or ["macros"])[0]
    macro_dir.mkdir(parents=True, exist_ok=True)
    (macro_dir / "redshift_check__is_incremental.sql").write_text(_OVERRIDE_MACRO)
    return copy


def _dbt_compile_command(project: Path, output: Path, force_incremental: bool) -> list[str]:
    return [
        sys.executable, "-c", _RUN_DBT, "compile",
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target", "redshift",
        "--select", "resource_type:model",
        "--no-introspect",
        "--no-populate-cache",
        "--no-partial-parse",
        "--target-path", str(output / "target"),
        "--log-path", str(output / "logs"),
        "--vars", json.dumps({FORCE_INCREMENTAL_VAR: force_incremental}),
    ]  # fmt: skip


def compile_models(project_dir: Path, work_dir: Path) -> list[CompiledModel]:
    """Compile every model for the redshift target offline, once per is_incremental() branch."""
    project = _copy_project(project_dir, work_dir)
    branches = {"full refresh": False, "incremental": True}
    # Both compiles at once: each is a separate dbt process writing its own target folder.
    processes = {
        branch: subprocess.Popen(
            _dbt_compile_command(project, work_dir / branch.replace(" ", "-"), forced),
            env=_OFFLINE_ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for branch, forced in branches.items()
    }
    try:
        outputs = {
            branch: process.communicate(timeout=_COMPILE_TIMEOUT_SECONDS)[0]
            for branch, process in processes.items()
        }
    except subprocess.TimeoutExpired as error:
        raise RedshiftCheckError(
            f"dbt compile of {project_dir} took over {_COMPILE_TIMEOUT_SECONDS} s"
        ) from error
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for branch, process in processes.items():
        if process.returncode != 0:
            tail = "\n".join(outputs[branch].strip().splitlines()[-25:])
            raise RedshiftCheckError(
                f"dbt could not compile the {branch} branch of {project_dir} for the redshift "
                f"target offline (exit {process.returncode}); a model that queries the "
                f"warehouse while compiling (run_query, adapter.get_relation) cannot be "
                f"checked offline. dbt said:\n{tail}"
            )
    return [
        model
        for branch in branches
        for model in _models_in(work_dir / branch.replace(" ", "-"), branch)
    ]


def _models_in(output: Path, branch: str) -> list[CompiledModel]:
    manifest = json.loads((output / "target" / "manifest.json").read_text())
    models = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node.get("compiled_code") is None:
            continue
        enforced = (node["config"].get("contract") or {}).get("enforced", False)
        models.append(
            CompiledModel(
                name=node["name"],
                path=node["original_file_path"],
                branch=branch,
                sql=node["compiled_code"],
                contract_types=(
                    {c["name"]: c.get("data_type") for c in node["columns"].values()}
                    if enforced
                    else {}
                ),
            )
        )
    return sorted(models, key=lambda m: m.path)


def check_models(models: Sequence[CompiledModel]) -> CheckResult:
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()  # the two branches share most of their SQL
    statements = 0
    for model in models:
        parsed, sql_findings = _check(model.sql)
        statements += parsed
        located = [replace(f, branch=model.branch) for f in sql_findings] + [
            replace(f, branch="contract", snippet=f"{column} {data_type or ''}".strip())
            for column, data_type in model.contract_types.items()
            for f in check_contract_type(data_type)
        ]
        for finding in located:
            key = (model.path, finding.rule, finding.snippet)
            if key not in seen:
                seen.add(key)
                findings.append(replace(finding, model=model.name, path=model.path))
    return CheckResult(
        models=len({m.path for m in models}), statements=statements, findings=findings
    )


def check_project(project_dir: Path = DBT_PROJECT_DIR, work_dir: Path | None = None) -> CheckResult:
    if work_dir is not None:
        return check_models(compile_models(project_dir, work_dir))
    with tempfile.TemporaryDirectory(prefix="redshift-check-") as temp:
        return check_models(compile_models(project_dir, Path(temp)))


def report(result: CheckResult) -> str:
    lines = [
        f"Redshift check: {result.models} models compiled offline for the redshift target, "
        "each with is_incremental() false and true; "
        f"{result.statements} statements parsed with sqlglot's Redshift dialect."
    ]
    lines += [f"FAIL {finding}" for finding in result.findings]
    lines.append(
        "OK: no portability findings." if result.ok else f"{len(result.findings)} findings."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    project_dir = Path(args[0]).resolve() if args else DBT_PROJECT_DIR
    try:
        result = check_project(project_dir)
    except RedshiftCheckError as error:
        print(error, file=sys.stderr)
        return 2
    print(report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
