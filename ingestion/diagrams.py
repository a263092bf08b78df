"""Diagrams as code: the architecture and star-schema PNGs in docs/, drawn from the dbt manifest.

Each diagram is Graphviz DOT text generated deterministically from ``manifest.json`` (written by
``dbt parse``, which needs no warehouse) and committed beside its PNG in ``docs/diagrams/``. The
PNG carries the SHA-256 of the DOT text it was rendered from in a PNG text chunk, so a test can
tell a stale diagram without comparing pixels (Graphviz output differs between versions).

    python -m ingestion.diagrams            # regenerate the DOT files and the PNGs (needs `dot`)
    python -m ingestion.diagrams --check    # exit 1 when a committed diagram is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from ingestion.settings import PROJECT_ROOT, Settings
from ingestion.transform import run_dbt

DOCS_DIR = PROJECT_ROOT / "docs"
SOURCES_DIR = DOCS_DIR / "diagrams"
DIAGRAM_NAMES = ("architecture_diagram", "data_model_star_schema")
SOURCE_HASH_KEY = "diagram-source-sha256"
PACKAGE = "equity_analytics"
FONT = "DejaVu Sans"


class DiagramError(RuntimeError):
    """The manifest could not be produced or a diagram could not be rendered."""


# --- reading the manifest -------------------------------------------------------------------


def parse_manifest() -> dict:
    """``dbt parse`` into a temporary folder (no warehouse connection) and load the manifest."""
    with tempfile.TemporaryDirectory(prefix="diagrams-") as tmp:
        settings = Settings(data_dir=Path(tmp), run_id="diagrams")
        result = run_dbt(settings, "parse")
        manifest_path = Path(tmp) / "dbt" / "target" / "manifest.json"
        if not result.success or not manifest_path.exists():
            raise DiagramError("dbt parse failed; run `dbt parse` in dbt_project/ to see why")
        return json.loads(manifest_path.read_text())


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str


@dataclass
class Table:
    name: str
    columns: list[Column]
    grain: str = ""
    key: tuple[str, ...] = ()
    foreign_keys: dict[str, str] = field(default_factory=dict)  # column -> referenced table


def _own_models(manifest: dict) -> list[dict]:
    return sorted(
        (
            n
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["package_name"] == PACKAGE
        ),
        key=lambda n: n["name"],
    )


def _generic_tests(manifest: dict) -> list[dict]:
    return sorted(
        (
            n
            for n in manifest["nodes"].values()
            if n["resource_type"] == "test" and n.get("test_metadata") and n.get("attached_node")
        ),
        key=lambda n: n["unique_id"],
    )


def _is_star_schema(model: dict) -> bool:
    # The frozen v1 contract is the dim_ and fact_ tables; the other gold models are analyst
    # views and tables built on them.
    return model["schema"] == "gold" and model["name"].startswith(("dim_", "fact_"))


def star_schema_tables(manifest: dict) -> list[Table]:
    """The star schema's tables, with their natural keys, foreign keys and grain.

    Keys come from the ``primary_key`` tests (on a column, or with ``columns`` on the model),
    foreign keys from ``relationships`` tests, and the grain
    from ``meta.grain`` when a model declares one, else from its key.
    """
    nodes = manifest["nodes"]
    tables = {
        n["unique_id"]: Table(
            name=n["name"],
            columns=[Column(c["name"], c.get("data_type") or "") for c in n["columns"].values()],
            grain=(n["config"].get("meta") or {}).get("grain")
            or n.get("meta", {}).get("grain", ""),
        )
        for n in _own_models(manifest)
        if _is_star_schema(n)
    }
    for test in _generic_tests(manifest):
        table = tables.get(test["attached_node"])
        if table is None:
            continue
        name, kwargs = test["test_metadata"]["name"], test["test_metadata"]["kwargs"]
        if name == "primary_key":
            table.key = tuple(kwargs.get("columns") or [test["column_name"]])
        elif name == "relationships":
            parent = next(d for d in test["depends_on"]["nodes"] if d != test["attached_node"])
            table.foreign_keys[test["column_name"]] = nodes[parent]["name"]
    for table in tables.values():
        if not table.key:
            raise DiagramError(f"{table.name} has no primary-key test; add one to its YAML")
        table.grain = table.grain or f"one row per ({', '.join(table.key)})"
    return sorted(tables.values(), key=lambda t: (not t.name.startswith("fact_"), t.name))


# --- DOT text -------------------------------------------------------------------------------


def _graph(name: str, lines: Iterable[str], **attrs: str) -> str:
    graph_attrs = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    body = "\n".join(f"  {line}" for line in lines)
    return (
        f'digraph "{name}" {{\n  graph [{graph_attrs}];\n'
        f'  node [fontname="{FONT}" fontsize=11];\n  edge [fontname="{FONT}" fontsize=10];\n'
        f"{body}\n}}\n"
    )


def _table_label(table: Table) -> str:
    colour = "#1f4e79" if table.name.startswith("fact_") else "#38761d"
    rows = [
        f'<TR><TD COLSPAN="3" BGCOLOR="{colour}"><FONT COLOR="white"><B>{table.name}</B></FONT></TD></TR>',
        f'<TR><TD COLSPAN="3" BGCOLOR="#f3f3f3"><I>grain: {escape(table.grain)}</I></TD></TR>',
    ]
    for column in table.columns:
        marks = []
        if column.name in table.key:
            marks.append("PK")
        if column.name in table.foreign_keys:
            marks.append("FK")
        name = f"<B>{column.name}</B>" if marks else column.name
        rows.append(
            f'<TR><TD ALIGN="LEFT" PORT="{column.name}_w">{name}</TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="#666666">{escape(column.data_type)}</FONT></TD>'
            f'<TD PORT="{column.name}_e">{" ".join(marks)}</TD></TR>'
        )
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
        + "".join(rows)
        + "</TABLE>>"
    )


def star_schema_dot(tables: list[Table]) -> str:
    """Facts in the middle, dimensions on either side, one edge per foreign key (many to one)."""
    facts = [t for t in tables if t.foreign_keys]
    dims = [t for t in tables if not t.foreign_keys]
    # Alternate the dimensions left and right of the facts; edges to the left ones are declared
    # dimension -> fact (drawn the same way round), so dot ranks them before the facts.
    left = {d.name for d in dims[::2]}
    lines = [f"{t.name} [shape=plain label={_table_label(t)}];" for t in tables]
    lines.append(f"{{rank=same; {' '.join(f.name for f in facts)}}}")
    for fact in facts:
        for column, dim in sorted(fact.foreign_keys.items()):
            dim_key = next(t.key[0] for t in dims if t.name == dim)
            if dim in left:
                lines.append(
                    f"{dim}:{dim_key}_e:e -> {fact.name}:{column}_w:w "
                    "[dir=both arrowtail=tee arrowhead=crow];"
                )
            else:
                lines.append(
                    f"{fact.name}:{column}_e:e -> {dim}:{dim_key}_w:w "
                    "[dir=both arrowtail=crow arrowhead=tee];"
                )
    return _graph(
        "data_model_star_schema",
        lines,
        rankdir="LR",
        ranksep="1.2",
        nodesep="0.4",
        fontname=FONT,
        labelloc="t",
        fontsize="16",
        label="Gold layer star schema, generated from the dbt manifest "
        "(PK: natural key; FK: relationships test; crow's foot: many)",
    )


def _box(name: str, title: str, lines: Iterable[str], colour: str) -> str:
    body = "".join(f'<BR ALIGN="LEFT"/>{escape(line)}' for line in lines)
    return (
        f'{name} [shape=box style="rounded,filled" fillcolor="{colour}" '
        f'label=<<B>{escape(title)}</B>{body}<BR ALIGN="LEFT"/>>];'
    )


def architecture_dot(manifest: dict) -> str:
    """Sources -> batch ingestion -> bronze -> warehouse layers -> consumers.

    The warehouse boxes list the project's real sources, models and exposures, so adding a
    model or an exposure shows up here after ``make diagrams``.
    """
    models = _own_models(manifest)
    own_sources = [s for s in manifest["sources"].values() if s["package_name"] == PACKAGE]
    raw_tables = sorted(s["name"] for s in own_sources if s["schema"] == "raw")
    # Audit tables written by dbt's run hooks are declared as sources so models can read them.
    hook_tables = sorted(f"{s['name']} (run hook)" for s in own_sources if s["schema"] == "audit")
    seeds = sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "seed" and n["package_name"] == PACKAGE
    )

    def with_materialization(schema: str) -> list[str]:
        """The schema's models in lineage order of their folders: staging before intermediate."""
        in_schema = sorted(
            (m for m in models if m["schema"] == schema),
            key=lambda m: (m["fqn"][1] != "staging", m["name"]),
        )
        return [f"{m['name']} ({m['config']['materialized']})" for m in in_schema]

    gold_tables = [m["name"] for m in models if _is_star_schema(m)]
    analyst_models = [
        f"{m['name']} ({m['config']['materialized']})"
        for m in models
        if m["schema"] == "gold" and not _is_star_schema(m)
    ]
    exposures = sorted(
        f"{e['label'] or e['name']} ({e['type']})"
        for e in manifest["exposures"].values()
        if e["package_name"] == PACKAGE
    )
    lines = [
        "compound=true;",
        "subgraph cluster_sources { label=<<B>Sources</B>> style=dashed;",
        _box("tiingo", "Tiingo EOD REST API", ["daily prices, ticker metadata"], "#fff2cc"),
        _box("holdings", "Portfolio holdings CSV", ["local path or s3:// URI"], "#fff2cc"),
        "}",
        "subgraph cluster_ingestion { label=<<B>Batch ingestion (Python, equity-analytics)</B>> style=dashed;",
        _box(
            "client",
            "Tiingo client",
            [
                "backfill range or incremental from",
                "watermark minus lookback;",
                "retries with backoff",
            ],
            "#dae8fc",
        ),
        _box("validator", "Holdings validator", ["row-level reject reasons"], "#dae8fc"),
        "}",
        _box(
            "loader",
            "Raw loader (Python)",
            ["only objects not in the load ledger;", "DuckDB inserts or Redshift COPY"],
            "#dae8fc",
        ),
        _box(
            "bronze",
            "Bronze: object store (folder or S3)",
            [
                "immutable responses + .meta.json sidecars",
                "tiingo/, portfolios/, _state/ watermarks",
            ],
            "#f8cecc",
        ),
        "subgraph cluster_warehouse { label=<<B>Warehouse: DuckDB (local) or Amazon Redshift</B>> style=dashed;",
        _box("raw", "raw (loaded, values as received)", raw_tables, "#f5f5f5"),
        _box("reference", "reference (dbt seeds)", seeds, "#f5f5f5"),
        _box(
            "silver",
            "silver (dbt staging and intermediate models)",
            with_materialization("silver"),
            "#e1d5e7",
        ),
        _box(
            "audit",
            "audit",
            with_materialization("audit") + hook_tables,
            "#e1d5e7",
        ),
        _box(
            "gold",
            "gold: star schema tables",
            gold_tables,
            "#d5e8d4",
        ),
        _box("gold_views", "gold: analyst views", analyst_models, "#d5e8d4"),
        "}",
        _box(
            "consumers",
            "Analysts and dashboards (SQL)",
            exposures + ["dbt docs site (make docs)"],
            "#fff2cc",
        ),
        _box(
            "orchestrator",
            "Orchestration",
            ["equity-analytics run (CLI)", "Airflow DAG: daily after the close"],
            "#ffe6cc",
        ),
        "tiingo -> client [label=HTTPS];",
        "holdings -> validator;",
        "client -> bronze; validator -> bronze;",
        'bronze -> loader [label="new objects"];',
        "loader -> raw;",
        'raw -> silver [label="dbt: type, dedupe, validate"];',
        "reference -> silver;",
        'silver -> gold [label="dbt: KPIs (incremental)"];',
        "silver -> audit [label=rejects];",
        "gold -> gold_views;",
        "gold -> consumers; gold_views -> consumers; audit -> consumers;",
        "orchestrator -> client [style=dashed arrowhead=open];",
        "orchestrator -> loader [style=dashed arrowhead=open];",
        'orchestrator -> silver [style=dashed arrowhead=open label="dbt build" lhead=cluster_warehouse];',
    ]
    return _graph(
        "architecture_diagram",
        lines,
        rankdir="TB",
        nodesep="0.3",
        fontname=FONT,
        labelloc="t",
        fontsize="16",
        label="US Equity Portfolio & Risk Analytics Platform (generated from the dbt manifest)",
    )


