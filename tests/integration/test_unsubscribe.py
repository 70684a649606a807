"""The unsubscribe link of the mails: asks in the survey's language, then never again."""
from __future__ import annotations

from service.domain.credentials import Credentials
from service.domain.tokens import ACCOUNTLESS_LENGTH, make_token, split_token
from service.services import messages as m
from service.services.keys import authenticate
from tests.conftest import call


def setup(app, key):
    rt = app.runtime
    admin = authenticate(rt, Credentials(*key))
    survey_id = call(rt, admin, "CreateSurvey", title="t", language="sv",
                     questions=[m.Question(key="nps", type="nps", text="?")]).survey_id
    campaign_id = call(rt, admin, "CreateCampaign", survey_id=survey_id, name="c").campaign_id
    link = call(rt, admin, "GetTrackingUrl", campaign_id=campaign_id, email="a@example.com")
    return rt, admin, campaign_id, link.url.rsplit("/", 1)[1]


def test_get_asks_in_the_survey_language_and_post_unsubscribes(app, key, web):
    rt, admin, campaign_id, token = setup(app, key)
    page = web.get(f"/u/{token}")
    assert '<html lang="sv">' in page.text and "Sluta få våra enkäter?" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    done = web.post(f"/u/{token}")
    assert "Du är avregistrerad" in done.text
    result = call(rt, admin, "AddRespondents", campaign_id=campaign_id,
                  respondents=[m.Respondent(email="a@example.com")])
    assert result.results[0].reason == "unsubscribed"
    history = call(rt, admin, "GetInvitation", invitation_id=1).history
    assert history[-1].event == "unsubscribed"


def test_one_click_post_from_a_mail_client_unsubscribes(app, key, web):
    rt, admin, campaign_id, token = setup(app, key)
    web.post(f"/u/{token}", "List-Unsubscribe=One-Click",
             content_type="application/x-www-form-urlencoded")
    web.post(f"/u/{token}")  # twice is harmless
    assert call(rt, admin, "AddRespondents", campaign_id=campaign_id, respondents=[
        m.Respondent(email="a@example.com")]).results[0].status == "suppressed"


def test_tampered_token_gets_a_plain_not_found(app, key, web):
    _, _, _, token = setup(app, key)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    answer = web.get(f"/u/{forged}", status=404)
    assert "This link is not valid." in answer.text and forged not in answer.text
    web.post(f"/u/{forged}", status=404)


def accountless_token(rt, admin, invitation_id):
    """The invitation's token as issued before tokens named their account."""
    with rt.uow(read_only=True) as uow:
        invitation = uow.invitations.get(admin.account_id, invitation_id)
    return make_token(rt.secret_key, invitation.nonce, invitation.campaign_id,
                      invitation.expires_at, invitation.params)


def test_links_name_their_account_and_links_issued_before_still_open_and_unsubscribe(app, key,
                                                                                    web):
    rt, admin, campaign_id, token = setup(app, key)
    assert split_token(token)[0] == admin.account_id
    old = accountless_token(rt, admin, 1)
    assert len(old) == ACCOUNTLESS_LENGTH != len(token)
    assert "Sluta få våra enkäter?" in web.get(f"/u/{old}").text
    assert web.get(f"/s/{old}").status_int == 200
    web.post(f"/u/{old}")
    assert call(rt, admin, "GetInvitation", invitation_id=1).history[-1].event == "unsubscribed"


def test_a_link_naming_another_account_is_unknown(app, key, web):
    rt, admin, campaign_id, token = setup(app, key)
    account, nonce = split_token(token)
    with rt.uow(read_only=True) as uow:
        invitation = uow.invitations.get(admin.account_id, 1)
    forged = make_token(rt.secret_key, nonce, campaign_id, invitation.expires_at,
                        invitation.params, account + 1)
    assert web.get(f"/u/{forged}", status=404).status_int == 404
