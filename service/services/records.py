"""One response, one shape: the record that webhooks, dumps and ExportResponses give out.

Text forms (webhook JSON, dump files, manifests) write every moment with
``timestamp``: ISO 8601 in UTC to the second with a "Z", what integrators parse
most easily and what xs:dateTime (wsdl/dump.xsd) accepts. The SOAP and XML-RPC
doors carry typed date-times instead and encode them themselves.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from service.domain.surveys import Survey, nps_category


class StoredResponse(NamedTuple):
    """What a response record is built from: a stored response with its contact.

    The rows of dumps and exports carry the same names, so they are passed as they are.
    """

    id: int
    campaign_id: int
    invitation_id: int | None
    change: str
    submitted_at: datetime
    updated_at: datetime
    email: str | None
    crm_id: str | None
    erased_at: datetime | None
    nps_score: int | None
    answers: dict[str, Any]
    params: dict[str, str]
    extra_params: dict[str, str]


def timestamp(moment: datetime) -> str:
    """A UTC moment as text: 2026-11-02T09:00:00Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def response_record(row: StoredResponse, survey: Survey | None) -> dict[str, Any]:
    """The response as integrators receive it: answers in survey order, and no personal
    data once the person was erased (not even a placeholder)."""
    erased = row.erased_at is not None
    return make_record(row.id, row.campaign_id, row.invitation_id, row.change,
                       timestamp(row.submitted_at), timestamp(row.updated_at),
                       None if erased else row.email, None if erased else row.crm_id,
                       row.nps_score, nps_category(row.nps_score),
                       row.answers if survey is None else in_survey_order(
                           row.answers, [q.key for q in survey.questions]),
                       row.params, row.extra_params)


def in_survey_order(answers: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The answers to a survey's questions, in the survey's order (``keys``, its
    questions' keys)."""
    return {key: answers[key] for key in keys if key in answers}


def make_record(response_id: int, campaign_id: int, invitation_id: int | None, change: str,
                submitted_at: str, updated_at: str, email: str | None, crm_id: str | None,
                nps_score: int | None, category: str | None, answers: dict[str, Any],
                params: dict[str, str], extra_params: dict[str, str]) -> dict[str, Any]:
    """A response record from its values as they are given out (moments as text, personal
    data already blanked once erased): the one place that names a record's fields.

    Dumps build theirs from the values the database computes and add the response's
    ``cursor`` and the contact's ``attributes``; they run this once per dumped row.
    """
    return {"response_id": response_id, "campaign_id": campaign_id,
            "invitation_id": invitation_id, "change": change, "submitted_at": submitted_at,
            "updated_at": updated_at, "email": email, "crm_id": crm_id, "nps_score": nps_score,
            "nps_category": category, "answers": answers, "params": params,
            "extra_params": extra_params}
