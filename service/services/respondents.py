"""The respondent's side: open a survey link, answer it once.

Personal links (/s/<token>) belong to one invitation; open links (/o/<public id>)
belong to a campaign and identify the respondent by the survey's email question,
if it has one. Each use case returns what the page shows: a state and, while
the survey can be answered, the survey itself. Nothing here knows about HTTP.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.domain.distribution import Campaign, Invitation, Status, clean_params
from service.domain.errors import Conflict, ValidationError
from service.domain.mail import PICK_PARAM
from service.domain.surveys import AnswerErrors, Question, Survey
from service.services.results import record_answers
from service.services.runtime import Runtime
from service.services.tracking import find_link_by_token

#: What a respondent can meet: the survey itself ("open"), the thank-you page, or why not.
STATES = ("open", "thanks", "answered", "expired", "paused", "closed", "unsubscribed",
          "unknown")
#: Why an answer was refused, by question type; "required" when nothing was given.
PROBLEM_OF_TYPE = {"nps": "range", "rating": "range", "single": "choice", "multi": "choice",
                   "email": "email", "text": "too_long"}
MAX_EXTRA_PARAMS = 50
_PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class SurveyView:
    """What the respondent's page shows: a state and, when known, the survey behind the link."""

    state: str
    survey: Survey | None = None


@dataclass(frozen=True)
class Submission:
    """The outcome of a submit: the view to show and, when refused, a problem per question.

    ``problems`` maps a question key to one of the PROBLEM_OF_TYPE values or "required";
    the key "" means the form as a whole (nothing was answered).
    """

    view: SurveyView
    problems: dict[str, str] = field(default_factory=dict)
    response_id: int | None = None


def open_invitation(rt: Runtime, token: str, mark_opened: bool = True) -> SurveyView:
    """The page of a personal link; its first opening marks the invitation opened."""
    now = rt.clock()
    with rt.uow(read_only=True) as uow:
        found = find_link_by_token(rt, uow, token)
        if found is None:
            return SurveyView("unknown")
        invitation, campaign, survey = found.invitation, found.campaign, found.survey
        state = _invitation_state(invitation, campaign, now, found.contact.unsubscribed)
    if state == "open" and mark_opened and invitation.opened_at is None:
        with rt.uow() as uow:
            uow.invitations.apply(invitation, invitation.opened(now), now)
            uow.commit()
    return SurveyView(state, survey)


def answer_invitation(rt: Runtime, token: str, form: dict[str, list[str]],
                      extra_params: dict[str, str]) -> Submission:
    """Record the answers to a personal link, once; a repeat of the same answers is a success."""
    now = rt.clock()
    with rt.uow() as uow:
        found = find_link_by_token(rt, uow, token)
        if found is None:
            return Submission(SurveyView("unknown"))
        invitation, campaign, survey, contact = (found.invitation, found.campaign,
                                                 found.survey, found.contact)
        account_id = invitation.account_id
        submitted = _submitted(survey, form)
        state = _invitation_state(invitation, campaign, now, contact.unsubscribed)
        if state == "answered":
            return Submission(SurveyView(_repeat_state(uow, invitation, survey, submitted),
                                         survey))
        if state != "open":
            return Submission(SurveyView(state, survey))
        try:
            response_id = record_answers(uow, account_id, campaign, survey, invitation,
                                         submitted, extra_params, now,
                                         rt.dashboard_url(campaign.id), contact=contact)
        except ValidationError as error:
            return _refused(survey, submitted, error)
        except Conflict:
            # Another submit of this link committed first (the unique constraint said so).
            return Submission(SurveyView(_repeat_state(uow, invitation, survey, submitted),
                                         survey))
        uow.commit()
    return Submission(SurveyView("thanks", survey), response_id=response_id)


def open_campaign(rt: Runtime, public_id: str) -> SurveyView:
    """The page of a campaign's open link."""
    with rt.uow(read_only=True) as uow:
        found = _campaign_of(uow, public_id)
    if found is None:
        return SurveyView("unknown")
    _, campaign, survey = found
    return SurveyView(_campaign_state(campaign) or "open", survey)


