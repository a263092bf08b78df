"""bench/run_benchmark.py at a tiny scale: it runs the production pipeline and reports real rows.

Timings are not asserted (the benchmark is a script, not a timed test); what is asserted is that
every step ran, built the rows the scale implies and that the daily build skipped what it should.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "bench" / "run_benchmark.py"
STEPS = (
    "backfill_dbt_build",
    "backfill_rerun",
    "daily_dbt_build",
    "daily_rerun_models_only",
    "full_refresh_models_only",
)


def node_kinds(run_results: Path) -> Counter[str]:
    results = json.loads(run_results.read_text())["results"]
    assert {r["status"] for r in results} <= {"success", "pass", "no-op"}, run_results.name
    return Counter(r["unique_id"].split(".")[0] for r in results)


def test_the_benchmark_builds_the_scale_it_reports(tmp_path: Path) -> None:
    kept = tmp_path / "run_results"
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--years", "2", "1", "--securities", "6"]
        + ["--portfolios", "3", "--holdings", "4", "--keep-run-results", str(kept)]
        + ["--alternate-rounds", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    decoder = json.JSONDecoder()
    report, end = decoder.raw_decode(done.stdout)
    one_year, end = decoder.raw_decode(done.stdout, end + 1)
    alternating, _ = decoder.raw_decode(done.stdout, end + 1)

    sessions = report["sessions"]
    assert sessions == 502  # NYSE sessions of 2023 and 2024
    rows = report["gold_rows"]
    assert rows["gold.fact_market_price_daily"] == 7 * sessions  # 6 stocks and SPY
    assert rows["gold.fact_portfolio_performance_daily"] == 3 * sessions
    assert rows["gold.fact_portfolio_position_daily"] == 3 * 4 * sessions
    assert rows["audit.rejected_records"] == 0
    assert all(report[f"{step}_s"] > 0 for step in STEPS)
    assert "| daily_dbt_build_s |" in done.stdout
    assert one_year["sessions"] == 252  # 2024
    assert one_year["gold_rows"]["gold.fact_portfolio_performance_daily"] == 3 * 252
    # The daily builds on copies of both warehouses, taking turns (each asserted a success).
    for key in ("daily_dbt_build_alternating_median_s", "daily_statements_alternating_median_s"):
        medians = alternating[key]
        assert set(medians) == {"2", "1"} and all(seconds > 0 for seconds in medians.values())
        assert f"| {key} | {medians['2']} | {medians['1']} |" in done.stdout
    # The statements are part of the build.
    for years in ("2", "1"):
        statements = alternating["daily_statements_alternating_median_s"][years]
        assert statements < alternating["daily_dbt_build_alternating_median_s"][years]

    kinds = {step: node_kinds(kept / f"2y_{step}.json") for step in STEPS}
    assert kinds["backfill_dbt_build"]["seed"] == 2
    # Reruns and the daily build come after a complete build: seeds and views left out.
    for step in ("backfill_rerun", "daily_dbt_build"):
        assert kinds[step]["seed"] == 0
        assert 0 < kinds[step]["model"] < kinds["backfill_dbt_build"]["model"]
        assert kinds[step]["test"] > 0
    # The alternating builds are daily builds too, of the same nodes as the scale's own one.
    for years in ("2", "1"):
        for turn in (1, 2):
            kept_kinds = node_kinds(kept / f"{years}y_alternating_{turn}.json")
            assert kept_kinds == node_kinds(kept / f"{years}y_daily_dbt_build.json")
    for step in ("daily_rerun_models_only", "full_refresh_models_only"):
        assert kinds[step]["test"] == 0
