"""Benchmark: a full backfill and one daily increment on a scaled synthetic market.

Everything goes through the production code: the sample Tiingo server on loopback, the Tiingo
client, bronze, the raw loader and the dbt build (``ingestion.pipeline``). Each scale runs in its
own process so its peak memory (max RSS, server and market included) is measured separately.

    .venv/bin/python bench/run_benchmark.py                  # 500 securities, 10 and 20 years
    .venv/bin/python bench/run_benchmark.py --years 10 --securities 100 --portfolios 20
    .venv/bin/python bench/run_benchmark.py --keep-run-results /tmp/bench   # per-node timings

With two scales or more, the daily build is also timed on copies of each scale's warehouse as the
backfill left it, the scales taking turns in one process (``--alternate-rounds``): the machine's
speed drifts by more between the scales' runs than the growth with history the comparison looks
for, and taking turns spreads that drift over both. As many builds again per scale report the
seconds the warehouse spent on the daily build's statements, the part that can grow with history.

Results are printed as a table and as JSON (for docs/performance.md). With
``--keep-run-results``, each build's ``run_results.json`` (dbt's per-node timings) is copied to
``DIR/<years>y_<step>.json``, to see which nodes grow with history, and each alternating daily
build's to ``DIR/<years>y_alternating_<turn>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

MODELS_ONLY = ("--exclude", "resource_type:test", "resource_type:unit_test")
LAST_SESSION = date(2024, 12, 31)


def synthetic_universe(count: int, first_year: int):  # type: ignore[no-untyped-def]
    """``count`` synthetic stocks with quarterly dividends for every year, plus SPY."""
    from ingestion.calendar import first_session_on_or_after
    from ingestion.sample_market import GICS_SECTORS, UNIVERSE, SecuritySpec

    rng = random.Random(7)
    years = range(first_year, LAST_SESSION.year + 1)

    def quarterly(month: int, day: int) -> tuple[date, ...]:
        return tuple(
            first_session_on_or_after(date(year, m, day))
            for year in years
            for m in range(month, 13, 3)
        )

    spy = replace(UNIVERSE[0], dividend_dates=quarterly(3, 15))
    stocks = [
        SecuritySpec(
            ticker=f"S{i:04d}",
            name=f"Synthetic {i}",
            sector=GICS_SECTORS[i % len(GICS_SECTORS)],
            industry="Synthetic",
            exchange="NYSE",
            start_price=round(rng.uniform(10, 500), 2),
            beta=round(rng.uniform(0.5, 1.6), 2),
            idio_vol=round(rng.uniform(0.1, 0.4), 2),
            dividend_yield=round(rng.choice([0.0, 0.01, 0.02, 0.03]), 3),
            avg_volume=rng.randint(100_000, 10_000_000),
            dividend_dates=quarterly(rng.randint(1, 3), rng.randint(1, 28)),
        )
        for i in range(count)
    ]
    return [spy, *stocks]


def holdings_csv(tickers: list[str], portfolios: int, holdings: int, inception: date) -> str:
    rng = random.Random(11)
    lines = ["portfolio_id,portfolio_name,ticker,shares,inception_date"]
    for p in range(portfolios):
        for ticker in rng.sample(tickers, holdings):
            lines.append(f"P{p:03d},Portfolio {p},{ticker},{rng.randint(1, 500)},{inception}")
    return "\n".join(lines) + "\n"


def timed(step, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = step(*args, **kwargs)
    return result, round(time.perf_counter() - started, 2)


def history_start(years: int) -> date:
    from ingestion.calendar import first_session_on_or_after

    return first_session_on_or_after(date(LAST_SESSION.year - years + 1, 1, 1))


def run_scale(
    years: int,
    securities: int,
    portfolios: int,
    holdings: int,
    keep_run_results: Path | None,
    snapshot: Path | None,
) -> dict:
    """One scale in this process: backfill to the day before the last session, then one day.

    With ``snapshot``, the warehouse and dbt's folder are copied there just before the daily
    build, for ``alternate_daily_builds``, and the scale is built in the folder next to it
    that those builds use, removed at the end: a daily run finds its data folder where the
    last one left it, and dbt's partial parse is valid only for the same profile, which
    holds the warehouse's path.
    """
    from ingestion import pipeline
    from ingestion.calendar import sessions_back
    from ingestion.sample_market import SampleMarket, SampleTiingoServer
    from ingestion.settings import Settings, new_run_id
    from ingestion.transform import artifacts_dir

    start = history_start(years)
    universe = synthetic_universe(securities, start.year)
    market, market_seconds = timed(SampleMarket, start=start, end=LAST_SESSION, universe=universe)
    report: dict = {
        "years": years,
        "securities": securities,
        "portfolios": portfolios,
        "holdings_per_portfolio": holdings,
        "sessions": len(market.sessions),
        "market_generation_s": market_seconds,
    }
    token = secrets.token_hex(20)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SampleTiingoServer(market, token=token, as_of=sessions_back(LAST_SESSION, 1)) as server,
    ):
        csv = Path(tmp) / "holdings.csv"
        stock_tickers = [spec.ticker for spec in universe[1:]]
        csv.write_text(holdings_csv(stock_tickers, portfolios, holdings, start))
        settings = Settings(
            data_dir=alternation_folder(snapshot.parent) if snapshot else Path(tmp) / "data",
            portfolios=str(csv),
            history_start=start,
        ).with_tiingo(base_url=server.base_url, api_key=token)

        def keep(step: str) -> None:
            if keep_run_results is not None:
                keep_run_results.mkdir(parents=True, exist_ok=True)
                run_results = artifacts_dir(settings) / "target" / "run_results.json"
                shutil.copyfile(run_results, keep_run_results / f"{years}y_{step}.json")

        for phase in ("backfill", "daily"):
            if phase == "daily":
                server.advance_to(LAST_SESSION)
            run = replace(settings, run_id=new_run_id())
            _, report[f"{phase}_ingest_s"] = timed(pipeline.run_ingest, run)
            _, report[f"{phase}_load_s"] = timed(pipeline.run_load, run)
            if phase == "daily" and snapshot is not None:
                copy_warehouse(settings.data_dir, snapshot)
            result, report[f"{phase}_dbt_build_s"] = timed(pipeline.run_transform, run)
            assert result.success, result.counts
            keep(f"{phase}_dbt_build")
            rerun = replace(settings, run_id=new_run_id())
            if phase == "backfill":
                # The same day again, as a scheduled rerun builds it.
                result, report["backfill_rerun_s"] = timed(pipeline.run_transform, rerun)
                assert result.success, result.counts
                keep("backfill_rerun")
            else:
                # The increment again, models only: what the recompute itself costs. Last,
                # because a partial build makes the next daily build build every seed and view
                # (docs: daily_build_state).
                _, report["daily_rerun_models_only_s"] = timed(
                    pipeline.run_transform, rerun, MODELS_ONLY
                )
                keep("daily_rerun_models_only")
        with_full_refresh = replace(settings, run_id=new_run_id())
        _, report["full_refresh_models_only_s"] = timed(
            pipeline.run_transform, with_full_refresh, ("--full-refresh", *MODELS_ONLY)
        )
        keep("full_refresh_models_only")
        report["gold_rows"] = pipeline.warehouse_report(settings).table_rows
        if snapshot:
            shutil.rmtree(settings.data_dir)
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


def alternation_folder(snapshots: Path) -> Path:
    """The data folder of every scale's build and of the alternating daily builds."""
    return snapshots / "work"


