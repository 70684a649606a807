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
    data once the person was erased (not even a placeholder).

    Dumps add the response's ``cursor`` and the contact's ``attributes``; this runs
    once per dumped row, so it copies nothing it does not have to.
    """
    erased = row.erased_at is not None
    answers = row.answers if survey is None else {
        q.key: row.answers[q.key] for q in survey.questions if q.key in row.answers}
    return {"response_id": row.id, "campaign_id": row.campaign_id,
            "invitation_id": row.invitation_id, "change": row.change,
            "submitted_at": timestamp(row.submitted_at), "updated_at": timestamp(row.updated_at),
            "email": None if erased else row.email, "crm_id": None if erased else row.crm_id,
            "nps_score": row.nps_score, "nps_category": nps_category(row.nps_score),
            "answers": answers, "params": row.params, "extra_params": row.extra_params}
