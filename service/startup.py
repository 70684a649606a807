"""What the commands check before they start, and how a failure reads: one line each.

Every message says what is wrong and what to do; `feedloop --debug` shows tracebacks.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service.config import ConfigError, Settings
from service.mail import SmtpSender
from service.storage.engine import make_engine
from service.storage.migrations import schema_state

POSTGRES_EXTRA = "pip install -c constraints.txt '.[postgres]' (psycopg)"
SECRET_HINT = ("generate one once (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
               " and set the same value for serve, worker and every command on every node")


class StartupError(Exception):
    """A command cannot start; the message is the one line the operator reads."""


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data directory if needed; refuse one that is a file or not writable."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StartupError(f"the data directory {data_dir} is a file; set FEEDLOOP_DATA_DIR "
                           f"to a directory") from None
    except OSError as error:
        raise StartupError(f"cannot create the data directory {data_dir}: {error.strerror}; "
                           f"set FEEDLOOP_DATA_DIR to a writable directory") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise StartupError(f"the data directory {data_dir} is not writable by this user; fix its "
                           f"owner or set FEEDLOOP_DATA_DIR to a writable directory")


def open_engine(settings: Settings, create: bool = False) -> Engine:
    """An engine on the configured database; on SQLite, a missing file is refused unless
    ``create`` (only `serve` and `migrate` may create the embedded database)."""
    path = settings.sqlite_path
    if path is not None:
        if create:
            prepare_data_dir(path.parent)
        elif not path.is_file():
            raise StartupError(f"no database at {path}: `feedloop serve` creates it on first "
                               f"start, or run `feedloop migrate` (or set FEEDLOOP_DATA_DIR)")
    try:
        return make_engine(settings.database_url, **settings.engine_options)
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("psycopg"):
            raise StartupError(f"PostgreSQL needs the postgres extra: {POSTGRES_EXTRA}") \
                from None
        raise


def open_replica_engine(settings: Settings) -> Engine | None:
    """An engine on FEEDLOOP_REPLICA_DATABASE_URL, or None: then the reads it would take
    (dumps, exports, metrics, the dashboard) go to the primary."""
    if not settings.replica_database_url:
        return None
    return make_engine(settings.replica_database_url, **settings.engine_options)


def require_current(engine: Engine, settings: Settings) -> str:
    """The database's revision; refused when it has no tables or is behind this release."""
    state, current, head = schema_state(engine)
    where = settings.safe_database_url
    if state == "empty":
        raise StartupError(f"the database {where} has no feedloop tables: run `feedloop migrate`")
    if state == "behind":
        raise StartupError(f"the database {where} is at revision {current}, this release needs "
                           f"{head}: run `feedloop migrate`")
    return current if state == "current" else f"{current}, newer than this release's {head}"


def require_secret(settings: Settings) -> bytes:
    """The secret key; without it links, CSRF tokens and stored CRM secrets cannot work."""
    if settings.secret_key:
        return settings.secret_key
    if settings.is_embedded:
        raise StartupError(f"no secret key in {settings.data_dir}: `feedloop serve` or "
                           f"`feedloop migrate` creates it, or set FEEDLOOP_SECRET_KEY")
    raise StartupError(f"FEEDLOOP_SECRET_KEY is not set, and on PostgreSQL every node needs "
                       f"the same one: {SECRET_HINT}")


def _configured_database() -> str:
    try:
        return Settings.from_env().safe_database_url
    except ConfigError:
        return "(invalid FEEDLOOP_DATABASE_URL)"


def describe(error: BaseException) -> str:
    """The one line for an error a command did not expect, with what to check."""
    if isinstance(error, (StartupError, ConfigError)):
        return str(error)
    if isinstance(error, DBAPIError):
        return (f"cannot use the database {_configured_database()}: {_reason(error)}; check "
                f"FEEDLOOP_DATABASE_URL or FEEDLOOP_DATA_DIR, that PostgreSQL runs and accepts "
                f"this user, or restore a damaged SQLite file from a backup")
    if isinstance(error, SQLAlchemyError):
        return f"database error: {error}; check FEEDLOOP_DATABASE_URL and `feedloop check`"
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}; check the paths and permissions it names"
    return (f"unexpected {type(error).__name__}: {error} (run `feedloop --debug ...` for the "
            f"traceback)")


