"""A person's way in: sign-in, the session cookie, sign-out, the campaigns home, the keys page,
CSRF on every form and the same tenant isolation as the API."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from webtest import TestApp

from service.config import Settings
from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.keys import authenticate, create_account_key
from service.web.session import (COOKIE, LINK_LIFETIME, SESSION, SESSION_LIFETIME,
                                 SIGN_IN_COOKIE, SIGN_IN_LINK, seal, sign_in_link, unseal)
from tests.conftest import call, create_campaign
from tests.integration.test_cli import migrated, run, var  # noqa: F401  (fixtures)

HTML = {"Accept": "text/html,application/xhtml+xml"}


def session_cookie(answer) -> str:
    """The Set-Cookie header of the session."""
    [cookie] = [c for c in answer.headers.getall("Set-Cookie") if c.startswith(f"{COOKIE}=")]
    return cookie


def csrf_of(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


@pytest.fixture
def browser(app):
    """A browser-like client: no Basic credentials, asks for HTML, keeps cookies."""
    return TestApp(app, extra_environ={"HTTP_ACCEPT": HTML["Accept"]})


def sign_in(browser, key_id: str, secret: str, status: int | str = 303, next_page: str = ""):
    form = browser.get("/signin" + (f"?next={next_page}" if next_page else "")).text
    return browser.post("/signin", {"_csrf": csrf_of(form), "key_id": key_id, "secret": secret,
                                    "next": re.search(r'name="next" value="([^"]*)"',
                                                      form).group(1)}, status=status)


@pytest.fixture
def reader(app):
    return create_account_key(app.runtime, "acme", ["read"], label="cx team")


@pytest.fixture
def acme_campaign(app, key):
    admin = authenticate(app.runtime, Credentials(*key))
    return create_campaign(app.runtime, admin, title="Support")


def test_a_person_without_a_session_is_sent_to_sign_in_and_back_afterwards(browser, reader,
                                                                          acme_campaign):
    answer = browser.get(f"/dashboard/{acme_campaign}?category=detractor", status=303)
    assert answer.headers["Location"].endswith(
        f"/signin?next=/dashboard/{acme_campaign}%3Fcategory%3Ddetractor")
    signed_in = sign_in(browser, reader.key_id, reader.secret,
                        next_page=f"/dashboard/{acme_campaign}%3Fcategory%3Ddetractor")
    assert signed_in.headers["Location"].endswith(f"/dashboard/{acme_campaign}?category=detractor")
    assert "<h1>c</h1>" in signed_in.follow().text


def test_the_session_cookie_is_signed_http_only_same_site_and_expires(browser, app, reader,
                                                                      clock):
    answer = sign_in(browser, reader.key_id, reader.secret)
    cookie = session_cookie(answer)
    assert reader.secret not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie                   # http://127.0.0.1: a browser would drop it
    value = cookie.split(";")[0].split("=", 1)[1].strip('"')
    assert unseal(app.runtime.secret_key, SESSION, value, clock.now).key_id == reader.key_id
    assert unseal(app.runtime.secret_key, SESSION, value,
                  clock.now + SESSION_LIFETIME + timedelta(seconds=1)) is None
    assert unseal(app.runtime.secret_key, SIGN_IN_LINK, value, clock.now) is None
    assert answer.headers["Location"].endswith("/home")


def test_the_cookie_is_secure_when_the_site_is_served_over_https(browser, reader):
    form = browser.get("/signin", extra_environ={"wsgi.url_scheme": "https"}).text
    answer = browser.post("/signin", {"_csrf": csrf_of(form), "key_id": reader.key_id,
                                      "secret": reader.secret},
                          extra_environ={"wsgi.url_scheme": "https"}, status=303)
    assert "Secure" in session_cookie(answer)


@pytest.mark.parametrize("tampered", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),           # forged tag
    lambda v: v.replace(".", ".9", 1),                                      # another expiry
    lambda v: "",
    lambda v: "fl_x.notanumber.n.tag",
])
def test_a_tampered_cookie_is_no_session(browser, app, reader, clock, tampered):
    sign_in(browser, reader.key_id, reader.secret)
    value = browser.cookies[COOKIE].strip('"')
    browser.reset()
    browser.set_cookie(COOKIE, tampered(value))
    assert browser.get("/home", status=303).headers["Location"].endswith("/signin?next=/home")


def test_wrong_credentials_and_a_trigger_key_are_refused_on_the_page(browser, app):
    answer = sign_in(browser, "fl_0000000000000000", "nope", status=401)
    assert "do not match an active key" in answer.text and COOKIE not in browser.cookies
    trigger = create_account_key(app.runtime, "acme", ["trigger"])
    answer = sign_in(browser, trigger.key_id, trigger.secret, status=403)
    assert "cannot read results" in answer.text and COOKIE not in browser.cookies


def test_sign_in_without_the_forms_token_is_refused(browser, reader):
    answer = browser.post("/signin", {"key_id": reader.key_id, "secret": reader.secret},
                          status=403)
    assert "form had expired" in answer.text and COOKIE not in browser.cookies


def test_a_sign_in_form_of_another_browser_is_refused(browser, app, reader):
    """Login CSRF: another site cannot post its own key with a token it fetched itself."""
    token = csrf_of(TestApp(app).get("/signin").text)
    answer = browser.post("/signin", {"_csrf": token, "key_id": reader.key_id,
                                      "secret": reader.secret}, status=403)
    assert COOKIE not in browser.cookies and "form had expired" in answer.text


def test_signing_in_drops_the_sign_in_forms_cookie(browser, reader):
    browser.get("/signin")
    assert SIGN_IN_COOKIE in browser.cookies
    sign_in(browser, reader.key_id, reader.secret)
    assert SIGN_IN_COOKIE not in browser.cookies and COOKIE in browser.cookies


def test_next_never_leads_to_another_site(browser, reader):
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = sign_in(browser, reader.key_id, reader.secret, next_page=elsewhere)
        assert answer.headers["Location"].endswith("/home")


def test_sign_out_needs_the_sessions_token_and_ends_the_session(browser, reader):
    home = sign_in(browser, reader.key_id, reader.secret).follow()
    browser.post("/signout", {"_csrf": "1.forged"}, status=403)
    assert browser.get("/home").status_int == 200
    answer = browser.post("/signout", {"_csrf": csrf_of(home.text)}, status=303)
    assert "Max-Age=0" in session_cookie(answer)
    assert "You are signed out" in answer.follow().text
    browser.get("/home", status=303)


def test_revoking_the_key_ends_its_sessions(browser, app, key, reader):
    sign_in(browser, reader.key_id, reader.secret)
    call(app.runtime, authenticate(app.runtime, Credentials(*key)), "RevokeApiKey",
         key_id=reader.key_id)
    assert browser.get("/home", status=303).headers["Location"].endswith("/signin?next=/home")


def test_the_home_page_lists_campaigns_with_nps_response_rate_and_last_response(
        browser, app, key, reader, clock):
    admin = authenticate(app.runtime, Credentials(*key))
    campaign = create_campaign(app.runtime, admin, title="Onboarding")
    link = call(app.runtime, admin, "GetTrackingUrl", campaign_id=campaign,
                email="ana@example.com")
    clock.advance(days=3)
    call(app.runtime, admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "10")])
    create_campaign(app.runtime, admin, title="Quiet")
    html = sign_in(browser, reader.key_id, reader.secret).follow().text
    assert html.count('<a href="/dashboard/') == 2
    assert f'<a href="/dashboard/{campaign}">c</a>' in html
    first = html[html.index(f"/dashboard/{campaign}"):]
    assert "<dd>100</dd>" in first and "<dd>100.0 %</dd>" in first
    assert f"<dd>{clock.now:%Y-%m-%d}</dd>" in first
    assert "none yet" in html


def test_pages_of_another_account_are_not_found(browser, app, reader, acme_campaign):
    other = create_account_key(app.runtime, "other", ["admin"])
    other_admin = authenticate(app.runtime, Credentials(other.key_id, other.secret))
    theirs = create_campaign(app.runtime, other_admin, title="Theirs")
    link = call(app.runtime, other_admin, "GetTrackingUrl", campaign_id=theirs,
                email="bo@example.com")
    call(app.runtime, other_admin, "RecordResponse", invitation_id=link.invitation_id,
         answers=[m.Answer("nps", "3")])
    with app.runtime.uow(read_only=True) as uow:
        contact_id = uow.contacts.get_by_email(other_admin.account_id, "bo@example.com").id
    home = sign_in(browser, reader.key_id, reader.secret).follow().text
    assert "Theirs" not in home
    browser.get(f"/dashboard/{theirs}", status=404)
    browser.get(f"/dashboard/{theirs}/responses.csv", status=404)
    theirs_page = browser.get(f"/contacts/{contact_id}", status=404).text
    assert "bo@example.com" not in theirs_page
    assert "<p>No such contact in your account.</p>" in theirs_page


def test_a_read_key_may_not_open_the_keys_page(browser, reader):
    sign_in(browser, reader.key_id, reader.secret)
    assert "Not allowed with this key" in browser.get("/keys", status=403).text
    assert 'href="/keys"' not in browser.get("/home").text


@pytest.fixture
def admin_browser(browser, key):
    sign_in(browser, *key)
    return browser


def keys_form(browser, action: str, **fields):
    page = browser.get("/keys")
    return browser.post("/keys", {"_csrf": csrf_of(page.text), "action": action, **fields},
                        status="*")


def test_an_admin_creates_a_key_whose_secret_is_shown_once_and_audited(admin_browser, app,
                                                                       key):
    answer = keys_form(admin_browser, "create", scope=["read", "trigger"], label="looker")
    assert answer.status_int == 200
    key_id, secret = re.search(r'<code class="secret">(fl_\w+):([\w-]+)</code>',
                               answer.text).groups()
    assert authenticate(app.runtime, Credentials(key_id, secret)).scopes == {"read", "trigger"}
    assert secret not in admin_browser.get("/keys").text
    log = call(app.runtime, authenticate(app.runtime, Credentials(*key)), "ListAuditLog")
    assert [(e.operation, e.key_id) for e in log.entries][0] == ("CreateApiKey", key[0])


def test_an_admin_rotates_and_revokes_keys_in_the_browser(admin_browser, app, key, reader):
    rotated = keys_form(admin_browser, "rotate", key_id=reader.key_id)
    new_id = re.search(r'<code class="secret">(fl_\w+):', rotated.text).group(1)
    keys = {k.key_id: k for k in call(app.runtime, authenticate(app.runtime, Credentials(*key)),
                                      "ListApiKeys").keys}
    assert keys[new_id].scopes == ["read"] and keys[new_id].label == "cx team"
    assert keys[reader.key_id].expires_at is not None
    revoked = keys_form(admin_browser, "revoke", key_id=reader.key_id)
    assert f"Key {reader.key_id} is revoked" in revoked.text
    log = call(app.runtime, authenticate(app.runtime, Credentials(*key)), "ListAuditLog")
    assert [e.operation for e in log.entries][:2] == ["RevokeApiKey", "CreateApiKey"]


def test_keys_of_another_account_cannot_be_touched(admin_browser, app):
    theirs = create_account_key(app.runtime, "other", ["read"])
    for action in ("rotate", "revoke"):
        answer = keys_form(admin_browser, action, key_id=theirs.key_id)
        assert answer.status_int == 404 and "No " in answer.text
    assert authenticate(app.runtime, Credentials(theirs.key_id, theirs.secret))


def test_the_keys_forms_need_the_sessions_token(admin_browser, app, reader):
    admin_browser.post("/keys", {"action": "revoke", "key_id": reader.key_id}, status=403)
    admin_browser.post("/keys", {"_csrf": "123.x", "action": "revoke",
                                 "key_id": reader.key_id}, status=403)
    assert authenticate(app.runtime, Credentials(reader.key_id, reader.secret))


def test_a_bad_keys_form_is_explained_on_the_page(admin_browser):
    assert "scopes must be among" in keys_form(admin_browser, "create", label="x").text
    assert keys_form(admin_browser, "explode").status_int == 400


def test_a_sign_in_link_shows_a_button_and_signs_in_only_when_pressed(browser, app, reader,
                                                                      clock):
    url = sign_in_link(app.runtime, reader.key_id)
    path = url.removeprefix(app.runtime.base_url)
    page = browser.get(path)                         # a mail scanner's GET signs nobody in
    assert COOKIE not in browser.cookies and "sign-in link is ready" in page.text
    answer = page.forms[0].submit(status=303) if page.forms else None
    assert answer is not None and COOKIE in browser.cookies


def test_an_expired_or_forged_sign_in_link_is_refused(browser, app, reader, clock):
    url = sign_in_link(app.runtime, reader.key_id)
    token = parse_qs(urlsplit(url).query)["token"][0]
    clock.advance(seconds=LINK_LIFETIME.total_seconds() + 1)
    assert "has expired" in browser.get(f"/signin?token={token}", status=400).text
    session_value = seal(app.runtime.secret_key, SESSION, reader.key_id,
                         clock.now + timedelta(hours=1))
    browser.get(f"/signin?token={session_value}", status=400)


def test_a_sign_in_link_of_a_revoked_key_signs_nobody_in(browser, app, key, reader):
    page = browser.get(sign_in_link(app.runtime, reader.key_id).removeprefix(
        app.runtime.base_url))
    call(app.runtime, authenticate(app.runtime, Credentials(*key)), "RevokeApiKey",
         key_id=reader.key_id)
    answer = page.forms[0].submit(status=401)
    assert "has expired or is not valid" in answer.text and COOKIE not in browser.cookies


def test_the_root_leads_to_the_home_page_and_unknown_pages_are_not_found(browser):
    assert browser.get("/", status=303).headers["Location"].endswith("/home")
    browser.get("/contacts/abc", status=404)
    assert browser.get("/nowhere", status=404).text == "Not found.\n"


def test_the_operator_prints_a_sign_in_link_for_a_key_of_the_account(migrated, capsys):  # noqa: F811
    from service.cli import main
    main(["keys", "create", "--account", "acme", "--scope", "read"])
    key_id = capsys.readouterr().out.splitlines()[-1].split(":")[0]
    status, out, _ = run(capsys, "keys", "link", "--account", "acme", key_id)
    token = parse_qs(urlsplit(out.splitlines()[-1]).query)["token"][0]
    assert status == 0 and "valid for 15 minutes" in out
    from datetime import datetime, timezone
    assert unseal(Settings.from_env().secret_key, SIGN_IN_LINK, token,
                  datetime.now(timezone.utc)).key_id == key_id
    main(["keys", "create", "--account", "other", "--scope", "read"])
    theirs = capsys.readouterr().out.splitlines()[-1].split(":")[0]
    status, _, err = run(capsys, "keys", "link", "--account", "acme", theirs)
    assert status == 1 and "No API key" in err


@pytest.mark.parametrize("language, words", [
    ("de-DE,de;q=0.9", ["Anmelden", "Schlüssel-ID"]), ("cs", ["Přihlásit se", "ID klíče"]),
    ("fr-CA", ["Se connecter"]), ("es", ["Iniciar sesión"]), ("sv", ["Logga in"]),
    ("ja, en;q=0.5", ["Sign in", "Key id"]),
])
def test_the_pages_speak_the_browsers_language(browser, language, words):
    page = browser.get("/signin", headers={"Accept-Language": language})
    assert all(word in page.text for word in words)
    assert page.headers["Content-Language"] == language[:2].replace("ja", "en")


def test_the_dashboard_in_czech(browser, reader, app, key):
    admin = authenticate(app.runtime, Credentials(*key))
    campaign = create_campaign(app.runtime, admin)
    sign_in(browser, reader.key_id, reader.secret)
    html = browser.get(f"/dashboard/{campaign}", headers={"Accept-Language": "cs"}).text
    assert '<html lang="cs">' in html and "Komentáře" in html and "Míra odpovědí" in html
