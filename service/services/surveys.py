"""Surveys and campaigns: create them and read them back."""
from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from service.domain.distribution import Campaign, next_dump_time
from service.domain.errors import Conflict, NotFound, UnknownCampaign, ValidationError
from service.domain.surveys import Question, Survey, normalize_email
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime

DEFAULT_PAGE = 100
#: How long a claimed scheduled job (a dump, a recurrence) stays the claiming worker's
#: before another worker may take it over.
SCHEDULED_LEASE = timedelta(hours=1)


@operation("CreateSurvey", scope="admin", audited=True, errors=(ValidationError,))
def create_survey(rt: Runtime, principal: Principal,
                  request: m.CreateSurveyRequest) -> m.CreateSurveyResult:
    """Create a survey: a title, its language and its ordered questions."""
    survey = Survey(
        title=request.title, language=request.language,
        questions=_questions(request.questions),
        intro=request.intro or "", thank_you=request.thank_you or "",
        allow_language_override=(True if request.allow_language_override is None
                                 else request.allow_language_override))
    survey.validate()
    with rt.uow() as uow:
        survey_id = uow.surveys.add(principal.account_id, survey, rt.clock())
        uow.commit()
    return m.CreateSurveyResult(survey_id=survey_id)


def _questions(questions: list[m.Question]) -> tuple[Question, ...]:
    return tuple(Question(key=q.key, type=q.type, text=q.text, required=q.required,
                          choices=tuple(q.choices), min=q.min, max=q.max) for q in questions)


@operation("UpdateSurvey", scope="admin", audited=True,
           errors=(NotFound, Conflict, ValidationError))
def update_survey(rt: Runtime, principal: Principal,
                  request: m.UpdateSurveyRequest) -> m.SurveyInfo:
    """Make the next version of a survey (texts, questions added, removed or reordered, intro, thanks, language); answers keep the version they answered."""
    now = rt.clock()
    with rt.uow() as uow:
        current = uow.surveys.get(principal.account_id, request.survey_id)
        if current is None:
            raise NotFound(f"No survey {request.survey_id} in your account.")
        changes = {name: getattr(request, name) for name in (
            "title", "language", "intro", "thank_you", "allow_language_override")
            if getattr(request, name) is not None}
        if request.questions:
            changes["questions"] = _questions(request.questions)
        new = replace(current, **changes, version=current.version + 1, created_at=now)
        new.validate()
        new.check_stable_keys([current, *uow.surveys.earlier_versions(principal.account_id,
                                                                       current.id)])
        if not uow.surveys.replace(principal.account_id, current, new, now):
            raise Conflict(f"Survey {current.id} was updated at the same time; read it again.")
        uow.commit()
    return _survey_info(new)


def _survey_info(survey: Survey) -> m.SurveyInfo:
    return m.SurveyInfo(
        survey_id=survey.id, title=survey.title, language=survey.language, intro=survey.intro,
        thank_you=survey.thank_you, allow_language_override=survey.allow_language_override,
        questions=[m.Question(key=q.key, type=q.type, text=q.text, required=q.required,
                              choices=list(q.choices), min=q.min, max=q.max)
                   for q in survey.questions],
        created_at=survey.created_at, version=survey.version)


@operation("GetSurvey", scope="read", audited=False, errors=(NotFound,))
def get_survey(rt: Runtime, principal: Principal, request: m.GetSurveyRequest) -> m.SurveyInfo:
    """Read one survey with its questions: the current version, or an earlier one."""
    with rt.uow(read_only=True) as uow:
        found = (uow.surveys.get(principal.account_id, request.survey_id)
                 if request.version is None else
                 uow.surveys.get_version(principal.account_id, request.survey_id,
                                         request.version))
    if found is None:
        raise NotFound(f"No survey {request.survey_id}"
                       f"{'' if request.version is None else f' version {request.version}'}"
                       " in your account.")
    return _survey_info(found)


@operation("ListSurveys", scope="read", audited=False, errors=())
def list_surveys(rt: Runtime, principal: Principal,
                 request: m.ListSurveysRequest) -> m.ListSurveysResult:
    """List your surveys, oldest first, a page at a time (offset, limit)."""
    with rt.uow(read_only=True) as uow:
        found, total = uow.surveys.list(principal.account_id, request.offset or 0,
                                        request.limit or DEFAULT_PAGE)
    return m.ListSurveysResult(surveys=[_survey_info(survey) for survey in found], total=total)


TEMPLATE_FIELDS = ("invitation_subject", "invitation_text", "invitation_html",
                    "reminder_subject", "reminder_text", "reminder_html")
SETTING_FIELDS = ("delivery", "send_delay_minutes", "reminder_days", "max_reminders",
                   "quarantine_days", "quarantine_scope", "link_valid_days", "recurrence_days",
                   "notify_on", "crm_push", "crm_tag", "recurrence_list", "dump_every",
                   "dump_at", "dump_format", "dump_gzip")


