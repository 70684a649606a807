"""Responses in and results out: record answers, read them per contact, export them."""
from __future__ import annotations

from datetime import datetime

from service.domain.cursors import format_cursor, parse_cursor
from service.domain.distribution import Campaign, Invitation, Status
from service.domain.errors import Conflict, NotFound, UnknownCampaign, ValidationError
from service.domain.surveys import Contact, Survey, normalize_email, nps_category
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.crm import queue_crm_push
from service.services.outbox import queue_webhooks, response_notifications
from service.services.records import StoredResponse, response_record
from service.services.runtime import Runtime
from service.services.surveys import get_campaign_of
from service.services.tracking import find_link_by_token, pairs_to_dict

DEFAULT_EXPORT_PAGE = 100


def record_answers(uow, account_id: int, campaign: Campaign, survey: Survey,
                   invitation: Invitation | None, submitted: dict[str, list[str]],
                   extra_params: dict[str, str], now: datetime, dashboard_url: str = "",
                   submission_key: str | None = None, contact: Contact | None = None) -> int:
    """Validate and store one response; the invitation, if any, becomes responded.

    The respondent is the invitation's contact (``contact``, when the caller has read
    it already); without an invitation (an open link), the answer to the survey's
    email question identifies or creates one.
    Conflict when the invitation, or the open-link form ``submission_key``, was
    answered already.
    """
    if campaign.status == "closed":
        raise Conflict(f"Campaign {campaign.id} is closed: it takes no more answers.")
    if invitation is not None and not invitation.is_open(now):
        if invitation.status == Status.RESPONDED:
            raise Conflict(f"Invitation {invitation.id} has already been answered.")
        raise Conflict(f"Invitation {invitation.id} is {invitation.effective_status(now)}.")
    answers = survey.parse_answers(submitted)
    if invitation is not None:
        contact = contact or uow.contacts.get(account_id, invitation.contact_id)
    else:
        email_question = survey.email_question
        contact = uow.contacts.upsert(account_id, answers[email_question.key], None, {},
                                      now).contact \
            if email_question is not None and email_question.key in answers else None
    params = dict(invitation.params) if invitation is not None else {}
    if invitation is not None and not uow.invitations.apply(invitation,
                                                            invitation.responded(now), now):
        raise Conflict(f"Invitation {invitation.id} has already been answered.")
    score = survey.nps_score(answers)
    invitation_id = invitation.id if invitation is not None else None
    response_id = uow.responses.add(account_id, campaign.id, invitation_id,
                                    contact.id if contact else None, answers, params,
                                    extra_params, score, now, submission_key, survey.version)
    if response_id is None:
        raise Conflict("This form has already been submitted.")
    email, crm_id = (contact.email, contact.crm_id) if contact else (None, None)
    if campaign.crm_push:
        queue_crm_push(uow, account_id, campaign, survey, response_id, answers,
                       {**params, **extra_params}, email, now)
    if campaign.webhooks or campaign.notify_emails:  # the record is what they carry
        record = response_record(StoredResponse(
            response_id, campaign.id, invitation_id, "new", now, now, email, crm_id, None,
            score, answers, params, extra_params), survey)
        queue_webhooks(uow, account_id, campaign, "response.completed",
                       f"response_{response_id}", record, now)
        response_notifications(uow, account_id, campaign, survey, record, dashboard_url, now)
    return response_id


