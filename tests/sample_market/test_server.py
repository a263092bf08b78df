from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests

from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.sample_market.server import HISTORICAL_KEYS, LATEST_KEYS

TOKEN = "sample-server-test-token"
AUTH = {"Authorization": f"Token {TOKEN}"}
HOURLY_BODY = (
    '{"detail":"Error: You have run over your hourly request allocation. Please upgrade at '
    'https://api.tiingo.com/pricing to have your limits increased."}'
)


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket()


@pytest.fixture(scope="module")
def server(market: SampleMarket) -> Iterator[SampleTiingoServer]:
    with SampleTiingoServer(market, token=TOKEN) as running:
        yield running


@pytest.fixture()
def fresh_server(market: SampleMarket) -> Iterator[SampleTiingoServer]:
    """A server of its own for tests that change faults, quotas or the as-of day."""
    with SampleTiingoServer(market, token=TOKEN) as running:
        yield running


def get(server: SampleTiingoServer, path: str, **kwargs: object) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    return requests.get(server.base_url + path, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_server_listens_on_loopback_and_refuses_other_hosts(market: SampleMarket) -> None:
    with SampleTiingoServer(market, token=TOKEN) as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        assert running.as_of == date(2024, 12, 31)
    with pytest.raises(ValueError, match="loopback"):
        SampleTiingoServer(market, token=TOKEN, host="0.0.0.0")


def test_api_test_answers_with_and_without_trailing_slash(server: SampleTiingoServer) -> None:
    for path in ("/api/test", "/api/test/"):
        response = get(server, path)
        assert response.status_code == 200
        assert response.json() == {"message": "You successfully sent a request"}


def test_missing_token_is_403_and_wrong_token_is_401(server: SampleTiingoServer) -> None:
    missing = get(server, "/tiingo/daily/AAPL/prices", headers={})
    assert (missing.status_code, missing.text) == (403, '{"detail":"Please supply a token"}')
    wrong = get(server, "/tiingo/daily/AAPL/prices", headers={"Authorization": "Token nope"})
    assert (wrong.status_code, wrong.text) == (401, '{"detail":"Invalid token."}')
    wrong_query = get(server, "/api/test?token=nope", headers={})
    assert wrong_query.status_code == 401
    assert get(server, f"/api/test?token={TOKEN}", headers={}).status_code == 200


def test_latest_price_is_one_bar_with_offset_date_and_alphabetical_keys(
    server: SampleTiingoServer, market: SampleMarket
) -> None:
    response = get(server, "/tiingo/daily/aapl/prices")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["vary"] == "Accept, Cookie, Origin"
    rows = response.json()
    last = market.bars("AAPL")[-1]
    assert len(rows) == 1 and tuple(rows[0]) == LATEST_KEYS
    assert rows[0]["date"] == "2024-12-31T00:00:00+00:00"
    assert rows[0]["close"] == rows[0]["adjClose"] == last.close
    assert rows[0]["volume"] == rows[0]["adjVolume"] == last.volume


def test_historical_range_is_inclusive_with_z_dates_and_recorded_key_order(
    server: SampleTiingoServer, market: SampleMarket
) -> None:
    response = get(server, "/tiingo/daily/NVDA/prices?startDate=2021-7-19&endDate=2021-07-21")
    rows = response.json()
    assert [row["date"] for row in rows] == [
        "2021-07-19T00:00:00.000Z",
        "2021-07-20T00:00:00.000Z",
        "2021-07-21T00:00:00.000Z",
    ]
    assert all(tuple(row) == HISTORICAL_KEYS for row in rows)
    assert rows[1]["splitFactor"] == 4.0 and rows[0]["splitFactor"] == 1.0
    expected = {row.date.isoformat(): row for row in market.adjusted("NVDA")}
    for row in rows:
        bar = expected[row["date"][:10]]
        assert (row["close"], row["adjClose"], row["adjVolume"]) == (
            bar.close, bar.adj_close, bar.adj_volume)  # fmt: skip
    # Floats keep a decimal point even when integral; volumes are integers.
    body = response.text
    assert '"divCash":0.0' in body and '"splitFactor":4.0' in body
    assert isinstance(rows[0]["volume"], int)


def test_holiday_range_returns_an_empty_array(server: SampleTiingoServer) -> None:
    response = get(server, "/tiingo/daily/SPY/prices?startDate=2021-07-03&endDate=2021-07-05")
    assert (response.status_code, response.text) == (200, "[]")


def test_unknown_ticker_bodies_for_prices_and_metadata(server: SampleTiingoServer) -> None:
    prices = get(server, "/tiingo/daily/badticker/prices?startDate=2022-01-01")
    assert prices.status_code == 404
    assert prices.text == '{"detail":"Error: Ticker \'BADTICKER\' not found"}'
    assert len(prices.content) == 48
    metadata = get(server, "/tiingo/daily/badticker")
    assert (metadata.status_code, metadata.text) == (404, '{"detail":"Not found."}')
    csv_mode = get(server, "/tiingo/daily/badticker/prices?format=csv")
    assert (csv_mode.status_code, csv_mode.text) == (200, "Error: Ticker 'BADTICKER' not found")


def test_metadata_echoes_upper_case_ticker(server: SampleTiingoServer) -> None:
    meta = get(server, "/tiingo/daily/gehc").json()
    assert meta["ticker"] == "GEHC" and meta["exchangeCode"] == "NASDAQ"
    assert (meta["startDate"], meta["endDate"]) == ("2023-01-04", "2024-12-31")
    assert "SYNTHETIC" in meta["description"]


def test_csv_has_bare_dates_historical_columns_and_full_precision(
    server: SampleTiingoServer, market: SampleMarket
) -> None:
    response = get(
        server, "/tiingo/daily/GE/prices?startDate=2021-07-30&endDate=2021-08-02&format=csv"
    )
    assert response.headers["content-type"] == "text/csv"
    header, *lines = response.text.strip().split("\n")
    assert header == ",".join(HISTORICAL_KEYS)
    assert [line.split(",")[0] for line in lines] == ["2021-07-30", "2021-08-02"]
    first = dict(zip(HISTORICAL_KEYS, lines[0].split(","), strict=True))
    full = next(b for b in market.adjusted("GE", decimals=None) if b.date == date(2021, 7, 30))
    assert float(first["adjClose"]) == full.adj_close
    assert len(first["adjClose"].split(".")[1]) > 10
    assert float(first["adjVolume"]) == full.adj_volume  # fractional after the 1-for-8 split
    assert first["splitFactor"] == "1.0"
    assert lines[1].endswith(",0.125")


def test_sort_descending_and_columns_always_keep_date(server: SampleTiingoServer) -> None:
    rows = get(
        server, "/tiingo/daily/KO/prices?startDate=2024-12-20&sort=-date&columns=volume,close"
    ).json()
    assert [row["date"][:10] for row in rows] == [
        "2024-12-31", "2024-12-30", "2024-12-27", "2024-12-26", "2024-12-24", "2024-12-23",
        "2024-12-20"]  # fmt: skip
    assert all(list(row) == ["date", "close", "volume"] for row in rows)
    csv_text = get(server, "/tiingo/daily/KO/prices?startDate=2024-12-30&format=csv&columns=volume")
    assert csv_text.text.split("\n")[0] == "date,volume"


def test_unknown_parameters_are_ignored(server: SampleTiingoServer) -> None:
    plain = get(server, "/tiingo/daily/PG/prices?startDate=2022-03-01&endDate=2022-03-04")
    noisy = get(
        server,
        "/tiingo/daily/PG/prices?startDate=2022-03-01&endDate=2022-03-04&frequency=daily&x=1",
    )
    assert plain.json() == noisy.json() and len(plain.json()) == 4


def test_weekly_resampling_labels_fridays_and_rolls_the_range(server: SampleTiingoServer) -> None:
    rows = get(
        server,
        "/tiingo/daily/SPY/prices?startDate=2024-01-03&endDate=2024-01-10&resampleFreq=weekly",
    ).json()
    assert [row["date"][:10] for row in rows] == ["2024-01-05", "2024-01-12"]
    daily = get(server, "/tiingo/daily/SPY/prices?startDate=2024-01-02&endDate=2024-01-05").json()
    assert rows[0]["open"] == daily[0]["open"] and rows[0]["close"] == daily[-1]["close"]
    assert rows[0]["volume"] == sum(row["volume"] for row in daily)
    assert rows[0]["high"] == max(row["high"] for row in daily)


def test_advance_to_hides_later_bars_and_adjusts_as_of_that_day(
    fresh_server: SampleTiingoServer, market: SampleMarket
) -> None:
    fresh_server.advance_to(date(2021, 7, 19))
    latest = get(fresh_server, "/tiingo/daily/NVDA/prices").json()
    assert latest[0]["date"] == "2021-07-19T00:00:00+00:00"
    rows = get(fresh_server, "/tiingo/daily/NVDA/prices?startDate=2021-07-15").json()
    assert rows[-1]["date"][:10] == "2021-07-19"
    assert rows[-1]["adjClose"] == rows[-1]["close"]
    assert get(fresh_server, "/tiingo/daily/NVDA").json()["endDate"] == "2021-07-19"
    before_split = rows[0]["adjClose"]
    fresh_server.advance_to(date(2021, 7, 20))
    after_split = get(fresh_server, "/tiingo/daily/NVDA/prices?startDate=2021-07-15").json()
    assert after_split[0]["adjClose"] == pytest.approx(before_split / 4, rel=1e-10)
    early = get(fresh_server, "/tiingo/daily/GEHC/prices?startDate=2021-01-01")
    assert early.json() == []
    assert get(fresh_server, "/tiingo/daily/GEHC").json()["startDate"] is None


def test_new_dividend_changes_served_adjusted_history() -> None:
    market = SampleMarket()
    with SampleTiingoServer(market, token=TOKEN) as running:
        path = "/tiingo/daily/VZ/prices?startDate=2024-12-02&endDate=2024-12-06"
        before = get(running, path).json()
        market.add_dividend("VZ", date(2024, 12, 5), 0.68)
        after = get(running, path).json()
    assert [row["close"] for row in before] == [row["close"] for row in after]
    assert after[3]["divCash"] == 0.68
    factor = after[3]["close"] / (after[3]["close"] + 0.68)
    for old, new in zip(before[:3], after[:3], strict=True):
        assert new["adjClose"] == pytest.approx(old["adjClose"] * factor, rel=1e-9)
    assert after[3]["adjClose"] == before[3]["adjClose"] and after[4] == before[4]


def test_requests_log_records_paths_exactly_and_header_tokens(
    fresh_server: SampleTiingoServer,
) -> None:
    get(fresh_server, "/tiingo/daily/msft/prices?startDate=2024-1-2&endDate=2024-01-03")
    get(fresh_server, f"/api/test?token={TOKEN}", headers={})
    first, second = fresh_server.requests_log
    assert first.method == "GET"
    assert first.path == "/tiingo/daily/msft/prices?startDate=2024-1-2&endDate=2024-01-03"
    assert first.headers["Authorization"] == f"Token {TOKEN}"
    assert TOKEN not in first.path and TOKEN in second.path
    fresh_server.clear_requests_log()
    assert fresh_server.requests_log == []


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "body"),
    [
        ("http_500", 500, "text/html", None),
        ("http_503", 503, "text/html", ""),
        ("rate_limit_429", 429, "application/json", HOURLY_BODY),
        ("bandwidth_429", 429, "application/json", None),
        ("symbol_cap_200", 200, "text/plain", None),
    ],
)
def test_injected_faults_answer_once_then_recover(
    fresh_server: SampleTiingoServer, kind: str, status: int, content_type: str, body: str | None
) -> None:
    fresh_server.inject_fault(kind)
    faulted = get(fresh_server, "/tiingo/daily/AAPL/prices")
    assert (faulted.status_code, faulted.headers["content-type"]) == (status, content_type)
    if body is not None:
        assert faulted.text == body
    assert get(fresh_server, "/tiingo/daily/AAPL/prices").status_code == 200