def diagram_sources(manifest: dict) -> dict[str, str]:
    return {
        "architecture_diagram": architecture_dot(manifest),
        "data_model_star_schema": star_schema_dot(star_schema_tables(manifest)),
    }


# --- PNG rendering and its provenance stamp ---------------------------------------------------


def source_sha256(dot: str) -> str:
    return hashlib.sha256(dot.encode()).hexdigest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_text_chunks(png: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG as {keyword: text}."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise DiagramError("not a PNG file")
    chunks, offset = {}, 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        if kind == b"tEXt":
            key, _, text = data.partition(b"\0")
            chunks[key.decode("latin-1")] = text.decode("latin-1")
        offset += 12 + length
    return chunks


def render_png(dot: str) -> bytes:
    """Render with Graphviz ``dot`` and stamp the source's SHA-256 into a tEXt chunk."""
    try:
        png = subprocess.run(
            ["dot", "-Tpng", "-Gdpi=110"], input=dot.encode(), capture_output=True, check=True
        ).stdout
    except FileNotFoundError as error:
        raise DiagramError(
            "Graphviz `dot` is not installed: `make debian-packages` installs it"
        ) from error
    except subprocess.CalledProcessError as error:
        raise DiagramError(f"dot failed: {error.stderr.decode()}") from error
    stamp = _chunk(b"tEXt", SOURCE_HASH_KEY.encode() + b"\0" + source_sha256(dot).encode())
    end = png.rindex(b"IEND") - 4  # the IEND chunk starts with its 4-byte length
    return png[:end] + stamp + png[end:]


def write_diagrams(sources: dict[str, str]) -> list[Path]:
    SOURCES_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, dot in sources.items():
        (SOURCES_DIR / f"{name}.dot").write_text(dot)
        (DOCS_DIR / f"{name}.png").write_bytes(render_png(dot))
        written += [SOURCES_DIR / f"{name}.dot", DOCS_DIR / f"{name}.png"]
    return written


def stale_diagrams(sources: dict[str, str]) -> list[str]:
    """Why the committed diagrams do not match ``sources`` (empty when they are current)."""
    problems = []
    for name, dot in sources.items():
        dot_path, png_path = SOURCES_DIR / f"{name}.dot", DOCS_DIR / f"{name}.png"
        if not dot_path.exists() or dot_path.read_text() != dot:
            problems.append(f"{dot_path.relative_to(PROJECT_ROOT)} differs from the dbt manifest")
        if not png_path.exists():
            problems.append(f"{png_path.relative_to(PROJECT_ROOT)} is missing")
        elif png_text_chunks(png_path.read_bytes()).get(SOURCE_HASH_KEY) != source_sha256(dot):
            problems.append(f"{png_path.relative_to(PROJECT_ROOT)} was not rendered from it")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a diagram is stale")
    args = parser.parse_args(argv)
    sources = diagram_sources(parse_manifest())
    if args.check:
        problems = stale_diagrams(sources)
        for problem in problems:
            print(f"stale: {problem} (run `make diagrams`)", file=sys.stderr)
        return 1 if problems else 0
    for path in write_diagrams(sources):
        print(f"wrote {path.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
