"""A writer for the power-cut tests: inserts rows and acknowledges each commit.

``python powerloss_writer.py DATABASE_URL NAME MODE [--stop-after N] [--reopen-every K]``
inserts rows ``NAME-1``, ``NAME-2``… one per transaction through feedloop's engine and
writes each identifier on its own line on stdout once its commit returned: the
acknowledgement. MODE: ``group`` (feedloop's default, group commit), ``full``
(``synchronous=FULL``, SQLite syncing every commit) or ``normal`` (``synchronous=NORMAL``
with nothing flushing the log: the control that shows a cut is felt).
``--reopen-every K`` disposes of the engine's connections every K commits, so SQLite
deletes the log (being its last connection) and makes a new one.
"""
from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import event, text

from service.storage.engine import make_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("mode", choices=["group", "full", "normal"])
    parser.add_argument("--stop-after", type=int, default=0)
    parser.add_argument("--reopen-every", type=int, default=0)
    args = parser.parse_args()
    engine = make_engine(args.url, group_commit=args.mode == "group")
    if args.mode == "normal":
        @event.listens_for(engine, "connect")
        def _unsafe(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    insert = text("INSERT INTO acknowledged (ident) VALUES (:ident)")
    out = sys.stdout.buffer
    count = 0
    while True:
        count += 1
        ident = f"{args.name}-{count}"
        with engine.begin() as connection:
            connection.execute(insert, {"ident": ident})
        # One write per line: a kill between two writes can cut only the last line.
        out.write(f"{ident}\n".encode())
        out.flush()
        if args.stop_after and count >= args.stop_after:
            time.sleep(3600)
        if args.reopen_every and count % args.reopen_every == 0:
            engine.dispose()


if __name__ == "__main__":
    main()