def test_limit_fault_bodies_match_tiingo_byte_counts(fresh_server: SampleTiingoServer) -> None:
    fresh_server.inject_fault("symbol_cap_200")
    fresh_server.inject_fault("bandwidth_429")
    symbol = get(fresh_server, "/api/test")
    assert len(symbol.content) == 137
    assert symbol.text.startswith("You have run over your 500 symbol look up for this month.")
    bandwidth = get(fresh_server, "/api/test")
    assert len(bandwidth.content) == 152
    assert "monthly bandwidth allocation" in json.loads(bandwidth.text)["detail"]


def test_faults_respect_count_and_path_filter(fresh_server: SampleTiingoServer) -> None:
    fresh_server.inject_fault("http_500", count=2, path_contains="/XOM/")
    assert get(fresh_server, "/tiingo/daily/CVX/prices").status_code == 200
    assert get(fresh_server, "/tiingo/daily/XOM/prices").status_code == 500
    assert "500 Internal Server Error" in get(fresh_server, "/tiingo/daily/XOM/prices").text
    assert get(fresh_server, "/tiingo/daily/XOM/prices").status_code == 200
    with pytest.raises(ValueError, match="Unknown fault kind"):
        fresh_server.inject_fault("teapot")


def test_rate_limit_in_csv_mode_is_a_200_plain_text(fresh_server: SampleTiingoServer) -> None:
    fresh_server.inject_fault("rate_limit_429")
    response = get(fresh_server, "/tiingo/daily/AAPL/prices?format=csv")
    assert response.status_code == 200
    assert response.text.startswith("Error: You have run over your hourly request allocation.")