def copy_warehouse(data_dir: Path, to: Path) -> None:
    """A data folder's warehouse file and dbt's folder (its saved state), without the bronze
    objects a daily build does not read."""
    from ingestion.settings import Settings
    from ingestion.transform import artifacts_dir

    source, copy = Settings(data_dir=data_dir), Settings(data_dir=to)
    to.mkdir(parents=True)
    shutil.copyfile(source.duckdb_path, copy.duckdb_path)
    shutil.copytree(artifacts_dir(source), artifacts_dir(copy))


def statement_seconds(dbt_folder: Path) -> float:
    """Seconds the warehouse spent on the statements of the last dbt command in ``dbt_folder``:
    the ``SQLQueryStatus`` events of dbt's log, written as JSON at debug level. The log also
    holds the earlier commands' lines, copied with the warehouse; the run's invocation id
    tells them apart."""
    invocation = json.loads((dbt_folder / "target" / "run_results.json").read_text())
    invocation_id = invocation["metadata"]["invocation_id"]
    seconds = 0.0
    for line in (dbt_folder / "logs" / "dbt.log").read_text().splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if (
            event["info"]["name"] == "SQLQueryStatus"
            and event["info"]["invocation_id"] == invocation_id
        ):
            seconds += event["data"]["elapsed"]
    return seconds


