"""What the survey page asks of the database: a GET and a POST, statement by statement."""
from __future__ import annotations

from tests.support.statements import statements
from tests.web.conftest import GOOD_ANSWERS, csrf_of


def test_showing_an_opened_link_again_reads_invitation_survey_and_contact_in_one_statement(site):
    path = site.link()
    site.client.get(path)  # the first opening records it
    with statements(site.app.engine) as seen:
        page = site.client.get(path)
    assert page.status_code == 200 and "_csrf" in page.text
    [read] = seen
    assert read.startswith("SELECT ") and "FROM invitations JOIN campaigns" in read
    assert "JOIN surveys" in read and "JOIN contacts" in read


def test_answering_a_personal_link_reads_it_in_one_statement_then_writes(site):
    path = site.link()
    csrf = csrf_of(site.client.get(path).text)
    with statements(site.app.engine) as seen:
        page = site.client.post(path, {"_csrf": csrf, **GOOD_ANSWERS})
    assert "Thank you!" in page.text
    reads = [s for s in seen if s.startswith("SELECT")]
    assert len(reads) == 1 and "JOIN contacts" in reads[0]
    assert not [s for s in seen if "FROM contacts" in s]
    assert len(seen) <= 5
    [record] = site.responses()
    assert record.email == "ana@example.com"
