"""Surveys, campaigns and attribute definitions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Row

from service.domain.distribution import Campaign
from service.domain.surveys import Question, Survey
from service.storage.records import AttributeDefinitionRecord
from service.storage.repositories.accounts import DirectoryRepository
from service.storage.repositories.base import Repository, prefixed, run, unprefixed
from service.storage.tables import attribute_definitions, campaigns, survey_versions, surveys

#: Prebuilt (see repositories.base.prebuilt): the look-ups of every call.
_SURVEY = select(surveys).where(surveys.c.account_id == bindparam("account_id"),
                                surveys.c.id == bindparam("id"))
_EARLIER_VERSIONS = (select(survey_versions)
                     .where(survey_versions.c.account_id == bindparam("account_id"),
                            survey_versions.c.survey_id == bindparam("survey_id"))
                     .order_by(survey_versions.c.version))
_CAMPAIGN = select(campaigns).where(campaigns.c.account_id == bindparam("account_id"),
                                    campaigns.c.id == bindparam("id"))
#: The survey of each of some campaigns of an account (a report's answers are read by it).
_SURVEYS_OF_CAMPAIGNS = (
    select(campaigns.c.id.label("campaign_id"), surveys)
    .join(surveys, (surveys.c.account_id == campaigns.c.account_id)
          & (surveys.c.id == campaigns.c.survey_id))
    .where(campaigns.c.account_id == bindparam("account_id"),
           campaigns.c.id.in_(bindparam("campaign_ids", expanding=True))))
#: A campaign and its survey in one row, the survey's columns named survey__<name>.
_CAMPAIGN_AND_SURVEY = (
    select(campaigns, *prefixed(surveys, "survey__"))
    .join(surveys, (surveys.c.account_id == campaigns.c.account_id)
          & (surveys.c.id == campaigns.c.survey_id))
    .where(campaigns.c.account_id == bindparam("account_id"),
           campaigns.c.id == bindparam("id")))
_PUBLIC_CAMPAIGN = select(campaigns).where(campaigns.c.account_id == bindparam("account_id"),
                                           campaigns.c.public_id == bindparam("public_id"))


def _questions(survey: Survey) -> list[dict]:
    return [{"key": q.key, "type": q.type, "text": q.text, "required": q.required,
             "choices": list(q.choices), "min": q.min, "max": q.max} for q in survey.questions]


def _content(survey: Survey) -> dict:
    """The columns a version of a survey consists of."""
    return {"title": survey.title, "language": survey.language, "intro": survey.intro,
            "thank_you": survey.thank_you,
            "allow_language_override": survey.allow_language_override,
            "questions": _questions(survey)}


def survey_of(row: Row, survey_id: int | None = None) -> Survey:
    questions = tuple(Question(key=q["key"], type=q["type"], text=q["text"],
                               required=q.get("required", False),
                               choices=tuple(q.get("choices", ())), min=q.get("min"),
                               max=q.get("max")) for q in row.questions)
    return Survey(id=survey_id or row.id, title=row.title, language=row.language,
                  questions=questions, intro=row.intro, thank_you=row.thank_you,
                  allow_language_override=row.allow_language_override,
                  created_at=row.created_at, version=row.version)


class SurveyRepository(Repository):
    def add(self, account_id: int, survey: Survey, now: datetime) -> int:
        return self.connection.execute(insert(surveys).values(
            account_id=account_id, created_at=now, **_content(survey))
            .returning(surveys.c.id)).scalar_one()

    def replace(self, account_id: int, current: Survey, new: Survey, now: datetime) -> bool:
        """Keep ``current`` as an earlier version and make ``new`` the next one; False when
        another update replaced ``current`` first."""
        replaced = self.connection.execute(update(surveys).where(
            surveys.c.account_id == account_id, surveys.c.id == current.id,
            surveys.c.version == current.version).values(
                version=current.version + 1, created_at=now, **_content(new))).rowcount == 1
        if replaced:
            self.connection.execute(insert(survey_versions).values(
                account_id=account_id, survey_id=current.id, version=current.version, created_at=current.created_at,
                **_content(current)))
        return replaced

    def earlier_versions(self, account_id: int, survey_id: int) -> list[Survey]:
        """The versions before the current one, oldest first (none for another account's)."""
        rows = run(self.connection, _EARLIER_VERSIONS, {"account_id": account_id,
                                                        "survey_id": survey_id})
        return [survey_of(row, survey_id) for row in rows]

    def get_version(self, account_id: int, survey_id: int, version: int) -> Survey | None:
        current = self.get(account_id, survey_id)
        if current is None or current.version == version:
            return current
        return next((s for s in self.earlier_versions(account_id, survey_id)
                     if s.version == version), None)

    def for_reports(self, account_id: int, survey_id: int) -> Survey | None:
        """The current version with the questions only earlier versions had (see
        Survey.with_questions_of): what dumps, exports and erasure read answers by."""
        current = self.get(account_id, survey_id)
        return self.with_earlier_questions(account_id, current) if current else None

    def with_earlier_questions(self, account_id: int, current: Survey) -> Survey:
        """``current`` with the questions of its earlier versions too (what for_reports
        gives): no statement for a first version."""
        if current.version == 1:   # a first version has no earlier ones to read
            return current
        return current.with_questions_of(self.earlier_versions(account_id, current.id))

    def for_reports_of_campaigns(self, account_id: int,
                                 campaign_ids: list[int]) -> dict[int, Survey]:
        """for_reports of the survey of each campaign, by campaign id, in one statement
        (and one more per survey that has earlier versions); another account's campaigns
        are left out."""
        found = {}
        for row in run(self.connection, _SURVEYS_OF_CAMPAIGNS, {
                "account_id": account_id, "campaign_ids": campaign_ids}):
            found[row.campaign_id] = self.with_earlier_questions(account_id, survey_of(row))
        return found

    def get(self, account_id: int, survey_id: int) -> Survey | None:
        row = run(self.connection, _SURVEY, {"account_id": account_id, "id": survey_id}).first()
        return survey_of(row) if row else None

    def list(self, account_id: int, offset: int, limit: int) -> tuple[list[Survey], int]:
        """One page of the account's surveys, and how many there are in all."""
        where = surveys.c.account_id == account_id
        rows = self.connection.execute(
            select(surveys).where(where).order_by(surveys.c.id).offset(offset).limit(limit))
        total = self.connection.execute(select(func.count()).where(where)).scalar_one()
        return [survey_of(row) for row in rows], total


_CAMPAIGN_FIELDS = ("survey_id", "name", "status", "delivery", "send_delay_minutes",
                    "reminder_days", "max_reminders", "quarantine_days", "quarantine_scope",
                    "link_valid_days", "recurrence_days", "templates", "notify_emails",
                    "notify_on", "crm_push", "crm_tag", "webhooks", "recurrence_list",
                    "last_recurrence_at", "dump_every", "dump_at", "dump_format", "dump_gzip",
                    "next_dump_at")


def campaign_of(row: Row) -> Campaign:
    return Campaign(id=row.id, account_id=row.account_id, public_id=row.public_id,
                    created_at=row.created_at,
                    updated_at=row.updated_at, **{name: getattr(row, name) for name in _CAMPAIGN_FIELDS})


class CampaignRepository(Repository):
    def add(self, account_id: int, campaign: Campaign, now: datetime) -> int:
        values = {name: getattr(campaign, name) for name in _CAMPAIGN_FIELDS}
        DirectoryRepository(self.connection).add("campaign", campaign.public_id, account_id)
        return self.connection.execute(insert(campaigns).values(
            account_id=account_id, public_id=campaign.public_id, created_at=now, updated_at=now,
            **values).returning(campaigns.c.id)).scalar_one()

    def get(self, account_id: int, campaign_id: int) -> Campaign | None:
        row = run(self.connection, _CAMPAIGN, {"account_id": account_id, "id": campaign_id}).first()
        return campaign_of(row) if row else None

    def with_survey(self, account_id: int, campaign_id: int) -> tuple[Campaign, Survey] | None:
        """A campaign of the account and its survey as it is now, in one statement (what
        answering an invitation reads on every call)."""
        row = run(self.connection, _CAMPAIGN_AND_SURVEY, {"account_id": account_id,
                                                          "id": campaign_id}).first()
        return (campaign_of(row), survey_of(unprefixed(row, "survey__"))) if row else None

    def update(self, campaign: Campaign, now: datetime) -> None:
        self.connection.execute(update(campaigns).where(
            campaigns.c.account_id == campaign.account_id, campaigns.c.id == campaign.id).values(
            updated_at=now, **{name: getattr(campaign, name) for name in _CAMPAIGN_FIELDS}))

    def recurring(self, now: datetime) -> list[Campaign]:
        """Active campaigns with a recurrence, of every account (their due time is checked after)."""
        rows = self.connection.execute(select(campaigns).where(
            campaigns.c.status == "active", campaigns.c.recurrence_days > 0,
            campaigns.c.recurrence_list != ""))
        return [campaign_of(row) for row in rows]

    def due_dumps(self, now: datetime) -> list[Campaign]:
        """Campaigns of every account whose scheduled dump is due."""
        rows = self.connection.execute(select(campaigns).where(
            campaigns.c.dump_every != "", campaigns.c.next_dump_at <= now)
            .order_by(campaigns.c.next_dump_at))
        return [campaign_of(row) for row in rows]

    def claim(self, campaign: Campaign, column: str, seen: datetime | None,
              value: datetime | None) -> bool:
        """Move the campaign's ``column`` from ``seen`` to ``value``; False if another worker
        moved it first (a conditional UPDATE: the row lock makes it one winner on every backend)."""
        return self.connection.execute(update(campaigns).where(
            campaigns.c.account_id == campaign.account_id, campaigns.c.id == campaign.id,
            campaigns.c[column].is_not_distinct_from(seen)).values({column: value})).rowcount == 1

    def get_public(self, account_id: int, public_id: str) -> Campaign | None:
        row = run(self.connection, _PUBLIC_CAMPAIGN, {"account_id": account_id,
                                                      "public_id": public_id}).first()
        return campaign_of(row) if row else None

    def list(self, account_id: int, survey_id: int | None, status: str | None) -> list[Campaign]:
        query = select(campaigns).where(campaigns.c.account_id == account_id)
        if survey_id is not None:
            query = query.where(campaigns.c.survey_id == survey_id)
        if status is not None:
            query = query.where(campaigns.c.status == status)
        return [campaign_of(row) for row in self.connection.execute(query.order_by(campaigns.c.id))]


class AttributeRepository(Repository):
    def define(self, account_id: int, name: str, kind: str, values: list[str],
               now: datetime) -> None:
        """Create or redefine an attribute."""
        existing = self._one(select(attribute_definitions.c.id).where(
            attribute_definitions.c.account_id == account_id,
            attribute_definitions.c.name == name))
        if existing is None:
            self.connection.execute(insert(attribute_definitions).values(
                account_id=account_id, name=name, kind=kind, values=values, created_at=now))
        else:
            self.connection.execute(update(attribute_definitions).where(
                attribute_definitions.c.account_id == account_id,
                attribute_definitions.c.id == existing.id).values(kind=kind, values=values))

    def all(self, account_id: int) -> dict[str, AttributeDefinitionRecord]:
        return {row.name: row for row in self._records(
            AttributeDefinitionRecord,
            select(attribute_definitions).where(attribute_definitions.c.account_id == account_id)
            .order_by(attribute_definitions.c.name))}