def get_campaign_of(uow, principal: Principal, campaign_id: int) -> Campaign:
    """The caller's campaign, or UnknownCampaign (also for another account's id)."""
    campaign = uow.campaigns.get(principal.account_id, campaign_id)
    if campaign is None:
        raise UnknownCampaign(f"No campaign {campaign_id} in your account.")
    return campaign


def claim_scheduled(rt: Runtime, campaign: Campaign, column: str, seen: datetime | None,
                    value: datetime) -> bool:
    """Claim one scheduled job of a campaign for this worker: move its due time in
    ``column`` from ``seen`` (as read) to ``value``; False if another worker did first."""
    with rt.uow() as uow:
        claimed = uow.campaigns.claim(campaign, column, seen, value)
        uow.commit()
    return claimed


def surveys_of_campaigns(uow, account_id: int, campaign_ids: set[int]
                         ) -> dict[int, Survey | None]:
    """The survey of each campaign with the questions of all its versions (None for a
    campaign that is not the account's)."""
    found = uow.surveys.for_reports_of_campaigns(account_id, sorted(campaign_ids)) \
        if campaign_ids else {}
    return {campaign_id: found.get(campaign_id) for campaign_id in campaign_ids}


@operation("CreateCampaign", scope="admin", audited=True, errors=(NotFound, ValidationError))
def create_campaign(rt: Runtime, principal: Principal,
                    request: m.CreateCampaignRequest) -> m.CreateCampaignResult:
    """Create a campaign: a survey and how it is distributed (delivery, delays, quarantine, ...)."""
    campaign = Campaign(survey_id=request.survey_id, name=request.name)
    for name in SETTING_FIELDS:
        if getattr(request, name) is not None:
            setattr(campaign, name, getattr(request, name))
    campaign.templates = {name: getattr(request, name) for name in TEMPLATE_FIELDS
                          if getattr(request, name)}
    campaign.notify_emails = [normalize_email(e, field_name="notify_emails") for e in request.notify_emails]
    campaign.webhooks = [_webhook(rt, url) for url in request.webhooks]
    campaign.public_id = secrets.token_urlsafe(12)
    campaign.validate()
    campaign.next_dump_at = next_dump_time(campaign.dump_every, campaign.dump_at, rt.clock())
    with rt.uow() as uow:
        if uow.surveys.get(principal.account_id, request.survey_id) is None:
            raise NotFound(f"No survey {request.survey_id} in your account.")
        if campaign.webhooks and uow.outbox.webhook_secret(principal.account_id) is None:
            raise ValidationError("Webhooks are signed with your account's secret: call "
                                  "RotateWebhookSecret first.", field="webhooks")
        campaign_id = uow.campaigns.add(principal.account_id, campaign, rt.clock())
        uow.commit()
    return m.CreateCampaignResult(campaign_id=campaign_id, open_url=rt.open_url(campaign.public_id))


def _webhook(rt: Runtime, url: str) -> str:
    if len(url) > 2000:
        raise ValidationError("A webhook URL is at most 2000 characters.", field="webhooks")
    return rt.destinations.check_configured(url, "webhooks")


def campaign_info(rt: Runtime, campaign: Campaign) -> m.CampaignInfo:
    return m.CampaignInfo(
        campaign_id=campaign.id, survey_id=campaign.survey_id, name=campaign.name,
        status=campaign.status,
        **{name: getattr(campaign, name) for name in SETTING_FIELDS},
        **{name: campaign.templates.get(name, "") for name in TEMPLATE_FIELDS},
        notify_emails=list(campaign.notify_emails), webhooks=list(campaign.webhooks),
        open_url=rt.open_url(campaign.public_id), created_at=campaign.created_at,
        updated_at=campaign.updated_at)


@operation("GetCampaign", scope="read", audited=False, errors=(UnknownCampaign,))
def get_campaign(rt: Runtime, principal: Principal,
                 request: m.GetCampaignRequest) -> m.CampaignInfo:
    """Read one campaign's settings and status."""
    with rt.uow(read_only=True) as uow:
        campaign = get_campaign_of(uow, principal, request.campaign_id)
    return campaign_info(rt, campaign)


@operation("ListCampaigns", scope="read", audited=False, errors=())
def list_campaigns(rt: Runtime, principal: Principal,
                   request: m.ListCampaignsRequest) -> m.ListCampaignsResult:
    """List your campaigns, optionally of one survey or in one status."""
    with rt.uow(read_only=True) as uow:
        found = uow.campaigns.list(principal.account_id, request.survey_id, request.status)
    return m.ListCampaignsResult(campaigns=[campaign_info(rt, c) for c in found])
