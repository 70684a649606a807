"""Statements, commits and WAL bytes per operation on PostgreSQL: the capacity model's inputs.

    python bench/capacity.py postgresql+psycopg://user@127.0.0.1:5432/empty_db [--n 200]

Migrates the (empty, throwaway) database, then runs each operation ``n`` times in process
through the service layer, as the doors and the worker do, and prints per operation the
statements sent (counted by a SQLAlchemy event), the commits and the WAL written
(pg_current_wal_lsn before and after; nothing else may write to the server meanwhile).
docs/scale.md holds the figures of a run.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.services import OPERATIONS, Runtime, invoke  # noqa: E402
from service.services import messages as m  # noqa: E402
from service.services.delivery import claim_mail, record_sent  # noqa: E402
from service.services.keys import authenticate, create_account_key  # noqa: E402
from service.domain.credentials import Credentials  # noqa: E402
from service.storage.engine import make_engine  # noqa: E402
from service.storage.migrations import upgrade  # noqa: E402
from service.storage.uow import SqlUnitOfWork  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


def call(rt, principal, operation, **fields):
    op = OPERATIONS[operation]
    return invoke(rt, principal, op, op.request(**fields))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    upgrade(engine)
    clock = Clock()
    rt = Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only),
                 secret_key=b"capacity", base_url="http://127.0.0.1", clock=clock)
    key = create_account_key(rt, "capacity", ["admin"])
    admin = authenticate(rt, Credentials(key.key_id, key.secret))
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="en",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    crm = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="crm").campaign_id
    mail = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="mail",
                delivery="email").campaign_id
    counted = {"statements": 0, "commits": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(*_args) -> None:
        counted["statements"] += 1

    @event.listens_for(engine, "commit")
    def _commit(*_args) -> None:
        counted["commits"] += 1

    def wal() -> int:
        with engine.connect() as connection:
            return connection.execute(text("SELECT pg_current_wal_lsn() - '0/0'")).scalar()

    links = []

    def trigger(i):
        call(rt, admin, "AddRespondents", campaign_id=crm,
             respondents=[m.Respondent(email=f"t{i}@example.com", event_id=f"e{i}")])

    def link(i):
        links.append(call(rt, admin, "GetTrackingUrl", campaign_id=crm,
                          email=f"l{i}@example.com").invitation_id)

    def respond(i):
        call(rt, admin, "RecordResponse", invitation_id=links[i],
             answers=[m.Answer("nps", str(i % 11))])

    def mail_one(i):
        call(rt, admin, "AddRespondents", campaign_id=mail,
             respondents=[m.Respondent(email=f"m{i}@example.com")])
        clock.now += timedelta(minutes=1)
        for job in claim_mail(rt, "capacity", 1):
            record_sent(rt, "capacity", job)

    print("| operation | statements | commits | WAL bytes |")
    print("|---|---:|---:|---:|")
    for name, operation in (("AddRespondents, 1 row (CRM delivery)", trigger),
                            ("GetTrackingUrl, new link", link),
                            ("RecordResponse", respond),
                            ("mail invitation: trigger + claim + sent", mail_one)):
        counted.update(statements=0, commits=0)
        before = wal()
        for i in range(args.n):
            operation(i)
        written = wal() - before
        # The two WAL probes are statements of their own, not the operation's.
        print(f"| {name} | {(counted['statements'] - 2) / args.n:.1f} | "
              f"{counted['commits'] / args.n:.1f} | {written / args.n:,.0f} |")
    engine.dispose()


if __name__ == "__main__":
    main()
