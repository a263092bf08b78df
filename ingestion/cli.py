"""``equity-analytics``: the command-line entry point (a thin shell over ``ingestion.pipeline``).

Every option can also be set through the environment variable named in its help; flags win.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingestion import pipeline
from ingestion.holdings import HoldingsFileError
from ingestion.ingest import IngestSummary
from ingestion.load import LoadSummary
from ingestion.loaders.redshift_loader import RedshiftLoadError
from ingestion.object_store import ObjectStoreError
from ingestion.settings import ConfigError, Settings
from ingestion.tiingo_client import RetryEvent, TiingoError
from ingestion.transform import TransformError

# soft_wrap: summaries stay one line each, whatever the terminal width (logs are grepped).
console = Console(stderr=True, soft_wrap=True)
DATE = click.DateTime(formats=["%Y-%m-%d"])

EXPECTED_ERRORS = (
    ConfigError,
    HoldingsFileError,
    ObjectStoreError,
    RedshiftLoadError,
    TiingoError,
    TransformError,
)


class PartialFailure(click.ClickException):
    exit_code = 3


def _as_date(value: object) -> date | None:
    return value.date() if value is not None else None  # type: ignore[union-attr]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Local data folder holding bronze/ and warehouse.duckdb. [env EQUITY_DATA_DIR; default ./data]",
)
@click.option(
    "--portfolios",
    help="Holdings CSV: a local path or an s3:// URI. [env EQUITY_PORTFOLIOS; default: the bundled sample portfolios]",
)
@click.option(
    "--target",
    type=click.Choice(["duckdb", "redshift"]),
    help="Warehouse target. [env EQUITY_TARGET; default duckdb]",
)
@click.option(
    "--bronze-uri",
    help="Bronze object store: a folder or s3://bucket/prefix. [env EQUITY_BRONZE_URI; default <data-dir>/bronze]",
)
@click.option(
    "--s3-endpoint-url",
    help="S3 endpoint override, e.g. a local S3 API server. [env EQUITY_S3_ENDPOINT_URL]",
)
@click.option(
    "--lookback-sessions",
    type=click.IntRange(min=0),
    help="Sessions re-read before each ticker's watermark to pick up vendor corrections. [env EQUITY_LOOKBACK_SESSIONS; default 5]",
)
@click.option(
    "--fetch-workers",
    type=click.IntRange(min=1),
    help="Tickers fetched from Tiingo at the same time. [env EQUITY_FETCH_WORKERS; default 4]",
)
@click.option(
    "--extra-tickers",
    help="Comma-separated tickers to ingest besides the holdings and SPY. [env EQUITY_EXTRA_TICKERS]",
)
@click.option(
    "--tiingo-base-url",
    help="Tiingo API base URL. [env TIINGO_BASE_URL; default https://api.tiingo.com] The token is read only from TIINGO_API_KEY.",
)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int, extra_tickers: str | None, **options: object) -> None:
    """US Equity Portfolio & Risk Analytics: Tiingo prices and portfolio holdings into bronze,
    the warehouse's raw schema, and the dbt silver and gold layers.

    \b
    Typical use:
      equity-analytics run --sample-market     # everything, on the bundled synthetic market
      equity-analytics ingest --start 2024-01-02 --end 2024-06-28   # backfill a range
      equity-analytics ingest                  # incremental, from each ticker's watermark
      equity-analytics load                    # bronze -> raw, only objects not loaded yet
      equity-analytics transform --select marts   # dbt build with selection arguments
      equity-analytics reprocess --from 2024-03-01   # recompute gold from a session, from bronze
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if extra_tickers is not None:
        options["extra_tickers"] = tuple(
            t.strip().upper() for t in extra_tickers.split(",") if t.strip()
        )
    try:
        ctx.obj = Settings.from_env(**options)
    except ConfigError as error:
        raise click.UsageError(str(error)) from error


@contextmanager
def _errors_as_messages() -> Iterator[None]:
    try:
        yield
    except EXPECTED_ERRORS as error:
        raise click.ClickException(str(error)) from error


def _date_options(func):  # type: ignore[no-untyped-def]
    func = click.option(
        "--end", type=DATE, help="Last session to fetch (YYYY-MM-DD). Default: the latest session."
    )(func)
    func = click.option(
        "--start",
        type=DATE,
        help="First session to fetch (YYYY-MM-DD). With --start this is a backfill; without, an incremental run from each ticker's watermark.",
    )(func)
    return click.option(
        "--sample-market",
        is_flag=True,
        help="Serve the bundled synthetic market on loopback and ingest from it (no API key needed).",
    )(func)


