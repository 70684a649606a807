"""Scheduled dumps in an S3-compatible store (moto's server on 127.0.0.1): every node serves them."""
from __future__ import annotations

import hashlib
import shutil

import pytest
from webtest import TestApp

from service.config import Settings
from service.domain.credentials import Credentials
from service.services.dumps import run_scheduled_dumps
from service.services.keys import authenticate, create_account_key
from service.storage.objects import ObjectStore
from service.wsgi import create_app
from tests.conftest import call
from tests.integration.test_scheduled_dumps import campaign_with_answers


@pytest.fixture
def nodes(tmp_path, clock, migrated_sqlite, s3_bucket):
    """Two app nodes on one database and one bucket, each with its own data directory."""
    shutil.copyfile(migrated_sqlite, tmp_path / "db.sqlite")
    apps = []
    for node in ("a", "b"):
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                            base_url="http://127.0.0.1:8000", secret_key=b"k", smtp_url="",
                            data_dir=tmp_path / node, dump_bucket=s3_bucket.name,
                            s3_endpoint_url=s3_bucket.endpoint)
        apps.append(create_app(settings, clock=clock))
    yield apps
    for app in apps:
        app.engine.dispose()


def test_a_dump_written_by_one_node_is_downloaded_from_another(nodes, clock, tmp_path):
    writer, reader = nodes
    key = create_account_key(writer.runtime, "acme", ["admin"])
    admin = authenticate(writer.runtime, Credentials(key.key_id, key.secret))
    campaign_with_answers(writer.runtime, admin, 3, dump_every="daily", dump_at="10:00")
    clock.now = clock.now.replace(hour=10)
    assert run_scheduled_dumps(writer.runtime) == 1
    [dump] = call(reader.runtime, admin, "ListDumps").dumps
    web = TestApp(reader)
    web.authorization = ("Basic", (key.key_id, key.secret))
    body = web.get(f"/exports/files/{dump.name}").body
    assert hashlib.sha256(body).hexdigest() == dump.sha256 and len(body) == dump.size
    assert web.get(f"/exports/files/{dump.name}.manifest.json").json["sha256"] == dump.sha256
    assert not (tmp_path / "a" / "dumps").exists() and not (tmp_path / "b" / "dumps").exists()


def test_an_object_is_stored_whole_or_not_at_all(s3_bucket):
    store = ObjectStore(s3_bucket.name, s3_bucket.client)
    with pytest.raises(RuntimeError):
        with store.new_file(1, "campaign-1-20261102T100000Z.csv") as handle:
            handle.write(b"half a dump")
            raise RuntimeError("the worker stops here")
    assert store.open(1, "campaign-1-20261102T100000Z.csv") is None
    with store.new_file(1, "campaign-1-20261102T100000Z.csv") as handle:
        handle.write(b"a whole dump")
    stored = store.open(1, "campaign-1-20261102T100000Z.csv")
    assert (stored.stream.read(), stored.size) == (b"a whole dump", 12)
    assert store.open(2, "campaign-1-20261102T100000Z.csv") is None
    with pytest.raises(ValueError):
        store.open(1, "../1/campaign-1-20261102T100000Z.csv")
