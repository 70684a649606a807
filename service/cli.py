"""The `feedloop` command: serve, worker, migrate, check, accounts, keys, deliveries, dump,
backup, wsdl, reference."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from dataclasses import replace
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

from service.config import Settings
from service.domain.errors import DomainError
from service.startup import (StartupError, describe, open_engine, open_replica_engine,
                             prepare_data_dir, require_current, require_secret)

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
    except Exception as error:  # one line for the operator; --debug for the developer
        if args.debug:
            raise
        print(f"feedloop: {describe(error)}", file=sys.stderr)
        return 1
    finally:
        while _ENGINES:
            _ENGINES.pop().dispose()


def _version() -> str:
    try:
        return version("feedloop")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _HelpWithDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, where there is one to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or action.required or "default" in text
                or action.default in (None, False, "", argparse.SUPPRESS)):
            return text
        return f"{text} (default: %(default)s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedloop", formatter_class=_HelpWithDefaults,
        description="Transactional surveys: SOAP and XML-RPC triggers, survey pages, results. "
                    "Data lives in FEEDLOOP_DATA_DIR (default: $XDG_DATA_HOME/feedloop, "
                    "else ~/.local/share/feedloop); see docs/deploy.md.")
    parser.add_argument("--version", action="version", version=f"feedloop {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of a failure instead of one line")
    commands = parser.add_subparsers(metavar="COMMAND")

    def command(where, name: str, text: str, handler=None, json_output: bool = False):
        sub = where.add_parser(name, help=text, description=text,
                               formatter_class=_HelpWithDefaults)
        if handler:
            sub.set_defaults(handler=handler)
        if json_output:
            sub.add_argument("--json", action="store_true",
                             help="print one JSON document instead of text, for scripts")
        return sub

    serve = command(commands, "serve", "run every door (SOAP, XML-RPC, pages, /metrics) under "
                    "gunicorn; on the embedded SQLite default, create and migrate the database "
                    "and print a first admin key", _serve)
    serve.add_argument("--bind", default=os.environ.get("FEEDLOOP_BIND", "127.0.0.1:8000"),
                       help="HOST:PORT to listen on (env FEEDLOOP_BIND)")
    serve.add_argument("--workers", type=int, default=int(os.environ.get("FEEDLOOP_WORKERS", "2")),
                       help="gunicorn worker processes (env FEEDLOOP_WORKERS)")

    worker = command(commands, "worker", "send due invitations, reminders and notification "
                     "mails, deliver webhooks and CRM pushes, run recurrences and scheduled "
                     "dumps; several may run at once", _worker)
    worker.add_argument("--once", action="store_true",
                        help="run one round, print its counts as JSON and exit")
    worker.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
    worker.add_argument("--metrics-bind", default=os.environ.get("FEEDLOOP_WORKER_METRICS_BIND"),
                        help="HOST:PORT where the running worker serves its Prometheus metrics "
                             "(env FEEDLOOP_WORKER_METRICS_BIND; default: none)")

    command(commands, "migrate", "bring the database to this release's schema (safe while "
            "older nodes serve)", _migrate)
    command(commands, "check", "check the configuration, database, secret key, SMTP, base URL "
            "and data directory, one line each; exit 1 on a problem", _check, json_output=True)

    accounts = command(commands, "accounts", "manage accounts").add_subparsers(metavar="ACTION")
    created_account = command(accounts, "create", "create an account and print its first admin "
                              "key", _accounts_create, json_output=True)
    created_account.add_argument("name", help="the account's name (1 to 200 characters)")

    keys = command(commands, "keys", "manage API keys").add_subparsers(metavar="ACTION")
    create = command(keys, "create", "create a key (and the account if needed); KEYID:SECRET is "
                     "the last line", _keys_create, json_output=True)
    create.add_argument("--account", required=True, help="the account's name")
    create.add_argument("--scope", action="append", required=True, dest="scopes",
                        choices=["trigger", "read", "admin"], help="a scope (repeat for several)")
    create.add_argument("--label", default="", help="a note shown by `keys list`")
    create.add_argument("--expires-days", type=int, default=None,
                        help="days until the key stops working (default: never)")
    listing = command(keys, "list", "list an account's keys", _keys_list, json_output=True)
    listing.add_argument("--account", required=True, help="the account's name")
    listing.add_argument("--all", action="store_true", help="include revoked and expired keys")
    revoke = command(keys, "revoke", "revoke a key at once", _keys_revoke)
    revoke.add_argument("--account", required=True, help="the account's name")
    revoke.add_argument("key_id", help="the key's id (fl_...)")
    rotate = command(keys, "rotate", "replace a key; the old one keeps working for --grace-hours",
                     _keys_rotate, json_output=True)
    rotate.add_argument("--account", required=True, help="the account's name")
    rotate.add_argument("--grace-hours", type=int, default=24,
                        help="hours the old key keeps working")
    rotate.add_argument("key_id", help="the id of the key to replace (fl_...)")

    link = command(keys, "link", "print a sign-in link for the account's pages, valid 15 "
                   "minutes, that signs a person in as this key (read or admin)", _keys_link)
    link.add_argument("--account", required=True, help="the account's name")
    link.add_argument("key_id", help="the key's id (fl_...)")

    deliveries = command(commands, "deliveries", "outbox deliveries (webhooks, CRM pushes, "
                         "notification mails)").add_subparsers(metavar="ACTION")
    listed = command(deliveries, "list", "list an account's deliveries", _deliveries_list,
                     json_output=True)
    listed.add_argument("--account", required=True, help="the account's name")
    listed.add_argument("--state", choices=["pending", "delivered", "dead"], default=None,
                        help="only deliveries in this state (default: all)")
    retried = command(deliveries, "retry", "queue a dead delivery again", _deliveries_retry)
    retried.add_argument("--account", required=True, help="the account's name")
    retried.add_argument("delivery_id", type=int, help="the delivery's id")

    dump = command(commands, "dump", "write a dump of a campaign's responses atomically, with "
                   "FILE.manifest.json beside it", _dump, json_output=True)
    dump.add_argument("--campaign", type=int, required=True, help="the campaign's id")
    where = dump.add_mutually_exclusive_group()
    where.add_argument("--cursor", default=None,
                       help="a named cursor (e.g. crm-nightly), moved after success")
    where.add_argument("--after", default=None,
                       help="an export position (next_cursor) to start after (default: the "
                            "beginning)")
    dump.add_argument("--format", choices=["csv", "jsonl", "xml"], required=True,
                      help="the file format")
    dump.add_argument("--gzip", action="store_true", help="compress the file")
    dump.add_argument("--out", required=True, help="the file to write")
    dump.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                      help="processes that write parts of a large dump at once (default: "
                           "the machine's cores, at most 4; 1 writes it alone)")

    backup = command(commands, "backup", "copy the embedded SQLite database while it serves "
                     "(SQLite's online backup); on PostgreSQL use pg_dump", _backup)
    backup.add_argument("out", help="the backup file to write (must not exist)")

    wsdl = command(commands, "wsdl", "print the WSDL as served at FEEDLOOP_BASE_URL "
                   "(for wsdl/feedloop.wsdl)", _wsdl)
    wsdl.add_argument("--out", default=None,
                      help="write to this file instead of standard output")

    reference = command(commands, "reference", "print the API reference generated from the "
                        "operation catalogue (for docs/api.md)", _reference)
    reference.add_argument("--out", default=None,
                           help="write to this file instead of standard output")
    return parser


def _emit(args, data, lines: list[str]) -> None:
    """Text for people, or with --json one JSON document for scripts."""
    if getattr(args, "json", False):
        print(json.dumps(data, default=str))
    else:
        print("\n".join(lines))


def _announce(settings: Settings) -> None:
    """Where this command's data is: the first thing an operator needs when in doubt."""
    print(f"feedloop: data directory {settings.data_dir}, database "
          f"{settings.safe_database_url}", file=sys.stderr, flush=True)


