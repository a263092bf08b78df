"""No credential leaves the process through logs, reprs, error messages, SQL or S3 files."""

from __future__ import annotations

import logging
import secrets

import boto3
import pytest
import redshift_connector

from ingestion import pipeline
from ingestion.load import load_new_objects
from ingestion.loaders.redshift_loader import CopyRejected, RedshiftLoadError
from ingestion.redshift_settings import RedshiftSettings
from ingestion.settings import ConfigError, Settings
from redshift.conftest import BAR, COPY_ROLE, LOADED_AT, REGION, price_object
from redshift.fake_redshift import load_error_message


@pytest.fixture
def secrets_in_env(monkeypatch):
    """A database password and an AWS secret key that must never be seen again."""
    password = f"pw-{secrets.token_hex(12)}"
    aws_secret = f"aws-{secrets.token_hex(16)}"
    # moto accepts any key pair, so this secret really signs every S3 request of the test.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws_secret)
    for name, value in {
        "REDSHIFT_HOST": "analytics.abc123xyz.us-east-1.redshift.amazonaws.com",
        "REDSHIFT_DATABASE": "equity",
        "REDSHIFT_USER": "loader",
        "REDSHIFT_PASSWORD": password,
        "REDSHIFT_COPY_IAM_ROLE": COPY_ROLE,
    }.items():
        monkeypatch.setenv(name, value)
    return password, aws_secret


def test_no_credential_in_logs_reprs_errors_sql_or_staged_files(
    secrets_in_env, cluster, bucket, s3_server, monkeypatch, caplog, tmp_path
):
    password, aws_secret = secrets_in_env
    used_passwords = []

    def connect(**kwargs):
        used_passwords.append(kwargs.get("password"))
        return cluster.connect()

    monkeypatch.setattr(redshift_connector, "connect", connect)
    caplog.set_level(logging.DEBUG)  # botocore and every other library at their chattiest
    settings = Settings(
        data_dir=tmp_path,
        target="redshift",
        bronze_uri=f"s3://{bucket}/lake/bronze",
        s3_endpoint_url=s3_server,
    )
    store = pipeline.open_store(settings)
    price_object(store, "MSFT", [BAR])
    bad = price_object(store, "AAPL", [BAR])
    errors: list[Exception] = []

    with pipeline.open_loader(settings) as loader:
        summary = load_new_objects(store, loader, "load-1")
        cluster.copy_failure = lambda url, body: redshift_connector.ProgrammingError(
            load_error_message("raw_staging_tiingo_daily_prices")
        )
        with pytest.raises(CopyRejected) as rejected:
            loader.load_object(bad, "load-2", LOADED_AT)
        errors.append(rejected.value)
        cluster.copy_failure = lambda url, body: redshift_connector.ProgrammingError(
            {"S": "ERROR", "C": "XX000", "M": "S3ServiceException:Access Denied,Status 403"}
        )
        with pytest.raises(RedshiftLoadError) as failed:
            loader.load_object(bad, "load-3", LOADED_AT)
        errors.append(failed.value)
    with pytest.raises(ConfigError) as config_error:
        RedshiftSettings.from_env(bronze_uri="not-s3/bronze")
    errors.append(config_error.value)

    assert used_passwords == [password]  # the password did reach the driver, and only it
    assert summary.objects_loaded == 2 and "password ***" in caplog.text
    redshift_settings = RedshiftSettings.from_env(bronze_uri=settings.bronze_uri)
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name=REGION)
    staged_files = [
        s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        for item in s3.list_objects_v2(Bucket=bucket)["Contents"]
    ]
    seen = [
        caplog.text,
        repr(redshift_settings),
        redshift_settings.redacted(),
        repr(loader.__dict__),
        *(repr(e) for e in errors),
        *(repr(e.__cause__) for e in errors),
        *cluster.statements,
        *staged_files,
    ]
    for text in seen:
        assert password not in text
        assert aws_secret not in text