@main.command("ingest")
@_date_options
@click.pass_obj
def ingest_command(settings: Settings, start: object, end: object, sample_market: bool) -> None:
    """Fetch holdings, prices and ticker metadata into the bronze store."""
    with _errors_as_messages():
        summary = _ingest(settings, _as_date(start), _as_date(end), sample_market)
    _print_ingest(summary)
    _fail_if_partial(summary, None)


@main.command("load")
@click.pass_obj
def load_command(settings: Settings) -> None:
    """Load bronze objects not loaded yet into the warehouse's raw schema (idempotent)."""
    with _errors_as_messages():
        summary = pipeline.run_load(settings)
    _print_load(summary)
    _fail_if_partial(None, summary)


@main.command("transform", context_settings={"ignore_unknown_options": True})
@click.option(
    "--test-all-rows",
    is_flag=True,
    help="Data tests check whole tables, not only the sessions this build changed, the "
    "tests tagged invariant run too, and every seed and view is built, changed or not (for a "
    "weekly or post-migration check; slower on long histories).",
)
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def transform_command(settings: Settings, test_all_rows: bool, dbt_args: tuple[str, ...]) -> None:
    """Run `dbt build` on the configured target; extra arguments go to dbt (e.g. --select marts)."""
    dbt_vars = {"data_tests_scope": "all"} if test_all_rows else None
    with _errors_as_messages():
        result = pipeline.run_transform(settings, dbt_args, dbt_vars)
    _print_transform(result)
    if not result.success:
        raise PartialFailure("dbt build reported failures; see the output above")


@main.command("run")
@_date_options
@click.option("--skip-transform", is_flag=True, help="Stop after loading raw (no dbt build).")
@click.pass_obj
def run_command(
    settings: Settings, start: object, end: object, sample_market: bool, skip_transform: bool
) -> None:
    """Ingest, load and transform in one go, then print what the warehouse holds."""
    with _errors_as_messages():
        ingest_summary = _ingest(settings, _as_date(start), _as_date(end), sample_market)
        _print_ingest(ingest_summary)
        load_summary = pipeline.run_load(settings)
        _print_load(load_summary)
        result = None
        if not skip_transform:
            console.print("[bold]Transform[/]: dbt build ...")
            result = pipeline.run_transform(settings)
            _print_transform(result)
    _print_report(pipeline.warehouse_report(settings))
    if result is not None and not result.success:
        raise PartialFailure("dbt build reported failures; see the output above")
    _fail_if_partial(ingest_summary, load_summary)


@main.command("reprocess")
@click.option(
    "--from",
    "start",
    type=DATE,
    required=True,
    help="First session to reprocess (YYYY-MM-DD); every gold row from it on is recomputed.",
)
@click.option(
    "--to",
    "end",
    type=DATE,
    help="Last session to restore or re-fetch (YYYY-MM-DD). Default: the latest session.",
)
@click.option(
    "--refetch",
    is_flag=True,
    help="Fetch the range from the vendor again first (needs TIINGO_API_KEY); without it no API call is made.",
)
@click.pass_obj
def reprocess_command(settings: Settings, start: object, end: object, refetch: bool) -> None:
    """Reload sessions from bronze and recompute every gold row from the first of them.

    Raw rows of the range that bronze holds but raw lacks are restored, then dbt recomputes
    every security and portfolio from --from (later sessions depend on it through cumulative
    returns, drawdowns and rolling windows).
    """
    with _errors_as_messages():
        first: date = _as_date(start)  # type: ignore[assignment]
        summary = pipeline.run_reprocess(settings, first, _as_date(end), refetch=refetch)
    if summary.ingest is not None:
        _print_ingest(summary.ingest)
    _print_load(summary.load)
    console.print(
        f"[bold]Reprocess[/]: {summary.bronze_objects_read} bronze price objects read, "
        f"{summary.raw_rows_restored:,} raw rows restored; gold recomputed from {summary.start}"
    )
    _print_transform(summary.transform)
    if not summary.transform.success:
        raise PartialFailure("dbt build reported failures; see the output above")


@main.command("serve-sample")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--as-of", type=DATE, help="The server's 'today' (default: the sample's last session)."
)
def serve_sample_command(host: str, port: int, as_of: object) -> None:
    """Serve the synthetic sample market with Tiingo's API on HOST:PORT until interrupted.

    The server accepts the token in TIINGO_API_KEY, so a client with the same environment and
    TIINGO_BASE_URL=http://HOST:PORT talks to it exactly as to Tiingo.
    """
    import os

    from ingestion.sample_market import serve

    token = os.environ.get("TIINGO_API_KEY", "")
    if not token:
        raise click.UsageError("set TIINGO_API_KEY to the token the sample server should accept")
    console.print(f"Serving the synthetic sample market on http://{host}:{port} (Ctrl+C to stop)")
    serve(host, port, token, _as_date(as_of))