def _runtime(settings: Settings | None = None, need_secret: bool = True):
    """A runtime on an existing database at the latest revision, with its secret key
    (``need_secret=False`` only for commands that never sign, encrypt or verify)."""
    from service.services import Runtime
    from service.storage.uow import units_of_work
    from service.domain.destinations import Destinations
    from service.storage.objects import make_dump_store
    settings = settings or Settings.from_env()
    engine = open_engine(settings)
    _ENGINES.append(engine)
    require_current(engine, settings)
    replica = open_replica_engine(settings)
    if replica is not None:
        _ENGINES.append(replica)
    secret_key = require_secret(settings) if need_secret else settings.secret_key or b""
    return Runtime(uow=units_of_work(engine, replica),
                   secret_key=secret_key, base_url=settings.base_url,
                   dump_store=make_dump_store(settings.data_dir, settings.dump_bucket,
                                              settings.s3_endpoint_url),
                   destinations=Destinations(settings.outbound_allow),
                   retention=timedelta(days=settings.retention_days)
                   if settings.retention_days else None), engine


def _migrate_database(settings: Settings) -> Settings:
    """Migrate the database, creating it and its secret on the embedded default only;
    the settings with that secret."""
    from service.config import create_secret
    from service.storage.migrations import upgrade
    if settings.is_embedded:
        prepare_data_dir(settings.data_dir)
        if settings.secret_key is None:
            settings = replace(settings, secret_key=create_secret(settings.data_dir))
    engine = open_engine(settings, create=settings.is_embedded)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return settings