def answer_campaign(rt: Runtime, public_id: str, form: dict[str, list[str]],
                    extra_params: dict[str, str], submission_key: str) -> Submission:
    """Record an open-link response, once per form (``submission_key``, the form's nonce: a
    double click, a reload or a duplicated tab sends it again); an email answer identifies
    (or creates) the contact."""
    now = rt.clock()
    with rt.uow() as uow:
        found = _campaign_of(uow, public_id)
        if found is None:
            return Submission(SurveyView("unknown"))
        account_id, campaign, survey = found
        state = _campaign_state(campaign)
        if state is not None:
            return Submission(SurveyView(state, survey))
        submitted = _submitted(survey, form)
        earlier = uow.responses.by_submission(account_id, campaign.id, submission_key)
        if earlier is not None:
            return Submission(SurveyView(_same_answers(survey, submitted, earlier.answers),
                                         survey))
        try:
            response_id = record_answers(uow, account_id, campaign, survey, None, submitted,
                                         extra_params, now, rt.dashboard_url(campaign.id),
                                         submission_key)
        except ValidationError as error:
            return _refused(survey, submitted, error)
        except Conflict:  # the same form, submitted concurrently, committed first
            earlier = uow.responses.by_submission(account_id, campaign.id, submission_key)
            return Submission(SurveyView(_same_answers(survey, submitted, earlier.answers),
                                         survey))
        uow.commit()
    return Submission(SurveyView("thanks", survey), response_id=response_id)


def capture_params(query: dict[str, list[str]]) -> dict[str, str]:
    """The link's query parameters worth keeping as extra parameters (first value of each).

    A respondent must never meet an error for what a mailer appended to the link,
    so parameters that break the rules of embedded ones are dropped, not refused.
    """
    kept: dict[str, str] = {}
    for name, values in query.items():
        if len(kept) == MAX_EXTRA_PARAMS:
            break
        if name == PICK_PARAM:  # the score chosen in the mail is an answer, not a parameter
            continue
        try:
            kept.update(clean_params({name: values[0]}))
        except (ValidationError, IndexError):
            continue
    return kept


def picked_answer(survey: Survey, query: dict[str, list[str]]) -> dict[str, list[str]]:
    """The score chosen in the invitation mail (?fl_pick=N) as the first question's answer,
    if it is one of its scale; nothing is recorded until the respondent sends the form."""
    question = survey.one_click_question
    value = (query.get(PICK_PARAM) or [""])[0]
    if question is None or not value.isdigit():
        return {}
    low, high = question.bounds()
    return {question.key: [value]} if low <= int(value) <= high else {}


def problem_of(question: Question, values: list[str]) -> str:
    """Why the answer given to ``question`` was refused, as a code the page can word."""
    if not any(value.strip() for value in values):
        return "required"
    return PROBLEM_OF_TYPE[question.type]


def _campaign_of(uow, public_id: str) -> tuple[int, Campaign, Survey] | None:
    account_id = uow.directory.account_of_campaign(public_id) \
        if _PUBLIC_ID.match(public_id) else None
    campaign = uow.campaigns.get_public(account_id, public_id) \
        if account_id is not None else None
    if campaign is None:
        return None
    return campaign.account_id, campaign, uow.surveys.get(campaign.account_id,
                                                          campaign.survey_id)


def _campaign_state(campaign: Campaign) -> str | None:
    return campaign.status if campaign.status in ("paused", "closed") else None


def _invitation_state(invitation: Invitation, campaign: Campaign, now,
                      unsubscribed: bool) -> str:
    # Order matters: someone who answered hears so even after the campaign closed.
    if invitation.status == Status.RESPONDED:
        return "answered"
    if invitation.status == Status.CANCELLED:
        return "closed"
    if unsubscribed:
        return "unsubscribed"
    state = _campaign_state(campaign)
    if state is not None:
        return state
    # Expired, but also suppressed or undeliverable: the link no longer works.
    return "open" if invitation.is_open(now) else "expired"


def _repeat_state(uow, invitation: Invitation, survey: Survey,
                  submitted: dict[str, list[str]]) -> str:
    """A double click or a reload re-sends the same answers: that is a success, not an error."""
    stored = next((row.answers for row in uow.responses.of_contact(
        invitation.account_id, invitation.contact_id) if row.invitation_id == invitation.id),
        None)
    return _same_answers(survey, submitted, stored)


def _same_answers(survey: Survey, submitted: dict[str, list[str]], stored) -> str:
    """"thanks" when a repeated submit carries the recorded answers, else "answered"."""
    try:
        answers = survey.parse_answers(submitted)
    except ValidationError:
        return "answered"
    return "thanks" if stored == answers else "answered"


def _submitted(survey: Survey, form: dict[str, list[str]]) -> dict[str, list[str]]:
    # Only the survey's questions: the form also carries the page's own fields.
    return {q.key: list(form.get(q.key, [])) for q in survey.questions}


def _refused(survey: Survey, submitted: dict[str, list[str]],
             error: ValidationError) -> Submission:
    if isinstance(error, AnswerErrors):
        problems = {key: problem_of(survey.question(key), submitted[key])
                    for key in error.problems}
    else:
        problems = {"": "empty"}  # every question left blank
    return Submission(SurveyView("open", survey), problems)
