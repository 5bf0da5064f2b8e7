import pytest
from django.core.exceptions import ImproperlyConfigured

from muses.env import env_bool, env_int, env_list, parse_database_url, read_or_create_secret_key


def test_it_reads_a_postgres_url_into_django_settings():
    db = parse_database_url("postgres://muses:s%40cret@db.example:6543/collection?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == ("muses", "s@cret", "db.example", "6543")
    assert db["NAME"] == "collection"
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_it_reads_an_absolute_sqlite_path():
    assert parse_database_url("sqlite:////srv/muses/db.sqlite3")["NAME"] == "/srv/muses/db.sqlite3"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host:notaport/db", "postgres://host/", "sqlite://"])
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
