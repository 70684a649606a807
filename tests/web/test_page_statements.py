"""What the survey page asks of the database: a GET and a POST, statement by statement."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from tests.web.conftest import GOOD_ANSWERS, csrf_of


@contextmanager
def statements(engine):
    seen: list[str] = []

    def watch(conn, cursor, statement, *rest):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)


def test_showing_an_opened_link_again_only_reads_its_invitation_survey_and_contact(site):
    path = site.link()
    site.client.get(path)  # the first opening records it
    with statements(site.app.engine) as seen:
        site.client.get(path)
    assert [s.split()[0] for s in seen] == ["SELECT"] * 3
    assert [s for s in seen if "FROM contacts" in s] == [
        "SELECT contacts.unsubscribed_at FROM contacts "
        "WHERE contacts.account_id = ? AND contacts.id = ?"]


def test_answering_a_personal_link_reads_its_contact_once(site):
    path = site.link()
    csrf = csrf_of(site.client.get(path).text)
    with statements(site.app.engine) as seen:
        page = site.client.post(path, {"_csrf": csrf, **GOOD_ANSWERS})
    assert "Thank you!" in page.text
    assert len([s for s in seen if s.startswith("SELECT") and "FROM contacts" in s]) == 1
    assert len(seen) <= 7
    [record] = site.responses()
    assert record.email == "ana@example.com"

