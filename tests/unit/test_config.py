"""Where the data lives and which database URLs are accepted, decided from the environment."""
from pathlib import Path

import pytest

from service.config import ConfigError, Settings


def test_data_lives_in_the_xdg_data_home_whatever_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"XDG_DATA_HOME": "/srv/data", "HOME": "/home/ana"})
    assert settings.data_dir == Path("/srv/data/feedloop")
    assert settings.database_url == "sqlite:////srv/data/feedloop/feedloop.db"


def test_without_xdg_data_home_data_lives_under_the_home_directory():
    assert Settings.from_env({"HOME": "/home/ana"}).data_dir == Path("/home/ana/.local/share/feedloop")
    # The XDG specification says relative paths are invalid and must be ignored.
    assert Settings.from_env({"HOME": "/home/ana", "XDG_DATA_HOME": "rel"}).data_dir == \
        Path("/home/ana/.local/share/feedloop")


def test_feedloop_data_dir_wins_and_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FEEDLOOP_DATA_DIR": "var", "XDG_DATA_HOME": "/srv/data"})
    assert settings.data_dir == tmp_path / "var"


def test_reading_settings_creates_nothing(tmp_path):
    Settings.from_env({"FEEDLOOP_DATA_DIR": str(tmp_path / "data")})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url, says", [
    ("garbage", "is not a database URL"),
    ("postgres://u:p@db/feedloop", "must name the psycopg driver"),
    ("postgresql://u:p@db/feedloop", "must name the psycopg driver"),
    ("mysql://u@db/feedloop", "mysql is not supported"),
])
def test_database_urls_feedloop_cannot_use_are_refused_with_the_form_that_works(url, says):
    with pytest.raises(ConfigError, match=says) as refused:
        Settings.from_env({"FEEDLOOP_DATABASE_URL": url, "HOME": "/home/ana"})
    assert "postgresql+psycopg://" in str(refused.value) and "\n" not in str(refused.value)


def test_an_external_database_never_falls_back_to_a_per_node_generated_secret(tmp_path):
    (tmp_path / "secret_key").write_text("node-local")
    env = {"FEEDLOOP_DATA_DIR": str(tmp_path),
           "FEEDLOOP_DATABASE_URL": "postgresql+psycopg://u:p@db/feedloop"}
    assert Settings.from_env(env).secret_key is None
    assert Settings.from_env({**env, "FEEDLOOP_SECRET_KEY": "shared"}).secret_key == b"shared"
    del env["FEEDLOOP_DATABASE_URL"]
    assert Settings.from_env(env).secret_key == b"node-local"


def test_retention_is_read_in_days_and_anything_else_is_refused(tmp_path):
    env = {"FEEDLOOP_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).retention_days == 0
    assert Settings.from_env({**env, "FEEDLOOP_RETENTION_DAYS": "90"}).retention_days == 90
    with pytest.raises(ConfigError, match="FEEDLOOP_RETENTION_DAYS must be a whole number"):
        Settings.from_env({**env, "FEEDLOOP_RETENTION_DAYS": "-1"})


def test_pool_sizes_and_a_transaction_pooler_are_read_for_the_engine(tmp_path):
    env = {"FEEDLOOP_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).engine_options == {
        "pool_size": 5, "max_overflow": 10, "transaction_pooler": False}
    assert Settings.from_env({**env, "FEEDLOOP_DB_POOL_SIZE": "2", "FEEDLOOP_DB_MAX_OVERFLOW": "0",
                              "FEEDLOOP_DB_POOLER": "transaction"}).engine_options == {
        "pool_size": 2, "max_overflow": 0, "transaction_pooler": True}
    with pytest.raises(ConfigError, match="FEEDLOOP_DB_POOL_SIZE must be a whole number"):
        Settings.from_env({**env, "FEEDLOOP_DB_POOL_SIZE": "many"})