def answers_by_key(answers: list[m.Answer]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for answer in answers:
        grouped.setdefault(answer.key, []).append(answer.value)
    return grouped


def answer_list(survey: Survey | None, answers: dict[str, object]) -> list[m.Answer]:
    """Answers as key/value pairs in survey order; a multi-choice answer repeats its key."""
    keys = [q.key for q in survey.questions] if survey else []
    keys += [k for k in answers if k not in keys]
    result = []
    for key in keys:
        if key not in answers:
            continue
        value = answers[key]
        for item in value if isinstance(value, list) else [value]:
            result.append(m.Answer(key=key, value=str(item)))
    return result


def param_list(params: dict[str, str]) -> list[m.Param]:
    return [m.Param(name=k, value=v) for k, v in params.items()]


@operation("RecordResponse", scope="trigger", audited=False,
           errors=(NotFound, Conflict, ValidationError))
def record_response(rt: Runtime, principal: Principal,
                    request: m.RecordResponseRequest) -> m.RecordResponseResult:
    """Record answers collected elsewhere for an invitation (by invitation_id or token)."""
    if (request.invitation_id is None) == (request.token is None):
        raise ValidationError("Give exactly one of invitation_id and token.", field="invitation_id")
    extra = pairs_to_dict(request.params, "params")
    now = rt.clock()
    with rt.uow() as uow:
        # The invitation with its campaign, survey and contact: one statement.
        if request.token is not None:
            link = find_link_by_token(rt, uow, request.token)
            if link is not None and link.invitation.account_id != principal.account_id:
                link = None
        else:
            link = uow.invitations.link(principal.account_id, request.invitation_id)
        if link is None:
            raise NotFound("No such invitation in your account.")
        response_id = record_answers(uow, principal.account_id, link.campaign, link.survey,
                                     link.invitation, answers_by_key(request.answers), extra,
                                     now, rt.dashboard_url(link.campaign.id),
                                     contact=link.contact)
        uow.commit()
    return m.RecordResponseResult(response_id=response_id)


@operation("CorrectResponse", scope="admin", audited=True,
           errors=(NotFound, Conflict, ValidationError))
def correct_response(rt: Runtime, principal: Principal,
                     request: m.CorrectResponseRequest) -> m.CorrectResponseResult:
    """Change answers of a recorded response; the next incremental export carries it again as corrected."""
    now = rt.clock()
    with rt.uow() as uow:
        stored = uow.responses.get(principal.account_id, request.response_id)
        if stored is None:
            raise NotFound(f"No response {request.response_id} in your account.")
        if stored.change == "erased":
            raise Conflict(f"Response {stored.id} belongs to an erased contact: its answers "
                           "can no longer be changed.")
        campaign = uow.campaigns.get(principal.account_id, stored.campaign_id)
        # held to the questions of the version it answered
        survey = uow.surveys.get_version(principal.account_id, campaign.survey_id,
                                         stored.survey_version)
        recorded = {key: [str(v) for v in value] if isinstance(value, list) else [str(value)]
                    for key, value in stored.answers.items()}
        answers = survey.parse_answers({**recorded, **answers_by_key(request.answers)})
        score = survey.nps_score(answers)
        uow.responses.correct(principal.account_id, stored.id, answers, score, now)
        uow.commit()
    return m.CorrectResponseResult(response_id=stored.id, change="corrected", updated_at=now,
                                   answers=answer_list(survey, answers), nps_score=score)


@operation("GetContactResults", scope="read", audited=False, errors=(NotFound, ValidationError))
def get_contact_results(rt: Runtime, principal: Principal,
                        request: m.GetContactResultsRequest) -> m.ContactResults:
    """A contact's latest answers, NPS score and category in each campaign (by email or crm_id)."""
    if not request.email and not request.crm_id:
        raise ValidationError("Give an email or a crm_id.", field="email")
    with rt.uow(read_only=True) as uow:
        if request.email:
            contact = uow.contacts.get_by_email(principal.account_id,
                                                normalize_email(request.email))
        else:
            contact = uow.contacts.get_by_crm_id(principal.account_id, request.crm_id)
        if contact is None:
            raise NotFound("No contact with that " + ("email." if request.email else "crm_id."))
        if request.campaign_id is not None:
            get_campaign_of(uow, principal, request.campaign_id)
        found = uow.responses.latest_per_campaign(principal.account_id, contact.id,
                                                  request.campaign_id)
        rows = [row for row, _ in found]
        surveys = {row.campaign_id: uow.surveys.with_earlier_questions(principal.account_id,
                                                                      survey)
                   for row, survey in found}
    results = [m.CampaignResult(
        campaign_id=row.campaign_id, campaign_name=row.campaign_name, response_id=row.id,
        submitted_at=row.submitted_at, answers=answer_list(surveys[row.campaign_id], row.answers),
        params=param_list(row.params), extra_params=param_list(row.extra_params),
        nps_score=row.nps_score, nps_category=nps_category(row.nps_score)) for row in rows]
    return m.ContactResults(email=contact.email, crm_id=contact.crm_id, results=results)


def contact_results(rt: Runtime, principal: Principal, contact_id: int) -> m.ContactResults:
    """GetContactResults for a contact of the account known by its id (the dashboard's links)."""
    with rt.uow(read_only=True) as uow:
        contact = uow.contacts.get(principal.account_id, contact_id)
    if contact is None or not contact.email:
        raise NotFound("No such contact in your account.")
    return get_contact_results(rt, principal, m.GetContactResultsRequest(email=contact.email))


def export_record(survey: Survey | None, row) -> m.ExportRecord:
    """A response as ExportResponses gives it: the response record, typed for the doors
    (which carry date-times as date-times, not as text)."""
    record = response_record(row, survey)   # its answers already in survey order
    return m.ExportRecord(**{
        **record, "cursor": format_cursor(row.position), "submitted_at": row.submitted_at,
        "survey_version": row.survey_version,
        "updated_at": row.updated_at, "answers": answer_list(None, record["answers"]),
        "params": param_list(record["params"]), "extra_params": param_list(record["extra_params"])})


@operation("ExportResponses", scope="read", audited=False,
           errors=(UnknownCampaign, ValidationError))
def export_responses(rt: Runtime, principal: Principal,
                     request: m.ExportResponsesRequest) -> m.ExportPage:
    """A page of responses committed after a cursor; pass next_cursor back for the next page."""
    after = parse_cursor(request.after)
    limit = request.limit or DEFAULT_EXPORT_PAGE
    with rt.uow(replica=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
        survey = uow.surveys.for_reports(principal.account_id, campaign.survey_id)
        rows = list(uow.responses.export_rows(principal.account_id, campaign.id, after, limit + 1))
    has_more = len(rows) > limit
    rows = rows[:limit]
    records = [export_record(survey, row) for row in rows]
    next_cursor = records[-1].cursor if records else format_cursor(after)
    return m.ExportPage(records=records, next_cursor=next_cursor, has_more=has_more)
