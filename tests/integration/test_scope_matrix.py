"""Every operation of the catalogue called in process with every kind of key.

The expected scopes are written out here rather than read from the catalogue, so a
changed declaration fails as surely as a broken ``Principal.allows``.
"""
from __future__ import annotations

import pytest

from service.domain.errors import DomainError, Forbidden
from service.services import OPERATIONS, Principal, invoke
from service.services.schema import from_plain
from service.storage.engine import make_engine
from service.storage.migrations import upgrade
from tests.support.samples import MISSING, sample_request

SCOPE_OF = {
    "GetTrackingUrl": "trigger", "AddRespondents": "trigger", "UpsertContacts": "trigger",
    "SyncList": "trigger", "RecordResponse": "trigger", "CancelInvitation": "trigger",
    "SuppressContact": "trigger", "UnsuppressContact": "trigger", "ListSuppressions": "trigger",
    "GetContact": "read", "ListContacts": "read",
    "GetSurvey": "read", "ListSurveys": "read", "GetCampaign": "read", "ListCampaigns": "read",
    "ListAttributes": "read", "GetInvitation": "read", "ListNonResponders": "read",
    "ListDumps": "read", "GetCampaignMetrics": "read", "GetContactResults": "read",
    "ExportResponses": "read",
    "ConfigureCrmPush": "admin", "GetCrmPush": "admin", "CreateSurvey": "admin",
    "CreateCampaign": "admin", "DefineAttribute": "admin", "UpdateCampaign": "admin",
    "CreateApiKey": "admin", "ListApiKeys": "admin", "RevokeApiKey": "admin",
    "ListAuditLog": "admin", "ListDeliveries": "admin", "RetryDelivery": "admin",
    "RotateWebhookSecret": "admin", "EraseContact": "admin", "ExportContactData": "admin",
    "CorrectResponse": "admin", "CloseCampaign": "admin", "UpdateSurvey": "admin",
}

#: The keys worth telling apart: admin includes the others, so admin with more is admin.
KEYS = [("trigger",), ("read",), ("admin",), ("trigger", "read")]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One database for the whole matrix: no scope check depends on what is stored."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'feedloop.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def outcome(rt, account_id: int, scopes: tuple[str, ...], name: str) -> str:
    """'forbidden' with the message a refused key gets, else 'ran' (answered or refused otherwise)."""
    op = OPERATIONS[name]
    principal = Principal(account_id, "fl_matrix", frozenset(scopes))
    try:
        invoke(rt, principal, op, from_plain(op.request, sample_request(name, MISSING)))
    except Forbidden as refused:
        assert refused.message == (f"This operation needs an API key with the '{SCOPE_OF[name]}' "
                                   f"scope; this key has: {', '.join(sorted(scopes))}.")
        return "forbidden"
    except DomainError:
        pass
    return "ran"


def test_the_scope_table_names_every_operation_of_the_catalogue():
    assert sorted(SCOPE_OF) == sorted(OPERATIONS)


@pytest.mark.parametrize("name", sorted(SCOPE_OF))
def test_each_operation_is_forbidden_exactly_to_keys_without_its_scope(rt, admin, name):
    expected = {scopes: "ran" if SCOPE_OF[name] in scopes or "admin" in scopes else "forbidden"
                for scopes in KEYS}
    assert {scopes: outcome(rt, admin.account_id, scopes, name) for scopes in KEYS} == expected