def _ingest(
    settings: Settings, start: date | None, end: date | None, sample_market: bool
) -> IngestSummary:
    api = pipeline.sample_market_api(settings) if sample_market else nullcontext(settings)
    with api as api_settings, _ingest_progress() as progress:
        return pipeline.run_ingest(api_settings, start=start, end=end, **progress)


@contextmanager
def _ingest_progress() -> Iterator[dict]:
    """Progress of a (possibly long) backfill: tickers done / total, rows, retries."""
    columns = (
        TextColumn("[bold]Ingest[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "tickers · {task.fields[rows]:,} rows · {task.fields[retries]} retries · {task.fields[ticker]}"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("ingest", total=None, rows=0, retries=0, ticker="")

        def on_universe(tickers: list[str]) -> None:
            bar.update(task, total=len(tickers))

        def on_ticker_done(ticker: str, rows: int) -> None:
            fields = bar.tasks[task].fields
            bar.update(task, advance=1, rows=fields["rows"] + rows, ticker=ticker)

        def on_retry(event: RetryEvent) -> None:
            fields = bar.tasks[task].fields
            bar.update(
                task, retries=fields["retries"] + 1, ticker=f"{event.ticker}: {event.reason}"
            )

        yield {"on_universe": on_universe, "on_ticker_done": on_ticker_done, "on_retry": on_retry}


def _print_ingest(summary: IngestSummary) -> None:
    holdings = summary.holdings
    stored = "stored" if holdings.newly_stored else "unchanged, already in bronze"
    console.print(
        f"[bold]Ingest[/]: {len(summary.tickers)} tickers, {summary.price_rows:,} price rows, "
        f"{summary.objects_written} objects written; holdings file {stored} "
        f"({len(holdings.rows)} rows, {len(holdings.rejected)} rejected)"
    )
    for row in holdings.rejected:
        console.print(f"  rejected holding row {row.source_row_number}: {row.reject_reason}")
    for ticker in summary.not_found:
        console.print(f"  rejected ticker {ticker}: not found at the vendor (404)")
    for ticker, reason in summary.unavailable.items():
        console.print(f"  [red]ticker {ticker} not fetched[/]: {reason}")


def _print_load(summary: LoadSummary) -> None:
    console.print(
        f"[bold]Load[/]: {summary.objects_loaded} new objects ({summary.objects_already_loaded} already loaded), "
        f"{summary.bronze_rows:,} bronze rows -> {summary.rows_inserted:,} raw rows inserted, "
        f"{summary.rows_unchanged:,} unchanged; reconciled: {'yes' if summary.reconciled else 'NO'}"
    )
    for key, reason in summary.failed.items():
        console.print(f"  [red]not loaded[/] {key}: {reason}")


def _print_transform(result: object) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))  # type: ignore[attr-defined]
    console.print(
        f"[bold]Transform[/]: dbt build {'succeeded' if result.success else 'FAILED'} ({counts})"
    )  # type: ignore[attr-defined]


def _print_report(report: pipeline.WarehouseReport) -> None:
    table = Table(title="Warehouse contents", title_justify="left")
    table.add_column("layer.table")
    table.add_column("rows", justify="right")
    for name, rows in report.table_rows.items():
        table.add_row(name, f"{rows:,}")
    out = Console(soft_wrap=True)
    out.print(table)
    if report.first_session:
        out.print(
            f"{report.tickers} tickers, {report.sessions} sessions "
            f"({report.first_session} .. {report.last_session})"
        )
    if report.rejects:
        rejects = ", ".join(f"{reason}: {n}" for reason, n in report.rejects.items())
        out.print(f"Rejected records: {rejects} (query them in the rejected_records model)")
    out.print(f"Warehouse: {report.location}")


def _fail_if_partial(
    ingest_summary: IngestSummary | None, load_summary: LoadSummary | None
) -> None:
    problems = []
    if ingest_summary and ingest_summary.unavailable:
        problems.append(f"{len(ingest_summary.unavailable)} tickers could not be fetched")
    if load_summary and load_summary.failed:
        problems.append(f"{len(load_summary.failed)} bronze objects could not be loaded")
    if problems:
        raise PartialFailure("; ".join(problems) + " (the rest was processed; rerun to retry)")


if __name__ == "__main__":
    sys.exit(main())