def alternate_daily_builds(
    snapshots: Path, scales: list[int], rounds: int, keep_run_results: Path | None
) -> dict[str, dict[int, float]]:
    """Medians per scale of the daily build's seconds (``wall``) and of its statements' seconds
    in the warehouse (``statements``), the scales taking turns in this process.

    Each build runs on a fresh copy of the scale's snapshot. ``os.sync()`` first: a build that
    starts while the kernel still writes the 1-2 GB copy back is slower on every node. The
    statements are timed in rounds of their own, after the timed ones: dbt's debug log costs
    time of its own. They are the part of the build that can grow with history; the rest is
    dbt's Python work per node, the same at every scale.
    """
    from ingestion import pipeline
    from ingestion.settings import Settings, new_run_id
    from ingestion.transform import artifacts_dir

    work = alternation_folder(snapshots)

    def daily_build(years: int, name: str | None = None) -> tuple[float, Path]:
        shutil.rmtree(work, ignore_errors=True)
        copy_warehouse(snapshots / f"{years}y", work)
        os.sync()
        settings = Settings(data_dir=work, history_start=history_start(years))
        result, seconds = timed(pipeline.run_transform, replace(settings, run_id=new_run_id()))
        assert result.success, result.counts
        if keep_run_results is not None and name is not None:
            run_results = artifacts_dir(settings) / "target" / "run_results.json"
            shutil.copyfile(run_results, keep_run_results / name)
        return seconds, artifacts_dir(settings)

    def in_turns() -> list[int]:
        return [
            years for turn in range(rounds) for years in (scales if turn % 2 == 0 else scales[::-1])
        ]

    daily_build(scales[0])  # not timed: the first dbt command in a process imports dbt
    wall: dict[int, list[float]] = {years: [] for years in scales}
    for build, years in enumerate(in_turns()):
        turn = build // len(scales) + 1
        wall[years].append(daily_build(years, f"{years}y_alternating_{turn}.json")[0])
    os.environ["DBT_LOG_LEVEL_FILE"] = "debug"
    os.environ["DBT_LOG_FORMAT_FILE"] = "json"
    statements: dict[int, list[float]] = {years: [] for years in scales}
    for years in in_turns():
        statements[years].append(statement_seconds(daily_build(years)[1]))
    shutil.rmtree(work)
    return {
        "wall": {years: round(statistics.median(wall[years]), 2) for years in scales},
        "statements": {years: round(statistics.median(statements[years]), 2) for years in scales},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--years",
        type=int,
        nargs="+",
        default=[10, 20],
        help="lengths of history to measure, each in its own process, ending 2024-12-31",
    )
    parser.add_argument(
        "--securities", type=int, default=500, help="synthetic stocks in the market, plus SPY"
    )
    parser.add_argument("--portfolios", type=int, default=100, help="portfolios in the holdings")
    parser.add_argument("--holdings", type=int, default=30, help="holdings per portfolio")
    parser.add_argument(
        "--keep-run-results",
        type=Path,
        metavar="DIR",
        help="copy each build's run_results.json here",
    )
    parser.add_argument(
        "--alternate-rounds",
        type=int,
        default=4,
        help="with two scales or more: daily builds per scale on copies of the warehouses, "
        "the scales taking turns in one process, and as many again to time their statements "
        "(0: none)",
    )
    parser.add_argument("--one-scale", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--alternate-in", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.alternate_in:
        medians = alternate_daily_builds(
            args.alternate_in, args.years, args.alternate_rounds, args.keep_run_results
        )
        print(json.dumps(medians))
        return
    if args.one_scale:
        report = run_scale(
            args.years[0],
            args.securities,
            args.portfolios,
            args.holdings,
            args.keep_run_results,
            args.snapshot,
        )
        print(json.dumps(report))
        return
    alternate = args.alternate_rounds > 0 and len(args.years) > 1
    keep_args = (
        ["--keep-run-results", str(args.keep_run_results.resolve())]
        if args.keep_run_results
        else []
    )
    reports = []
    with tempfile.TemporaryDirectory() as snapshots:
        for years in args.years:
            command = [
                sys.executable, __file__, "--one-scale", "--years", str(years),
                "--securities", str(args.securities), "--portfolios", str(args.portfolios),
                "--holdings", str(args.holdings),
                *keep_args,
                *(["--snapshot", str(Path(snapshots) / f"{years}y")] if alternate else []),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(reports[-1], indent=2), flush=True)
        if alternate:
            # In a process of its own too: dbt prints its log to this one's output.
            command = [
                sys.executable, __file__, "--alternate-in", snapshots,
                "--years", *map(str, args.years), "--alternate-rounds", str(args.alternate_rounds),
                *keep_args,
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            medians = json.loads(done.stdout.strip().splitlines()[-1])
            alternating = {
                "daily_dbt_build_alternating_median_s": medians["wall"],
                "daily_statements_alternating_median_s": medians["statements"],
            }
            for report in reports:
                for key, per_scale in alternating.items():
                    report[key] = per_scale[str(report["years"])]
            print(json.dumps(alternating), flush=True)
    keys = [k for k in reports[0] if k.endswith("_s") or k == "peak_rss_mib"]
    print("\n| measure | " + " | ".join(f"{r['years']} years" for r in reports) + " |")
    print("|---|" + "---|" * len(reports))
    for key in keys:
        print(f"| {key} | " + " | ".join(str(r[key]) for r in reports) + " |")


if __name__ == "__main__":
    main()
