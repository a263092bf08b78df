"""The dbt docs site, generated on the built sample warehouse, renders in a real headless browser:
the overview page and the six gold tables with their descriptions, columns and catalog types."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingestion.transform import run_dbt

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (`make debian-packages` installs it as root), "
    "so the docs site could not be opened in a browser",
)
GOLD_TABLES = (
    "dim_date",
    "dim_security",
    "dim_portfolio",
    "fact_market_price_daily",
    "fact_portfolio_position_daily",
    "fact_portfolio_performance_daily",
)
# Chromium's own background connections go nowhere here (no network beyond loopback).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
    "--dump-dom",
)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def docs_target(built_sample_warehouse) -> Path:
    """``dbt docs generate`` (manifest + catalog + index.html) on the built warehouse."""
    settings = built_sample_warehouse.settings
    result = run_dbt(settings, "docs generate")
    assert result.success, "dbt docs generate failed"
    return settings.data_dir.resolve() / "dbt" / "target"


@pytest.fixture(scope="module")
def docs_url(docs_target: Path) -> Iterator[str]:
    """The site served over HTTP on loopback (the page fetches manifest.json and catalog.json)."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(QuietHandler, directory=str(docs_target))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def rendered_dom(url: str, profile: Path) -> str:
    completed = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def plain_prefix(description: str, length: int = 40) -> str:
    """The description's opening words up to the first Markdown markup, as the DOM shows them."""
    text = re.split(r"[`*_\[{<&\n]", description.strip(), maxsplit=1)[0]
    return html.escape(text[:length].rstrip(), quote=False)


def test_overview_page_renders_the_overview_docs_block(docs_url, tmp_path):
    dom = rendered_dom(f"{docs_url}#!/overview", tmp_path / "profile")

    overview = dom[dom.index('marked="overview_md"') :]
    assert re.search(r"<h1[^>]*>US Equity Portfolio &amp; Risk Analytics</h1>", overview)
    assert re.search(r"<h2[^>]*>How to query the marts</h2>", overview)
    assert re.search(r"Every number in <span[^>]*><code>gold</code></span> traces back", overview)


@pytest.mark.parametrize("table", GOLD_TABLES)
def test_gold_table_page_renders_its_description_columns_and_types(
    docs_url, docs_target, table, tmp_path
):
    manifest = json.loads((docs_target / "manifest.json").read_text())
    model = manifest["nodes"][f"model.equity_analytics.{table}"]

    dom = rendered_dom(f"{docs_url}#!/model/{model['unique_id']}", tmp_path / "profile")

    assert re.search(rf'<h1>\s*<span class="break ng-binding">{table}</span>', dom)
    description = re.search(r'marked="model\.description"[^>]*><p>(.{0,200})', dom, re.S)
    assert description, f"{table}: no rendered description"
    assert description.group(1).startswith(plain_prefix(model["description"]))
    # Every documented column is listed with its description and its catalog (warehouse) type.
    for column in model["columns"].values():
        prefix = plain_prefix(column["description"])
        if len(prefix) >= 8:
            assert f'class="ng-binding">{prefix}' in dom, f"{table}.{column['name']}"
    assert re.search(r'<span class="text-dark ng-binding">(DATE|VARCHAR|DOUBLE)', dom)
