"""Run configuration: one place that turns environment variables and CLI flags into settings.

Every other module receives a ``Settings`` object; none of them reads the environment itself.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

BENCHMARK_TICKER = "SPY"
DEFAULT_TIINGO_BASE_URL = "https://api.tiingo.com"
DEFAULT_LOOKBACK_SESSIONS = 5
# Tickers fetched at the same time: Tiingo limits requests per hour and day, not per second,
# and a run of 500 tickers one request after the other spends most of its time waiting on the
# network.
DEFAULT_FETCH_WORKERS = 4
DEFAULT_DATA_DIR = "data"
SAMPLE_PORTFOLIOS = str(Path(__file__).parent / "sample_data" / "portfolios.csv")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def new_run_id(now: datetime | None = None) -> str:
    """Sortable, unique run id such as ``20261122T071803Z-3f9a1c``."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    portfolios: str = SAMPLE_PORTFOLIOS
    target: str = "duckdb"
    bronze_uri: str | None = None
    s3_endpoint_url: str | None = None
    lookback_sessions: int = DEFAULT_LOOKBACK_SESSIONS
    fetch_workers: int = DEFAULT_FETCH_WORKERS
    extra_tickers: tuple[str, ...] = ()
    history_start: date | None = None
    tiingo_api_key: str = field(default="", repr=False)
    tiingo_base_url: str = DEFAULT_TIINGO_BASE_URL
    run_id: str = field(default_factory=new_run_id)

    def __post_init__(self) -> None:
        if self.target not in ("duckdb", "redshift"):
            raise ConfigError(f"--target must be duckdb or redshift, not {self.target!r}")
        if self.lookback_sessions < 0:
            raise ConfigError("EQUITY_LOOKBACK_SESSIONS must be zero or more")
        if self.fetch_workers < 1:
            raise ConfigError("EQUITY_FETCH_WORKERS must be one or more")

    @property
    def bronze_location(self) -> str:
        return self.bronze_uri or str(self.data_dir / "bronze")

    @property
    def duckdb_path(self) -> Path:
        return (self.data_dir / "warehouse.duckdb").resolve()

    def with_tiingo(self, *, base_url: str, api_key: str) -> Settings:
        return replace(self, tiingo_base_url=base_url, tiingo_api_key=api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from environment variables; ``overrides`` (CLI flags) win when not None."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "data_dir": Path(env.get("EQUITY_DATA_DIR", DEFAULT_DATA_DIR)),
            "portfolios": env.get("EQUITY_PORTFOLIOS", SAMPLE_PORTFOLIOS),
            "target": env.get("EQUITY_TARGET", "duckdb"),
            "bronze_uri": env.get("EQUITY_BRONZE_URI") or None,
            "s3_endpoint_url": env.get("EQUITY_S3_ENDPOINT_URL") or None,
            "lookback_sessions": _int(env, "EQUITY_LOOKBACK_SESSIONS", DEFAULT_LOOKBACK_SESSIONS),
            "fetch_workers": _int(env, "EQUITY_FETCH_WORKERS", DEFAULT_FETCH_WORKERS),
            "extra_tickers": _tickers(env.get("EQUITY_EXTRA_TICKERS", "")),
            "history_start": _date(env, "EQUITY_HISTORY_START"),
            "tiingo_api_key": env.get("TIINGO_API_KEY", ""),
            "tiingo_base_url": env.get("TIINGO_BASE_URL") or DEFAULT_TIINGO_BASE_URL,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        if isinstance(values["data_dir"], str):
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from error


def _date(env: Mapping[str, str], name: str) -> date | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a YYYY-MM-DD date, got {raw!r}") from error


def _tickers(raw: str) -> tuple[str, ...]:
    return tuple(t.strip().upper() for t in raw.split(",") if t.strip())