def _migrate(args) -> int:
    from service.services.keys import has_accounts
    settings = Settings.from_env()
    _announce(settings)
    # Migrating needs no secret on PostgreSQL: nodes may get theirs after the schema exists.
    rt, engine = _runtime(_migrate_database(settings), need_secret=False)
    print(f"database is at the latest revision ({require_current(engine, settings)})")
    if not has_accounts(rt):
        print("no account yet: `feedloop accounts create NAME` creates one and prints its "
              "admin key")
    return 0


def _serve(args) -> int:
    from service.services.keys import create_account_key, has_accounts
    settings = Settings.from_env()
    _announce(settings)
    if settings.is_embedded:
        rt, _ = _runtime(_migrate_database(settings))
        if not has_accounts(rt):
            key = create_account_key(rt, DEMO_ACCOUNT, ["admin"], label="created by first start")
            print("First start: created the account 'demo' and its admin API key "
                  "(shown once, keep it):")
            print(f"{key.key_id}:{key.secret}", flush=True)
    else:
        _runtime(settings)
    while _ENGINES:
        _ENGINES.pop().dispose()
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    os.environ["FEEDLOOP_BIND"] = args.bind
    os.environ["FEEDLOOP_WORKERS"] = str(args.workers)
    os.execv(gunicorn, [gunicorn, "--config", "python:service.gunicorn_conf",
                        "service.wsgi:create_app()"])


def _deliveries_list(args) -> int:
    result = _as_account(args.account, "ListDeliveries", state=args.state)
    lines = [f"{'ID':>6} {'STATE':<9} {'TRIES':>5} {'EVENT':<20} TARGET / LAST ERROR"]
    for d in result.deliveries:
        lines.append(f"{d.delivery_id:>6} {d.state:<9} {d.attempts:>5} {d.event:<20} {d.target}"
                     + (f"  ({d.last_error})" if d.last_error else ""))
    _emit(args, [vars(d) for d in result.deliveries], lines)
    return 0


def _deliveries_retry(args) -> int:
    delivery = _as_account(args.account, "RetryDelivery", delivery_id=args.delivery_id)
    print(f"delivery {delivery.delivery_id} is queued again")
    return 0


def _worker(args) -> int:
    import socket

    from service.mail import make_sender
    from service.logs import configure_logging
    from service.worker import install_stop_signals, run_forever, run_once
    settings = Settings.from_env()
    _announce(settings)
    rt, _ = _runtime(settings)
    configure_logging()
    sender = make_sender(settings.smtp_url, settings.data_dir)
    if args.once:
        print(json.dumps(run_once(rt, sender, f"{socket.gethostname()}:{os.getpid()}")))
        return 0
    if args.metrics_bind:
        from prometheus_client import start_http_server
        host, _, port = args.metrics_bind.rpartition(":")
        server, _ = start_http_server(int(port), addr=host or "127.0.0.1")
        # Port 0 asks the system for a free one: say which it is.
        print(f"feedloop: worker metrics on http://{server.server_address[0]}:"
              f"{server.server_address[1]}/metrics", file=sys.stderr, flush=True)
    run_forever(rt, sender, args.interval, install_stop_signals())
    return 0


#: Rows a dump must have before its parts are written by several processes (below, starting
#: a process costs more than it saves).
PARALLEL_DUMP_ROWS = 100_000


