"""TiingoClient against the real sample Tiingo server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ingestion.sample_market import SampleMarket, SampleTiingoServer
from ingestion.tiingo_client import (
    RetryEvent,
    RetryPolicy,
    TiingoAuthError,
    TiingoClient,
    TiingoError,
    TiingoQuotaError,
    TiingoRateLimitError,
    TiingoUnavailableError,
    TiingoUnexpectedResponse,
    session_date,
)

TOKEN = "0123456789abcdef0123456789abcdef01234567"
WRONG_TOKEN = "f" * 40
# Tiny waits keep the file fast; the values are still distinguishable in RetryEvents.
FAST = RetryPolicy(
    max_attempts=3,
    backoff_initial=0.01,
    backoff_max=0.05,
    rate_limit_wait=0.02,
    rate_limit_attempts=2,
    timeout=5.0,
)


@pytest.fixture(scope="module")
def market() -> SampleMarket:
    return SampleMarket()


@pytest.fixture(scope="module")
def running_server(market: SampleMarket) -> Iterator[SampleTiingoServer]:
    # One server for the module: stopping one takes up to half a second.
    with SampleTiingoServer(market, token=TOKEN) as server:
        yield server


@pytest.fixture
def sample_server(running_server: SampleTiingoServer) -> SampleTiingoServer:
    running_server.clear_faults()
    running_server.clear_requests_log()
    return running_server


@pytest.fixture
def retries() -> list[RetryEvent]:
    return []


@pytest.fixture
def client(sample_server: SampleTiingoServer, retries: list[RetryEvent]) -> Iterator[TiingoClient]:
    with TiingoClient(TOKEN, sample_server.base_url, policy=FAST, on_retry=retries.append) as c:
        yield c


def test_daily_prices_match_the_markets_raw_bars_including_a_split(
    client: TiingoClient, market: SampleMarket
) -> None:
    response = client.daily_prices("nvda", date(2024, 6, 3), date(2024, 6, 14))

    expected = [
        bar for bar in market.bars("NVDA") if date(2024, 6, 3) <= bar.date <= date(2024, 6, 14)
    ]
    rows = response.json()
    assert response.http_status == 200
    assert response.ticker == "NVDA"
    assert response.endpoint == "daily_prices"
    assert response.path == "/tiingo/daily/NVDA/prices"
    assert response.params == {
        "startDate": "2024-06-03",
        "endDate": "2024-06-14",
        "format": "json",
        "resampleFreq": "daily",
    }
    assert response.attempts == 1
    assert response.content_type == "application/json"
    assert response.fetched_at.utcoffset() == timedelta(0)
    assert len(rows) == len(expected) == 10
    assert [row["date"] for row in rows][:2] == [
        "2024-06-03T00:00:00.000Z",
        "2024-06-04T00:00:00.000Z",
    ]
    for row, bar in zip(rows, expected, strict=True):
        assert session_date(row["date"]) == bar.date
        assert (row["open"], row["high"], row["low"], row["close"]) == (
            bar.open,
            bar.high,
            bar.low,
            bar.close,
        )
        assert row["volume"] == bar.volume
        assert (row["divCash"], row["splitFactor"]) == (bar.div_cash, bar.split_factor)
    assert {row["date"][:10]: row["splitFactor"] for row in rows}["2024-06-10"] == 10.0


def test_ticker_metadata_returns_the_markets_object(
    client: TiingoClient, market: SampleMarket
) -> None:
    response = client.ticker_metadata("aapl")

    assert response.http_status == 200
    assert response.endpoint == "ticker_metadata"
    assert response.path == "/tiingo/daily/AAPL"
    assert response.params == {}
    assert response.json() == market.metadata("AAPL")
    assert response.json()["startDate"] == "2021-01-04"


def test_historical_and_latest_date_formats_give_the_same_session(
    client: TiingoClient, sample_server: SampleTiingoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = sample_server.as_of
    historical = client.daily_prices("AAPL", last, last).json()[0]["date"]
    latest = requests.get(
        f"{sample_server.base_url}/tiingo/daily/AAPL/prices",
        headers={"Authorization": f"Token {TOKEN}"},
        timeout=5,
    ).json()[0]["date"]

    assert historical == "2024-12-31T00:00:00.000Z"
    assert latest == "2024-12-31T00:00:00+00:00"
    # Midnight UTC is the previous evening in New York: the session must not move with TZ.
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert session_date(historical) == session_date(latest) == date(2024, 12, 31)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_session_date_rejects_text_that_is_not_a_date() -> None:
    with pytest.raises(ValueError, match="Not a Tiingo date"):
        session_date("12/31/2024")


def test_holiday_only_range_is_no_data_not_an_error(client: TiingoClient) -> None:
    response = client.daily_prices("AAPL", date(2021, 7, 5), date(2021, 7, 5))

    assert response.http_status == 200
    assert response.body == b"[]"
    assert response.json() == []
    assert not response.not_found


def test_unknown_ticker_404_is_returned_for_bronze_without_retrying(
    client: TiingoClient, sample_server: SampleTiingoServer, retries: list[RetryEvent]
) -> None:
    prices = client.daily_prices("zzzz", date(2024, 1, 2), date(2024, 1, 5))
    metadata = client.ticker_metadata("ZZZZ")

    assert prices.not_found and prices.http_status == 404
    assert prices.body == b'{"detail":"Error: Ticker \'ZZZZ\' not found"}'
    assert metadata.not_found
    assert metadata.json() == {"detail": "Not found."}
    assert len(sample_server.requests_log) == 2
    assert retries == []


def test_wrong_token_stops_with_a_message_naming_the_env_var(
    sample_server: SampleTiingoServer,
) -> None:
    with TiingoClient("not-the-token", sample_server.base_url, policy=FAST) as client:
        with pytest.raises(TiingoAuthError, match="TIINGO_API_KEY") as raised:
            client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    assert "HTTP 401" in str(raised.value)
    assert "Invalid token." in str(raised.value)
    assert len(sample_server.requests_log) == 1


class _HeaderStrippingSession(requests.Session):
    """Drops the Authorization header on the way out, as a misconfigured proxy would."""

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        del request.headers["Authorization"]
        return super().send(request, **kwargs)


def test_missing_token_403_stops_with_a_message_naming_the_env_var(
    sample_server: SampleTiingoServer,
) -> None:
    session = _HeaderStrippingSession()
    client = TiingoClient(TOKEN, sample_server.base_url, policy=FAST, session=session)
    with pytest.raises(TiingoAuthError, match="TIINGO_API_KEY") as raised:
        client.ticker_metadata("AAPL")
    session.close()

    assert "HTTP 403" in str(raised.value)
    assert "Please supply a token" in str(raised.value)
    assert "Authorization" not in sample_server.requests_log[0].headers


@pytest.mark.parametrize("api_key", ["", "   "])
def test_empty_api_key_fails_before_any_request(
    api_key: str, sample_server: SampleTiingoServer
) -> None:
    with pytest.raises(TiingoAuthError, match="TIINGO_API_KEY is not set"):
        TiingoClient(api_key, sample_server.base_url)

    assert sample_server.requests_log == []


def test_rate_limit_429_is_waited_out_then_succeeds(
    client: TiingoClient, sample_server: SampleTiingoServer, retries: list[RetryEvent]
) -> None:
    sample_server.inject_fault("rate_limit_429", count=1)

    response = client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    assert response.http_status == 200
    assert len(response.json()) == 4
    assert response.attempts == 2
    assert retries == [RetryEvent("AAPL", "rate limited (HTTP 429)", 1, FAST.rate_limit_wait)]


def test_persistent_429_raises_rate_limit_error_after_bounded_waits(
    client: TiingoClient, sample_server: SampleTiingoServer, retries: list[RetryEvent]
) -> None:
    sample_server.inject_fault("rate_limit_429", count=10)

    with pytest.raises(TiingoRateLimitError) as raised:
        client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    message = str(raised.value)
    assert "after 2 waits" in message
    assert "hourly request allocation" in message
    assert "re-run later" in message
    # One first try plus one try after each of the two waits.
    assert len(sample_server.requests_log) == FAST.rate_limit_attempts + 1 == 3
    assert [event.wait_seconds for event in retries] == [FAST.rate_limit_wait] * 2


def test_bandwidth_cap_429_is_a_quota_error_without_retry(
    client: TiingoClient, sample_server: SampleTiingoServer
) -> None:
    sample_server.inject_fault("bandwidth_429", count=5)

    with pytest.raises(TiingoQuotaError, match="bandwidth"):
        client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    assert len(sample_server.requests_log) == 1


@pytest.mark.parametrize(("fault", "reason"), [("http_503", "HTTP 503"), ("http_500", "HTTP 500")])
def test_server_error_is_retried_then_succeeds(
    fault: str,
    reason: str,
    client: TiingoClient,
    sample_server: SampleTiingoServer,
    retries: list[RetryEvent],
) -> None:
    sample_server.inject_fault(fault, count=1)

    response = client.ticker_metadata("MSFT")

    assert response.json()["ticker"] == "MSFT"
    assert response.attempts == 2
    assert len(retries) == 1
    assert (retries[0].ticker, retries[0].reason, retries[0].attempt) == ("MSFT", reason, 1)
    assert 0 <= retries[0].wait_seconds <= FAST.backoff_max


def test_server_error_on_every_attempt_raises_unavailable(
    client: TiingoClient, sample_server: SampleTiingoServer, retries: list[RetryEvent]
) -> None:
    sample_server.inject_fault("http_503", count=10)

    with pytest.raises(TiingoUnavailableError, match=r"failed 3 times \(last: HTTP 503\)"):
        client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    assert len(sample_server.requests_log) == FAST.max_attempts == 3
    assert [event.attempt for event in retries] == [1, 2]


def test_timeout_is_retried_then_succeeds(
    sample_server: SampleTiingoServer, retries: list[RetryEvent]
) -> None:
    sample_server.inject_fault("slow", count=1, delay=1.0)
    policy = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, timeout=0.5)

    with TiingoClient(TOKEN, sample_server.base_url, policy=policy, on_retry=retries.append) as c:
        response = c.daily_prices("SPY", date(2024, 1, 2), date(2024, 1, 5))

    assert len(response.json()) == 4
    assert response.attempts == 2
    assert [event.reason for event in retries] == ["timeout after 0.5 s"]


def test_connection_refused_raises_unavailable_after_retries(retries: list[RetryEvent]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    # Nothing listens on the port once the probe socket is closed.

    with TiingoClient(
        TOKEN, f"http://127.0.0.1:{free_port}", policy=FAST, on_retry=retries.append
    ) as client:
        with pytest.raises(TiingoUnavailableError, match="connection error"):
            client.ticker_metadata("AAPL")

    assert len(retries) == FAST.max_attempts - 1


def test_symbol_cap_plain_text_200_is_a_quota_error_not_data(
    client: TiingoClient, sample_server: SampleTiingoServer
) -> None:
    sample_server.inject_fault("symbol_cap_200", count=1)

    with pytest.raises(TiingoQuotaError, match="500 symbol look up") as raised:
        client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))

    assert "1st of the month" in str(raised.value)
    assert len(sample_server.requests_log) == 1


@pytest.fixture
def canned_server() -> Iterator[tuple[str, list[tuple[int, bytes]]]]:
    """A loopback server answering every GET with the next queued (status, body).

    Only for the two bodies the sample server cannot produce: a JSON-wrapped symbol cap and
    a non-JSON 200.
    """
    answers: list[tuple[int, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.pop(0)
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def test_symbol_cap_wrapped_in_json_is_a_quota_error(
    canned_server: tuple[str, list[tuple[int, bytes]]],
) -> None:
    base_url, answers = canned_server
    answers.append((200, b'{"detail":"You have run over your 500 Symbol Look Up for this month."}'))

    with TiingoClient(TOKEN, base_url, policy=FAST) as client:
        with pytest.raises(TiingoQuotaError, match="unique-symbol cap"):
            client.ticker_metadata("AAPL")


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("daily_prices", b"<html><body>Maintenance</body></html>"),
        ("daily_prices", b'{"date": "2024-01-02T00:00:00.000Z"}'),
        ("daily_prices", b'[{"close": 1.0}]'),
        ("ticker_metadata", b'[{"ticker": "AAPL"}]'),
    ],
)
def test_200_that_is_not_the_expected_json_is_an_error(
    endpoint: str, body: bytes, canned_server: tuple[str, list[tuple[int, bytes]]]
) -> None:
    base_url, answers = canned_server
    answers.append((200, body))

    with TiingoClient(TOKEN, base_url, policy=FAST) as client:
        with pytest.raises(TiingoUnexpectedResponse, match="not the expected JSON"):
            if endpoint == "daily_prices":
                client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))
            else:
                client.ticker_metadata("AAPL")


def test_token_never_leaks_into_urls_logs_errors_or_repr(
    sample_server: SampleTiingoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[TiingoError] = []
    client = TiingoClient(TOKEN, sample_server.base_url, policy=FAST)
    client.daily_prices("AAPL", date(2024, 1, 2), date(2024, 1, 5))
    client.ticker_metadata("NOPE")
    for fault in ("http_503", "rate_limit_429", "symbol_cap_200", "bandwidth_429"):
        sample_server.inject_fault(fault, count=10)
        try:
            client.ticker_metadata("AAPL")
        except TiingoError as error:
            errors.append(error)
        sample_server.clear_faults()
    with TiingoClient(WRONG_TOKEN, sample_server.base_url, policy=FAST) as wrong:
        try:
            wrong.ticker_metadata("AAPL")
        except TiingoError as error:
            errors.append(error)
    client.close()

    seen = sample_server.requests_log
    assert [type(error).__name__ for error in errors] == [
        "TiingoUnavailableError",
        "TiingoRateLimitError",
        "TiingoQuotaError",
        "TiingoQuotaError",
        "TiingoAuthError",
    ]
    assert len(seen) == 2 + 3 + 3 + 1 + 1 + 1
    assert all(TOKEN not in request.path and WRONG_TOKEN not in request.path for request in seen)
    assert all("token" not in request.path.lower() for request in seen)
    assert seen[0].headers["Authorization"] == f"Token {TOKEN}"
    assert seen[0].headers["Content-Type"] == "application/json"
    assert "equity-analytics" in seen[0].headers["User-Agent"]
    for secret in (TOKEN, WRONG_TOKEN):
        assert all(secret not in str(error) and secret not in repr(error) for error in errors)
        assert secret not in caplog.text
    assert "GET /tiingo/daily/AAPL/prices" in caplog.text
    assert TOKEN not in repr(client)
