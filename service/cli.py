"""The `feedloop` command: serve, migrate, keys, worker, wsdl."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import timedelta

from service.config import Settings
from service.domain.errors import DomainError

DEMO_ACCOUNT = "demo"
#: Engines a command opened, closed when it ends (main() also runs in-process, in tests).
_ENGINES: list = []


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except DomainError as error:
        print(f"feedloop: {error.code}: {error.message}", file=sys.stderr)
        return 1
    finally:
        while _ENGINES:
            _ENGINES.pop().dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedloop", description="Transactional surveys: "
                                     "SOAP and XML-RPC triggers, survey pages, results.")
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="run every door under gunicorn")
    serve.add_argument("--bind", default=os.environ.get("FEEDLOOP_BIND", "127.0.0.1:8000"))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("FEEDLOOP_WORKERS", "2")))
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(metavar="ACTION")
    create = keys.add_parser("create", help="create a key (and the account if needed)")
    create.add_argument("--account", required=True)
    create.add_argument("--scope", action="append", required=True,
                        choices=["trigger", "read", "admin"], dest="scopes")
    create.add_argument("--label", default="")
    create.add_argument("--expires-days", type=int)
    create.set_defaults(handler=_keys_create)
    listing = keys.add_parser("list", help="list an account's keys")
    listing.add_argument("--account", required=True)
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(handler=_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--account", required=True)
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_keys_revoke)

    rotate = keys.add_parser("rotate", help="replace a key; the old one works for --grace-hours")
    rotate.add_argument("--account", required=True)
    rotate.add_argument("--grace-hours", type=int, default=24)
    rotate.add_argument("key_id")
    rotate.set_defaults(handler=_keys_rotate)

    deliveries = commands.add_parser("deliveries", help="outbox deliveries (webhooks)") \
        .add_subparsers(metavar="ACTION")
    listed = deliveries.add_parser("list", help="list an account's deliveries")
    listed.add_argument("--account", required=True)
    listed.add_argument("--state", choices=["pending", "delivered", "dead"])
    listed.set_defaults(handler=_deliveries_list)
    retried = deliveries.add_parser("retry", help="queue a dead delivery again")
    retried.add_argument("--account", required=True)
    retried.add_argument("delivery_id", type=int)
    retried.set_defaults(handler=_deliveries_retry)

    worker = commands.add_parser("worker", help="send due invitations and reminders, run "
                                                "recurrences")
    worker.add_argument("--once", action="store_true", help="one round, then exit")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    worker.set_defaults(handler=_worker)

    dump = commands.add_parser("dump", help="write a dump of a campaign's responses, atomically")
    dump.add_argument("--campaign", type=int, required=True)
    where = dump.add_mutually_exclusive_group()
    where.add_argument("--cursor", help="a named cursor (e.g. crm-nightly), moved after success")
    where.add_argument("--after", help="an export position (next_cursor) to start after")
    dump.add_argument("--format", choices=["csv", "jsonl", "xml"], required=True)
    dump.add_argument("--gzip", action="store_true")
    dump.add_argument("--out", required=True, help="the file; FILE.manifest.json goes beside it")
    dump.set_defaults(handler=_dump)

    wsdl = commands.add_parser("wsdl", help="print the WSDL (for wsdl/feedloop.wsdl)")
    wsdl.add_argument("--out", help="write to this file instead of standard output")
    wsdl.set_defaults(handler=_wsdl)
    return parser


def _runtime(settings: Settings):
    from service.services import Runtime
    from service.storage.engine import make_engine
    from service.storage.uow import SqlUnitOfWork
    from service.storage.atomic import DumpStore
    engine = make_engine(settings.database_url)
    _ENGINES.append(engine)
    return Runtime(uow=lambda read_only=False: SqlUnitOfWork(engine, read_only),
                   secret_key=settings.secret_key, base_url=settings.base_url,
                   dump_store=DumpStore(settings.data_dir / "dumps")), engine


def _migrate(args) -> int:
    from service.storage.migrations import upgrade
    settings = Settings.from_env()
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    _, engine = _runtime(settings)
    upgrade(engine)
    print("database is at the latest revision")
    return 0


def _serve(args) -> int:
    from service.services.keys import create_account_key, has_accounts
    from service.storage.migrations import is_current, upgrade
    settings = Settings.from_env()
    rt, engine = _runtime(settings)
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(engine)
        if not has_accounts(rt):
            key = create_account_key(rt, DEMO_ACCOUNT, ["admin"], label="created by first start")
            print("First start: created the account 'demo' and its admin API key "
                  "(shown once, keep it):")
            print(f"{key.key_id}:{key.secret}", flush=True)
    elif not is_current(engine):
        print("feedloop: the database is not at the latest revision; run `feedloop migrate`.",
              file=sys.stderr)
        return 1
    engine.dispose()
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.environ["FEEDLOOP_BIND"] = args.bind
    os.environ["FEEDLOOP_WORKERS"] = str(args.workers)
    os.execv(gunicorn, [gunicorn, "--config", "python:service.gunicorn_conf",
                        "service.wsgi:create_app()"])


def _deliveries_list(args) -> int:
    result = _as_account(args.account, "ListDeliveries", state=args.state)
    print(f"{'ID':>6} {'STATE':<9} {'TRIES':>5} {'EVENT':<20} TARGET / LAST ERROR")
    for d in result.deliveries:
        print(f"{d.delivery_id:>6} {d.state:<9} {d.attempts:>5} {d.event:<20} {d.target}"
              + (f"  ({d.last_error})" if d.last_error else ""))
    return 0


def _deliveries_retry(args) -> int:
    delivery = _as_account(args.account, "RetryDelivery", delivery_id=args.delivery_id)
    print(f"delivery {delivery.delivery_id} is queued again")
    return 0


def _worker(args) -> int:
    import logging
    import os
    import socket

    from service.mail import make_sender
    from service.worker import install_stop_signals, run_forever, run_once
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    rt, _ = _runtime(settings)
    sender = make_sender(settings.smtp_url, settings.data_dir)
    if args.once:
        print(run_once(rt, sender, f"{socket.gethostname()}:{os.getpid()}"))
        return 0
    run_forever(rt, sender, args.interval, install_stop_signals())
    return 0


def _dump(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from service.services.dumps import (advance_cursor, dump_manifest, operator_principal,
                                        plan_dump, records, write_dump)
    from service.storage.atomic import atomic_file
    rt, _ = _runtime(Settings.from_env())
    plan = plan_dump(rt, operator_principal(rt, args.campaign), args.campaign, args.after,
                     args.cursor)
    out = Path(args.out)
    with tqdm(total=plan.rows, unit=" rows", file=sys.stderr, disable=None) as bar:
        with atomic_file(out) as data:
            result = write_dump(plan, records(rt, plan), data, args.format, args.gzip,
                                bar.update)
    with atomic_file(out.with_name(out.name + ".manifest.json")) as handle:
        handle.write(dump_manifest(out.name, plan, args.format, args.gzip, result, rt.clock(),
                                   args.cursor))
    if args.cursor:
        # Only now: an interrupted run leaves the cursor where it was, so the next
        # run repeats the same range instead of losing it.
        advance_cursor(rt, plan, args.cursor)
    print(f"{result.rows} rows, cursor {plan.after} -> {plan.upto}, sha256 {result.sha256}, "
          f"{out}")
    return 0


def _keys_create(args) -> int:
    from service.services.keys import create_account_key
    rt, _ = _runtime(Settings.from_env())
    expires = rt.clock() + timedelta(days=args.expires_days) if args.expires_days else None
    key = create_account_key(rt, args.account, args.scopes, args.label, expires)
    print(f"account {args.account}: key {key.key_id} with scopes {' '.join(key.scopes)}"
          + (f", expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "")
          + " (the secret is shown once)")
    print(f"{key.key_id}:{key.secret}")
    return 0


def _keys_rotate(args) -> int:
    from service.services.keys import rotate_account_key
    rt, _ = _runtime(Settings.from_env())
    key = rotate_account_key(rt, args.account, args.key_id, timedelta(hours=args.grace_hours))
    print(f"account {args.account}: key {key.key_id} replaces {args.key_id}, which keeps "
          f"working for {args.grace_hours} h (the secret is shown once)")
    print(f"{key.key_id}:{key.secret}")
    return 0


def _as_account(account: str, operation: str, **fields):
    """Run a catalogue operation as the operator of ``account`` (admin scope)."""
    from service.services import OPERATIONS, invoke
    from service.services.keys import account_principal
    rt, _ = _runtime(Settings.from_env())
    op = OPERATIONS[operation]
    return invoke(rt, account_principal(rt, account), op, op.request(**fields))


def _keys_list(args) -> int:
    result = _as_account(args.account, "ListApiKeys", include_revoked=args.all)
    print(f"{'KEY':<22} {'SCOPES':<22} {'STATE':<8} {'LAST USED':<17} LABEL")
    for key in result.keys:
        state = "active" if key.active else ("revoked" if key.revoked_at else "expired")
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        print(f"{key.key_id:<22} {','.join(key.scopes):<22} {state:<8} {used:<17} {key.label}")
    return 0


def _keys_revoke(args) -> int:
    result = _as_account(args.account, "RevokeApiKey", key_id=args.key_id)
    print(f"revoked {result.key_id} at {result.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _wsdl(args) -> int:
    from service.soap import render_wsdl
    document = render_wsdl(Settings.from_env().base_url)
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(document)
    else:
        sys.stdout.buffer.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
