"""Redshift settings from the environment or an Airflow connection, and what the driver gets."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from ingestion.redshift_settings import RedshiftSettings
from ingestion.settings import DBT_PROJECT_DIR, ConfigError

ROLE = "arn:aws:iam::123456789012:role/equity-redshift-copy"
BASE_ENV = {
    "REDSHIFT_HOST": "analytics.abc123xyz.us-east-1.redshift.amazonaws.com",
    "REDSHIFT_DATABASE": "equity",
    "REDSHIFT_USER": "loader",
    "REDSHIFT_PASSWORD": "s3cret-Passw0rd",
    "REDSHIFT_COPY_IAM_ROLE": ROLE,
    "EQUITY_BRONZE_URI": "s3://equity-lake/bronze",
}


def test_database_password_settings_from_the_environment():
    settings = RedshiftSettings.from_env(BASE_ENV)

    assert settings.port == 5439 and settings.schema == "analytics"
    assert settings.staging_uri == "s3://equity-lake/bronze/_staging/copy"
    assert settings.connect_kwargs() == {
        "host": "analytics.abc123xyz.us-east-1.redshift.amazonaws.com",
        "port": 5439,
        "database": "equity",
        "application_name": "equity-analytics-loader",
        "user": "loader",
        "password": "s3cret-Passw0rd",
    }


def test_the_bronze_flag_wins_and_staging_can_move():
    env = BASE_ENV | {"REDSHIFT_PORT": "5440", "REDSHIFT_COPY_STAGING_URI": "s3://scratch/copy"}

    settings = RedshiftSettings.from_env(env, bronze_uri="s3://other-lake/bronze/")

    assert settings.port == 5440
    assert settings.bronze_uri == "s3://other-lake/bronze/"
    assert settings.staging_uri == "s3://scratch/copy"


def test_iam_auth_for_a_provisioned_cluster():
    env = {k: v for k, v in BASE_ENV.items() if k != "REDSHIFT_PASSWORD"} | {
        "REDSHIFT_AUTH_METHOD": "iam",
        "REDSHIFT_CLUSTER_ID": "analytics",
        "REDSHIFT_REGION": "us-east-1",
        "REDSHIFT_IAM_PROFILE": "equity-loader",
    }

    kwargs = RedshiftSettings.from_env(env).connect_kwargs()

    assert kwargs["iam"] is True and "password" not in kwargs
    assert kwargs["db_user"] == "loader" and kwargs["cluster_identifier"] == "analytics"
    assert kwargs["region"] == "us-east-1" and kwargs["profile"] == "equity-loader"


def test_iam_auth_for_a_serverless_workgroup():
    env = {k: v for k, v in BASE_ENV.items() if k != "REDSHIFT_PASSWORD"} | {
        "REDSHIFT_AUTH_METHOD": "iam",
        "REDSHIFT_WORKGROUP": "equity",
        "REDSHIFT_REGION": "eu-west-1",
    }

    kwargs = RedshiftSettings.from_env(env).connect_kwargs()

    assert kwargs["is_serverless"] is True and kwargs["serverless_work_group"] == "equity"
    assert "cluster_identifier" not in kwargs and "profile" not in kwargs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"REDSHIFT_HOST": ""}, "REDSHIFT_HOST is not set"),
        ({"REDSHIFT_PASSWORD": ""}, "REDSHIFT_PASSWORD is not set"),
        ({"REDSHIFT_PORT": "five"}, "REDSHIFT_PORT must be an integer"),
        ({"REDSHIFT_AUTH_METHOD": "kerberos"}, "must be one of database, iam"),
        ({"REDSHIFT_AUTH_METHOD": "iam", "REDSHIFT_REGION": "us-east-1"}, "exactly one of"),
        ({"REDSHIFT_AUTH_METHOD": "iam", "REDSHIFT_CLUSTER_ID": "c"}, "REDSHIFT_REGION"),
        ({"REDSHIFT_COPY_IAM_ROLE": "equity-copy"}, "must be the ARN"),
        ({"REDSHIFT_COPY_IAM_ROLE": ROLE + "' iam_role 'x"}, "must be the ARN"),
        ({"EQUITY_BRONZE_URI": "data/bronze"}, "must be s3://bucket/prefix"),
        ({"EQUITY_BRONZE_URI": ""}, "must be s3://bucket/prefix"),
        ({"REDSHIFT_COPY_STAGING_URI": "/tmp/copy"}, "REDSHIFT_COPY_STAGING_URI must be s3://"),
    ],
)
def test_incomplete_or_wrong_settings_say_what_to_fix(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RedshiftSettings.from_env(BASE_ENV | change)


def test_settings_from_an_airflow_redshift_connection():
    connection = SimpleNamespace(
        host="equity.123456789012.us-east-1.redshift-serverless.amazonaws.com",
        port=5439,
        schema="equity",
        login="",
        password="",
        extra_dejson={
            "iam": True,
            "serverless_work_group": "equity",
            "region": "us-east-1",
            "db_user": "loader",
        },
    )

    settings = RedshiftSettings.from_airflow_connection(
        connection, copy_iam_role_arn=ROLE, bronze_uri="s3://equity-lake/bronze"
    )

    assert settings.auth_method == "iam" and settings.workgroup == "equity"
    assert settings.database == "equity" and settings.user == "loader"
    assert settings.connect_kwargs()["serverless_work_group"] == "equity"


def test_dbt_env_covers_every_variable_the_redshift_profile_reads():
    profile = (DBT_PROJECT_DIR / "profiles.yml").read_text()
    redshift_output = profile[profile.index("redshift:") :]
    read_by_dbt = set(re.findall(r"env_var\('(REDSHIFT_\w+)'", redshift_output))

    env = RedshiftSettings.from_env(BASE_ENV).dbt_env()

    assert read_by_dbt and read_by_dbt <= set(env)
    assert env["REDSHIFT_HOST"] == BASE_ENV["REDSHIFT_HOST"] and env["REDSHIFT_PORT"] == "5439"
