"""Requests for any operation of the catalogue, built from its fields: the scope and isolation
tests walk every operation with them, in process and through the doors."""
from __future__ import annotations

from service.services import OPERATIONS
from service.services.schema import fields_of

#: Ids of objects that exist in no account.
MISSING = {"survey_id": 987654, "campaign_id": 987654, "invitation_id": 987654,
           "response_id": 987654,
           "token": "A" * 43, "key_id": "fl_0000000000000000", "email": "nobody@example.com",
           "crm_id": "CRM-NOBODY"}
OTHER_VALUES = {"title": "t", "language": "en", "name": "n", "scopes": ["read"],
                "questions": [{"key": "q", "type": "nps", "text": "?"}],
                "answers": [{"key": "nps", "value": "5"}],
                "respondents": [{"email": "b-own@example.com"}],
                "contacts": [{"email": "b-own@example.com"}], "list_name": "l", "mode": "add",
                "kind": "text"}


def sample_request(name: str, ids: dict) -> dict:
    """A request that names objects by ``ids`` and is otherwise valid."""
    fields = {}
    for spec in fields_of(OPERATIONS[name].request):
        if spec.name in ids:
            fields[spec.name] = ids[spec.name]
        elif spec.name in OTHER_VALUES and (spec.required or spec.min_items):
            fields[spec.name] = OTHER_VALUES[spec.name]
        elif spec.required:
            fields[spec.name] = {str: "x", int: 1, bool: False}[spec.base]
    if name == "RecordResponse":
        fields.pop("invitation_id" if "token" in fields else "token", None)
    return fields