def _dump(args) -> int:
    from functools import partial
    from multiprocessing import get_context
    from pathlib import Path

    from tqdm import tqdm

    from service.services.dumps import (advance_cursor, dump_manifest, operator_principal,
                                        plan_dump, dump_rows, split_plan, write_dump)
    from service.storage.atomic import atomic_file, scratch_file
    if args.jobs < 1:
        raise StartupError("--jobs must be 1 or more")
    rt, _ = _runtime()
    plan = plan_dump(rt, operator_principal(rt, args.campaign), args.campaign, args.after,
                     args.cursor, columns=args.format == "csv")
    out = Path(args.out)
    first, *later = split_plan(rt, plan, args.jobs) if plan.rows >= PARALLEL_DUMP_ROWS \
        else [plan]
    with contextlib.ExitStack() as stack:
        parts = []
        if later:
            # Each later part goes into an unnamed file beside the dump, written by a fresh
            # interpreter (spawn, not fork: this process holds database connections) that
            # ends once its part is written: if this process is killed, nothing is left.
            context = get_context("spawn")
            for number, part in enumerate(later, 2):
                handle, path = stack.enter_context(scratch_file(out.resolve().parent))
                answers, answer = context.Pipe(duplex=False)
                process = context.Process(target=_dump_part, name=f"feedloop dump part {number}",
                                          args=(part, args.format, path, answer), daemon=True)
                process.start()
                answer.close()
                stack.callback(_stop_part, process)
                parts.append(partial(_part_bytes, number, process, answers, handle))
        bar = stack.enter_context(tqdm(total=plan.rows, unit=" rows", file=sys.stderr,
                                       disable=None))
        with atomic_file(out) as data:
            result = write_dump(plan, dump_rows(rt, first, args.format), data, args.format,
                                args.gzip, bar.update, parts)
    manifest = dump_manifest(out.name, plan, args.format, args.gzip, result, rt.clock(),
                             args.cursor)
    with atomic_file(out.with_name(out.name + ".manifest.json")) as handle:
        handle.write(manifest)
    if args.cursor:
        # Only now: an interrupted run leaves the cursor where it was, so the next
        # run repeats the same range instead of losing it.
        advance_cursor(rt, plan, args.cursor)
    _emit(args, json.loads(manifest), [f"{result.rows} rows, cursor {plan.after} -> "
                                       f"{plan.upto}, sha256 {result.sha256}, {out}"])
    return 0


def _dump_part(plan, fmt: str, path: str, answer) -> None:
    """In a process of its own: one later part of a dump written to ``path``; its rows (or
    what failed) are sent on ``answer``."""
    from service.services.dumps import dump_part
    try:
        rt, _ = _runtime()
        with open(path, "wb") as handle:
            rows = dump_part(rt, plan, fmt, handle)
    except Exception as error:
        try:
            answer.send(error)
        except Exception:   # an error that does not pickle: its description then
            answer.send(RuntimeError(describe(error)))
        return
    answer.send(rows)


def _part_bytes(number: int, process, answers, handle, size: int):
    """The bytes of a part as its process writes them (read while it writes: the file's
    size grows only over bytes written), then its rows; what failed there fails here."""
    import time
    handle.seek(0)
    while True:
        finished = not process.is_alive()   # before the read: then its bytes are all there
        if data := handle.read(size):
            yield data
        elif finished:
            outcome = answers.recv() if answers.poll() else RuntimeError(
                f"the process writing part {number} of the dump ended with exit code "
                f"{process.exitcode}")
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        else:
            time.sleep(0.005)


def _stop_part(process) -> None:
    """A part's process once the dump is done with it (ended by a failure elsewhere)."""
    if process.is_alive():
        process.terminate()
    process.join()


def _print_new_key(args, account: str, key, summary: str) -> None:
    """A new key: a sentence, then ``KEYID:SECRET`` alone on the last line (or JSON)."""
    _emit(args, {"account": account, "key_id": key.key_id, "secret": key.secret,
                 "key": f"{key.key_id}:{key.secret}", "scopes": list(key.scopes),
                 "expires_at": key.expires_at},
          [f"account {account}: {summary} (the secret is shown once)",
           f"{key.key_id}:{key.secret}"])