def test_slow_fault_delays_then_answers_normally(fresh_server: SampleTiingoServer) -> None:
    fresh_server.inject_fault("slow", delay=0.5)
    started = time.perf_counter()
    response = get(fresh_server, "/tiingo/daily/AAPL/prices")
    assert response.status_code == 200 and len(response.json()) == 1
    assert time.perf_counter() - started >= 0.5
    fresh_server.inject_fault("slow", delay=2.0)
    with pytest.raises(requests.Timeout):
        requests.get(fresh_server.base_url + "/api/test", headers=AUTH, timeout=0.3)


def test_hourly_request_limit_returns_429_after_the_cap(market: SampleMarket) -> None:
    with SampleTiingoServer(market, token=TOKEN, hourly_request_limit=2) as running:
        assert [get(running, "/api/test").status_code for _ in range(3)] == [200, 200, 429]
        assert get(running, "/api/test").text == HOURLY_BODY
        running.reset_hourly_quota()
        assert get(running, "/api/test").status_code == 200


def test_head_request_has_headers_and_no_body(server: SampleTiingoServer) -> None:
    response = requests.head(server.base_url + "/tiingo/daily/AAPL", headers=AUTH, timeout=10)
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_serve_runs_until_interrupted() -> None:
    # Ctrl+C as in a terminal: a test run started in the background by a shell without job
    # control inherits an ignored SIGINT, which Python would keep.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from ingestion.sample_market import serve; serve('127.0.0.1', 0, 'cli-token', None)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        banner = process.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"(http://127\.0\.0\.1:\d+) \(as of 2024-12-31\)", banner)
        assert match, banner
        response = requests.get(
            match.group(1) + "/api/test", headers={"Authorization": "Token cli-token"}, timeout=10
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "cli-token" not in banner + process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()


def test_concurrent_keep_alive_clients_are_all_served_and_logged(
    fresh_server: SampleTiingoServer,
) -> None:
    def fetch_many(ticker: str) -> list[int]:
        with requests.Session() as session:
            session.headers.update(AUTH)
            url = f"{fresh_server.base_url}/tiingo/daily/{ticker}/prices?startDate=2024-12-01"
            return [session.get(url, timeout=10).status_code for _ in range(10)]

    tickers = ["AAPL", "MSFT", "KO", "XOM", "O", "GEHC", "SPY", "GE"]
    with ThreadPoolExecutor(max_workers=len(tickers)) as pool:
        statuses = [status for result in pool.map(fetch_many, tickers) for status in result]
    assert statuses == [200] * 80
    assert len(fresh_server.requests_log) == 80
