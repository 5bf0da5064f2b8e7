import pytest
from django.core.exceptions import ImproperlyConfigured

from muses.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    parse_database_url,
    read_or_create_secret_key,
    storages_from_env,
)

S3_VARIABLES = (
    "MUSES_STORAGE",
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
    "AWS_S3_ADDRESSING_STYLE",
    "AWS_S3_CUSTOM_DOMAIN",
    "AWS_LOCATION",
    "AWS_QUERYSTRING_AUTH",
)


@pytest.fixture
def storage_env(monkeypatch):
    """A clean slate of the storage variables; returns a setter."""
    for name in S3_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch.setenv


def test_it_reads_a_postgres_url_into_django_settings():
    db = parse_database_url("postgres://muses:s%40cret@db.example:6543/collection?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "muses",
        "s@cret",
        "db.example",
        "6543",
    )
    assert db["NAME"] == "collection"
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_it_reads_an_absolute_sqlite_path():
    assert parse_database_url("sqlite:////srv/muses/db.sqlite3")["NAME"] == "/srv/muses/db.sqlite3"


@pytest.mark.parametrize(
    "url", ["mysql://x/y", "postgres://host:notaport/db", "postgres://host/", "sqlite://"]
)
def test_it_rejects_a_database_url_it_cannot_use(url):
    with pytest.raises(ImproperlyConfigured):
        parse_database_url(url)


def test_it_rejects_a_boolean_that_is_not_one(monkeypatch):
    monkeypatch.setenv("MUSES_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="MUSES_DEBUG"):
        env_bool("MUSES_DEBUG", False)


def test_it_rejects_an_integer_that_is_not_one(monkeypatch):
    monkeypatch.setenv("MUSES_BATCH_MAX", "thirty")
    with pytest.raises(ImproperlyConfigured, match="MUSES_BATCH_MAX"):
        env_int("MUSES_BATCH_MAX", 32)


def test_it_rejects_an_inference_engine_it_does_not_know_naming_the_choices(monkeypatch):
    monkeypatch.setenv("MUSES_INFERENCE", "onnxruntime")
    with pytest.raises(ImproperlyConfigured, match="MUSES_INFERENCE='onnxruntime' is not one of"):
        env_choice("MUSES_INFERENCE", "auto", ("auto", "openvino", "tensorflow"))


def test_an_inference_choice_is_read_case_insensitively(monkeypatch):
    monkeypatch.setenv("MUSES_PRECISION", " BF16 ")
    assert env_choice("MUSES_PRECISION", "auto", ("auto", "fp32", "bf16")) == "bf16"


def test_it_splits_allowed_hosts_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "muses.example.org, 10.0.0.5 ,")
    assert env_list("ALLOWED_HOSTS", []) == ["muses.example.org", "10.0.0.5"]


def test_it_keeps_the_generated_secret_key_between_runs(tmp_path):
    first = read_or_create_secret_key(tmp_path / "key", allowed=True)
    assert read_or_create_secret_key(tmp_path / "key", allowed=True) == first
    assert len(first) > 40


def test_it_requires_a_secret_key_in_production(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        read_or_create_secret_key(tmp_path / "key", allowed=False)


def test_the_seed_model_path_setting_exists(settings):
    assert "model_path" in settings.MUSES_CONFIG["classification"]["naive_classification"]


def test_jobs_run_in_process_under_test(settings):
    assert settings.Q_CLUSTER["sync"] is True
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]


def test_media_stay_on_the_local_filesystem_by_default(storage_env):
    storages = storages_from_env()
    assert storages["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert "staticfiles" in storages


def test_s3_storage_without_a_bucket_is_refused_naming_the_variable(storage_env):
    storage_env("MUSES_STORAGE", "s3")
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        storages_from_env()


def test_s3_storage_reads_the_bucket_endpoint_and_region_from_the_environment(storage_env):
    storage_env("MUSES_STORAGE", "S3")
    storage_env("AWS_STORAGE_BUCKET_NAME", "muses-media")
    storage_env("AWS_S3_ENDPOINT_URL", "http://minio.internal:9000")
    storage_env("AWS_S3_REGION_NAME", "eu-central-1")
    storage_env("AWS_S3_ADDRESSING_STYLE", "path")
    default = storages_from_env()["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"] == {
        "bucket_name": "muses-media",
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": True,
        "endpoint_url": "http://minio.internal:9000",
        "region_name": "eu-central-1",
        "addressing_style": "path",
    }


def test_s3_credentials_are_left_to_boto3_and_never_copied_into_settings(storage_env):
    storage_env("MUSES_STORAGE", "s3")
    storage_env("AWS_STORAGE_BUCKET_NAME", "muses-media")
    storage_env("AWS_SECRET_ACCESS_KEY", "do-not-copy")
    assert "do-not-copy" not in repr(storages_from_env())


@pytest.mark.parametrize(
    "name, value",
    [
        ("MUSES_STORAGE", "ftp"),
        ("AWS_S3_ENDPOINT_URL", "minio:9000"),
        ("AWS_QUERYSTRING_AUTH", "x"),
    ],
)
def test_a_bad_storage_setting_is_refused_naming_the_variable(storage_env, name, value):
    storage_env("MUSES_STORAGE", "s3")
    storage_env("AWS_STORAGE_BUCKET_NAME", "muses-media")
    storage_env(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        storages_from_env()
