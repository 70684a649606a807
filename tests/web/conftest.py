"""A survey with every question type, its campaign and links, on the `app` fixture."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from webtest import TestApp

from service.domain.credentials import Credentials
from service.services import messages as m
from service.services.keys import authenticate
from tests.conftest import call

EVERY_TYPE = [
    m.Question(key="nps", type="nps", required=True,
               text="How likely are you to recommend us to a friend?"),
    m.Question(key="speed", type="rating", text="How quick was our answer?", min=1, max=5),
    m.Question(key="channel", type="single", text="How did you reach us?",
               choices=["Phone", "Email", "Chat"]),
    m.Question(key="liked", type="multi", text="What went well?",
               choices=["Speed", "Price", "Staff"]),
    m.Question(key="comment", type="text", text="Anything else you want to tell us?"),
    m.Question(key="reply_to", type="email", text="Your email, if we may answer you"),
]
#: A complete, valid submission of EVERY_TYPE, as a browser sends it.
GOOD_ANSWERS = {"nps": "9", "speed": "4", "channel": "Chat", "liked": ["Speed", "Staff"],
                "comment": "Quick & kind <b>thanks</b>", "reply_to": "ana@example.com"}


@dataclass
class Site:
    """One account's survey and campaign, and a browser-less respondent."""

    app: object
    admin: object
    campaign_id: int
    open_path: str
    client: TestApp

    @property
    def rt(self):
        return self.app.runtime

    def call(self, operation: str, **fields):
        return call(self.rt, self.admin, operation, **fields)

    def link(self, email: str = "ana@example.com", **params: str) -> str:
        """The path of a new personal link, /s/<token>."""
        url = self.call("GetTrackingUrl", campaign_id=self.campaign_id, email=email,
                        params=[m.Param(k, v) for k, v in params.items()]).url
        return url.removeprefix(self.rt.base_url)

    def responses(self) -> list:
        return self.call("ExportResponses", campaign_id=self.campaign_id).records

    def submit(self, path: str, answers: dict, status: int | str = 200,
               headers: dict | None = None):
        """GET the page, then POST ``answers`` with the page's CSRF token."""
        page = self.client.get(path, headers=headers, status="*")
        return self.client.post(path, {"_csrf": csrf_of(page.text), **answers}, status=status,
                                headers=headers)


def csrf_of(html: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', html).group(1)


def make_site(app, key, questions=EVERY_TYPE, language: str = "en", **survey) -> Site:
    admin = authenticate(app.runtime, Credentials(*key))
    survey_id = call(app.runtime, admin, "CreateSurvey", title="After your support call",
                     language=language, questions=questions,
                     intro="It takes less than a minute.", **survey).survey_id
    created = call(app.runtime, admin, "CreateCampaign", survey_id=survey_id, name="Support",
                   link_valid_days=30)
    return Site(app, admin, created.campaign_id,
                created.open_url.removeprefix(app.runtime.base_url), TestApp(app))


@pytest.fixture
def site(app, key) -> Site:
    return make_site(app, key)
