"""Which database failures are outages (retry later) rather than bugs (never retry blindly).

The unit of work turns an outage into ``Unavailable``, so every door answers it the
same way (SOAP 503 with Retry-After, XML-RPC fault 5030, a 503 page) and a caller
knows that repeating the call with the same event_id is safe. Everything else
stays an internal error with a reference in the log.

Drivers are told apart by what they attach to their exceptions, never by message
text: sqlite3's result code (Python 3.11+) and PostgreSQL's SQLSTATE.
"""
from __future__ import annotations

from sqlalchemy import exc

from service.domain.errors import Unavailable

#: SQLite primary result codes of a database that cannot serve now: another
#: connection holds the lock past the busy timeout (BUSY, LOCKED), the file cannot
#: be opened or read (CANTOPEN, IOERR, PROTOCOL), the disk is full (FULL).
_SQLITE_BUSY = {5, 6}
_SQLITE_DOWN = {10, 13, 14, 15}

#: SQLSTATE classes of a server that cannot serve now: connection exceptions (08),
#: insufficient resources such as too many connections (53), operator intervention
#: such as a shutdown, a restart or a statement timeout (57).
_PG_DOWN_CLASSES = {"08", "53", "57"}
#: Lock and transaction conflicts that a repeat resolves: lock_not_available,
#: serialization_failure, deadlock_detected (and the rest of class 40).
_PG_BUSY_CLASSES = {"40"}
_PG_BUSY_STATES = {"55P03"}

#: Seconds a caller should wait before repeating: a lock clears fast, a restart less so.
BUSY_RETRY_AFTER = 1
DOWN_RETRY_AFTER = 5

def outage_of(error: BaseException) -> Unavailable | None:
    """The ``Unavailable`` a database failure amounts to, or None when it is not an outage."""
    if isinstance(error, exc.TimeoutError):
        return _down("no database connection became free in time")
    if not isinstance(error, exc.DBAPIError):
        return None
    if error.connection_invalidated:
        return _down("the connection to the database was lost")
    driver_error = error.orig
    sqlite_code = getattr(driver_error, "sqlite_errorcode", None)
    if sqlite_code is not None:
        primary = sqlite_code & 0xFF
        if primary in _SQLITE_BUSY:
            return _busy()
        return _down("the database file cannot be used") if primary in _SQLITE_DOWN else None
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)
    if sqlstate is None:
        # A driver error without a server's SQLSTATE: the server was never reached.
        return _down("the database is unreachable") \
            if isinstance(error, exc.OperationalError) else None
    if sqlstate[:2] in _PG_BUSY_CLASSES or sqlstate in _PG_BUSY_STATES:
        return _busy()
    if sqlstate[:2] in _PG_DOWN_CLASSES:
        return _down("the database is restarting, overloaded or cancelled the statement")
    return None


def _busy() -> Unavailable:
    return Unavailable("The database is busy (a lock or transaction conflict); repeat the "
                       "call with the same event_id after the Retry-After delay.",
                       retry_after=BUSY_RETRY_AFTER)


def _down(why: str) -> Unavailable:
    return Unavailable(f"The service is briefly unavailable ({why}); repeat the call with "
                       f"the same event_id after the Retry-After delay.",
                       retry_after=DOWN_RETRY_AFTER)
