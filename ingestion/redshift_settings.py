"""Redshift connection and COPY settings: one object built from environment variables (or an
Airflow connection) and passed to the Redshift loader.

The same ``REDSHIFT_*`` variables feed dbt's ``redshift`` target in ``dbt_project/profiles.yml``,
so the loader and dbt always point at the same warehouse. Nothing here is ever stored in the
repository; the password is kept out of ``repr`` and ``redacted()``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingestion.object_store import S3_SCHEME
from ingestion.settings import ConfigError

DEFAULT_PORT = 5439
DEFAULT_SCHEMA = "analytics"
AUTH_METHODS = ("database", "iam")
# COPY files live beside bronze, under a prefix the bronze reader never lists.
STAGING_SUFFIX = "_staging/copy"
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


class AirflowConnection(Protocol):
    """The attributes of an ``airflow.models.Connection`` this module reads."""

    host: str | None
    port: int | None
    schema: str | None  # Airflow's Redshift connection keeps the database name here
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RedshiftSettings:
    host: str
    database: str
    user: str
    copy_iam_role_arn: str
    bronze_uri: str
    password: str = field(default="", repr=False)
    port: int = DEFAULT_PORT
    auth_method: str = "database"
    iam_profile: str | None = None
    cluster_id: str | None = None
    workgroup: str | None = None
    region: str | None = None
    # dbt's default schema (profiles.yml reads REDSHIFT_SCHEMA); the loader writes schema raw.
    schema: str = DEFAULT_SCHEMA
    copy_staging_uri: str | None = None

    def __post_init__(self) -> None:
        for name, variable in (
            ("host", "REDSHIFT_HOST"),
            ("database", "REDSHIFT_DATABASE"),
            ("user", "REDSHIFT_USER"),
        ):
            if not getattr(self, name):
                raise ConfigError(f"{variable} is not set: the Redshift {name} is required")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"REDSHIFT_AUTH_METHOD must be one of {', '.join(AUTH_METHODS)}, "
                f"not {self.auth_method!r}"
            )
        if self.auth_method == "database" and not self.password:
            raise ConfigError(
                "REDSHIFT_PASSWORD is not set; set it, or use REDSHIFT_AUTH_METHOD=iam "
                "with REDSHIFT_CLUSTER_ID or REDSHIFT_WORKGROUP"
            )
        if self.auth_method == "iam":
            if bool(self.cluster_id) == bool(self.workgroup):
                raise ConfigError(
                    "IAM authentication needs exactly one of REDSHIFT_CLUSTER_ID (provisioned) "
                    "or REDSHIFT_WORKGROUP (serverless)"
                )
            if not self.region:
                raise ConfigError("IAM authentication needs REDSHIFT_REGION, e.g. us-east-1")
        if not _ROLE_ARN.fullmatch(self.copy_iam_role_arn):
            raise ConfigError(
                "REDSHIFT_COPY_IAM_ROLE must be the ARN of the IAM role Redshift assumes to read "
                f"S3, like arn:aws:iam::123456789012:role/equity-redshift-copy; got "
                f"{self.copy_iam_role_arn!r}"
            )
        for value, variable in (
            (self.bronze_uri, "EQUITY_BRONZE_URI (or --bronze-uri)"),
            (self.staging_uri, "REDSHIFT_COPY_STAGING_URI"),
        ):
            if not value.startswith(S3_SCHEME) or len(value) <= len(S3_SCHEME):
                raise ConfigError(
                    f"Redshift COPY reads from S3, so {variable} must be s3://bucket/prefix, "
                    f"not {value!r}"
                )

    @property
    def staging_uri(self) -> str:
        """Where the loader writes the COPY data, jsonpaths and manifest files."""
        return self.copy_staging_uri or f"{self.bronze_uri.rstrip('/')}/{STAGING_SUFFIX}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redshift_connector.connect`` (holds the password: never log)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "application_name": "equity-analytics-loader",
        }
        if self.auth_method == "database":
            return kwargs | {"user": self.user, "password": self.password}
        kwargs |= {"iam": True, "db_user": self.user, "region": self.region}
        if self.iam_profile:
            kwargs["profile"] = self.iam_profile
        if self.workgroup:
            return kwargs | {"is_serverless": True, "serverless_work_group": self.workgroup}
        return kwargs | {"cluster_identifier": self.cluster_id}

    def dbt_env(self) -> dict[str, str]:
        """The variables dbt's ``redshift`` target reads (for a dbt process started from here)."""
        return {
            "REDSHIFT_HOST": self.host,
            "REDSHIFT_PORT": str(self.port),
            "REDSHIFT_DATABASE": self.database,
            "REDSHIFT_USER": self.user,
            "REDSHIFT_PASSWORD": self.password,
            "REDSHIFT_AUTH_METHOD": self.auth_method,
            "REDSHIFT_CLUSTER_ID": self.cluster_id or "",
            "REDSHIFT_WORKGROUP": self.workgroup or "",
            "REDSHIFT_IAM_PROFILE": self.iam_profile or "",
            "REDSHIFT_REGION": self.region or "",
            "REDSHIFT_SCHEMA": self.schema,
        }

    def redacted(self) -> str:
        """A one-line description safe for logs and error messages."""
        if self.auth_method == "iam":
            target = (
                f"workgroup {self.workgroup}" if self.workgroup else f"cluster {self.cluster_id}"
            )
            auth = f"IAM ({target}, {self.region})"
        else:
            auth = "database password ***"
        return (
            f"redshift://{self.user}@{self.host}:{self.port}/{self.database} auth={auth} "
            f"copy_role={self.copy_iam_role_arn} staging={self.staging_uri}"
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, bronze_uri: str | None = None
    ) -> RedshiftSettings:
        """Settings from ``REDSHIFT_*`` variables; ``bronze_uri`` (the CLI flag) wins over
        ``EQUITY_BRONZE_URI``."""
        env = os.environ if env is None else env
        return cls(
            host=env.get("REDSHIFT_HOST", ""),
            port=_port(env.get("REDSHIFT_PORT")),
            database=env.get("REDSHIFT_DATABASE", ""),
            user=env.get("REDSHIFT_USER", ""),
            password=env.get("REDSHIFT_PASSWORD", ""),
            auth_method=env.get("REDSHIFT_AUTH_METHOD") or "database",
            iam_profile=env.get("REDSHIFT_IAM_PROFILE") or None,
            cluster_id=env.get("REDSHIFT_CLUSTER_ID") or None,
            workgroup=env.get("REDSHIFT_WORKGROUP") or None,
            region=env.get("REDSHIFT_REGION") or None,
            schema=env.get("REDSHIFT_SCHEMA") or DEFAULT_SCHEMA,
            copy_iam_role_arn=env.get("REDSHIFT_COPY_IAM_ROLE", ""),
            bronze_uri=bronze_uri or env.get("EQUITY_BRONZE_URI", ""),
            copy_staging_uri=env.get("REDSHIFT_COPY_STAGING_URI") or None,
        )

    @classmethod
    def from_airflow_connection(
        cls,
        connection: AirflowConnection,
        *,
        copy_iam_role_arn: str,
        bronze_uri: str,
        schema: str = DEFAULT_SCHEMA,
        copy_staging_uri: str | None = None,
    ) -> RedshiftSettings:
        """Settings from an Airflow ``redshift`` connection.

        Its extras use the names ``redshift_connector`` takes (``iam``, ``cluster_identifier``,
        ``serverless_work_group``, ``region``, ``profile``, ``db_user``), as the Amazon provider's
        RedshiftSQLHook expects; the COPY role and bronze location come from Airflow Variables
        or the environment, because the hook passes every extra on to the driver.
        """
        extra = connection.extra_dejson
        return cls(
            host=connection.host or "",
            port=int(connection.port or DEFAULT_PORT),
            database=connection.schema or "",
            user=extra.get("db_user") or connection.login or "",
            password=connection.password or "",
            auth_method="iam" if extra.get("iam") else "database",
            iam_profile=extra.get("profile"),
            cluster_id=extra.get("cluster_identifier"),
            workgroup=extra.get("serverless_work_group"),
            region=extra.get("region"),
            schema=schema,
            copy_iam_role_arn=copy_iam_role_arn,
            bronze_uri=bronze_uri,
            copy_staging_uri=copy_staging_uri,
        )


def _port(raw: str | None) -> int:
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError as error:
        raise ConfigError(f"REDSHIFT_PORT must be an integer, got {raw!r}") from error