def _reason(error: DBAPIError) -> str:
    """The driver's first line of a database error."""
    return (str(error.orig).strip().splitlines() or ["unknown error"])[0]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def run_checks(environ) -> list[tuple[str, bool, str]]:
    """`feedloop check`: (name, ok, detail) for each part of a working installation."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as error:
        return [("config", False, str(error))]
    results = [("config", True, f"database {settings.safe_database_url}, base URL "
                                f"{settings.base_url}")]
    results.append(("data directory", *_check_data_dir(settings)))
    results.append(("database", *_attempt(lambda: _check_database(settings))))
    if settings.replica_database_url:
        results.append(("replica", *_attempt(lambda: _check_replica(settings))))
    results.append(("secret key", *_attempt(lambda: _describe_secret(settings, environ))))
    results.append(("smtp", *_attempt(lambda: _check_smtp(settings))))
    results.append(("base URL", *_check_base_url(settings.base_url)))
    return results


def _attempt(check) -> tuple[bool, str]:
    try:
        return True, check()
    except Exception as error:  # a check reports, it never stops the others
        return False, describe(error)


def _check_data_dir(settings: Settings) -> tuple[bool, str]:
    path = settings.data_dir
    if not path.exists():
        if settings.is_embedded:
            return False, f"{path} does not exist: `feedloop serve` or `feedloop migrate` creates it"
        return True, f"{path} does not exist (only mail.log goes there without FEEDLOOP_SMTP_URL)"
    if not path.is_dir():
        return False, f"{path} is a file; set FEEDLOOP_DATA_DIR to a directory"
    if not os.access(path, os.W_OK | os.X_OK):
        return False, f"{path} is not writable by this user"
    return True, f"{path} is writable"


def _check_database(settings: Settings) -> str:
    engine = open_engine(settings)
    try:
        return f"reachable, revision {require_current(engine, settings)}"
    finally:
        engine.dispose()


def _check_replica(settings: Settings) -> str:
    where = make_url(settings.replica_database_url).render_as_string(hide_password=True)
    engine = open_replica_engine(settings)
    try:
        state, current, head = schema_state(engine)
    except DBAPIError as error:
        raise StartupError(f"cannot reach the replica {where}: {_reason(error)}; check "
                           f"FEEDLOOP_REPLICA_DATABASE_URL") from None
    finally:
        engine.dispose()
    # A replica behind this release lags far behind its primary, or is another database.
    if state in ("empty", "behind"):
        raise StartupError(f"the replica {where} is at revision {current or 'none'}, this "
                           f"release needs {head}: is it a replica of the primary?")
    return f"{where} reachable, revision {current}"


def _describe_secret(settings: Settings, environ) -> str:
    require_secret(settings)
    if environ.get("FEEDLOOP_SECRET_KEY"):
        return "set by FEEDLOOP_SECRET_KEY"
    return f"generated into {settings.data_dir / 'secret_key'} (this node only)"


def _check_smtp(settings: Settings) -> str:
    if not settings.smtp_url:
        return (f"FEEDLOOP_SMTP_URL is not set: mails are appended to "
                f"{settings.data_dir / 'mail.log'}, not sent")
    sender = SmtpSender(settings.smtp_url)
    sender.probe()
    return f"{sender.host}:{sender.port} accepts a session"


def _check_base_url(base_url: str) -> tuple[bool, str]:
    from urllib.parse import urlsplit
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return True, f"{base_url} (https)"
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return True, f"{base_url} (plain http on a loopback address: local use only)"
    return False, (f"{base_url}: survey links and tracking URLs need https; set "
                   f"FEEDLOOP_BASE_URL=https://your.host")