def _accounts_create(args) -> int:
    from service.domain.errors import NotFound
    from service.services.keys import account_principal, create_account_key
    rt, _ = _runtime()
    try:
        account_principal(rt, args.name)
    except NotFound:
        key = create_account_key(rt, args.name, ["admin"], label="first admin key")
        _print_new_key(args, args.name.strip(), key, f"created, with admin key {key.key_id}")
        return 0
    raise StartupError(f"the account {args.name!r} exists; add a key with `feedloop keys "
                       f"create --account {args.name!r} --scope admin`")


def _keys_create(args) -> int:
    from service.services.keys import create_account_key
    rt, _ = _runtime()
    expires = rt.clock() + timedelta(days=args.expires_days) if args.expires_days else None
    key = create_account_key(rt, args.account, args.scopes, args.label, expires)
    _print_new_key(args, args.account, key,
                   f"key {key.key_id} with scopes {' '.join(key.scopes)}"
                   + (f", expires {key.expires_at:%Y-%m-%d}" if key.expires_at else ""))
    return 0


def _keys_rotate(args) -> int:
    from service.services.keys import rotate_account_key
    rt, _ = _runtime()
    key = rotate_account_key(rt, args.account, args.key_id, timedelta(hours=args.grace_hours))
    _print_new_key(args, args.account, key, f"key {key.key_id} replaces {args.key_id}, which "
                   f"keeps working for {args.grace_hours} h")
    return 0


def _as_account(account: str, operation: str, **fields):
    """Run a catalogue operation as the operator of ``account`` (admin scope)."""
    from service.services import OPERATIONS, invoke
    from service.services.keys import account_principal
    rt, _ = _runtime()
    op = OPERATIONS[operation]
    return invoke(rt, account_principal(rt, account), op, op.request(**fields))


def _keys_list(args) -> int:
    result = _as_account(args.account, "ListApiKeys", include_revoked=args.all)
    lines = [f"{'KEY':<22} {'SCOPES':<22} {'STATE':<8} {'LAST USED':<17} LABEL"]
    for key in result.keys:
        state = "active" if key.active else ("revoked" if key.revoked_at else "expired")
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        lines.append(f"{key.key_id:<22} {','.join(key.scopes):<22} {state:<8} {used:<17} "
                     f"{key.label}")
    _emit(args, [vars(key) for key in result.keys], lines)
    return 0


def _keys_revoke(args) -> int:
    result = _as_account(args.account, "RevokeApiKey", key_id=args.key_id)
    print(f"revoked {result.key_id} at {result.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
    return 0


def _keys_link(args) -> int:
    from service.domain.errors import NotFound
    from service.services.keys import account_principal, principal_of_key
    from service.web.session import LINK_LIFETIME, sign_in_link
    rt, _ = _runtime()
    owner, key = account_principal(rt, args.account), principal_of_key(rt, args.key_id)
    if key.account_id != owner.account_id:
        raise NotFound(f"No API key '{args.key_id}' in account '{args.account}'.")
    key.require("read")
    print(f"valid for {int(LINK_LIFETIME.total_seconds() // 60)} minutes:\n"
          f"{sign_in_link(rt, key.key_id)}")
    return 0


def _check(args) -> int:
    from service.startup import run_checks
    results = run_checks(os.environ)
    _emit(args, [{"check": name, "ok": ok, "detail": detail} for name, ok, detail in results],
          [f"{'ok  ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in results])
    return 0 if all(ok for _, ok, _ in results) else 1


def _backup(args) -> int:
    import sqlite3
    from pathlib import Path
    settings = Settings.from_env()
    if not settings.is_embedded:
        raise StartupError("`feedloop backup` copies the embedded SQLite database; on "
                           "PostgreSQL use pg_dump (docs/deploy.md)")
    open_engine(settings).dispose()  # refuses a missing database with its one line
    out = Path(args.out)
    if out.exists():
        raise StartupError(f"{out} exists; name a new file")
    staging = out.with_name(f".{out.name}.partial")
    source = sqlite3.connect(f"file:{settings.sqlite_path}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(staging)
        try:
            # Online backup: consistent while serve and worker keep writing.
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    os.replace(staging, out)
    print(f"backed up {settings.sqlite_path} to {out}")
    return 0


def _wsdl(args) -> int:
    from service.soap import render_wsdl
    document = render_wsdl(Settings.from_env().base_url)
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(document)
    else:
        sys.stdout.buffer.write(document.rstrip(b"\n") + b"\n")
    return 0


def _reference(args) -> int:
    from service.apidoc import render_reference
    document = render_reference()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(document)
    else:
        sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
