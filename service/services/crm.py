"""CRM contact push: the account's connection, and the upsert queued with each response."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from cryptography.fernet import Fernet

from service.domain.crm import contact_update
from service.domain.errors import ValidationError
from service.domain.surveys import nps_category
from service.services import messages as m
from service.services.catalogue import Principal, operation
from service.services.runtime import Runtime

CONNECTORS = ("salesmanago", "generic")
DEFAULT_CLIENT_ID_PARAM = "smclientid"
DEFAULT_PREFIX = "survey."


def _fernet(secret_key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"feedloop-crm\x00" + secret_key)
                                           .digest()))


def encrypt(secret_key: bytes, value: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def decrypt(secret_key: bytes, token: str) -> str:
    return _fernet(secret_key).decrypt(token.encode()).decode()


def _info(row) -> m.CrmPushInfo:
    if row is None:
        return m.CrmPushInfo(configured=False)
    return m.CrmPushInfo(configured=True, connector=row.connector, endpoint=row.endpoint,
                         client_id=row.client_id, owner=row.owner or None,
                         client_id_param=row.client_id_param, field_prefix=row.field_prefix,
                         updated_at=row.updated_at)


@operation("ConfigureCrmPush", scope="admin", audited=True, errors=(ValidationError,))
def configure_crm_push(rt: Runtime, principal: Principal,
                       request: m.ConfigureCrmPushRequest) -> m.CrmPushInfo:
    """Set the CRM that campaigns with crm_push update (once per account; the secret is kept encrypted)."""
    if request.connector not in CONNECTORS:
        raise ValidationError(f"connector must be one of {', '.join(CONNECTORS)}.",
                              field="connector")
    rt.destinations.check_configured(request.endpoint, "endpoint")
    if request.connector == "salesmanago" and not (request.api_key and request.owner):
        raise ValidationError("SALESmanago needs api_key and owner too.", field="api_key")
    values = {"connector": request.connector, "endpoint": request.endpoint.rstrip("/"),
              "client_id": request.client_id, "api_key": request.api_key or "",
              "secret_encrypted": encrypt(rt.secret_key, request.api_secret),
              "owner": request.owner or "",
              "client_id_param": request.client_id_param or DEFAULT_CLIENT_ID_PARAM,
              "field_prefix": request.field_prefix if request.field_prefix is not None
              else DEFAULT_PREFIX}
    with rt.uow() as uow:
        uow.outbox.set_crm_connection(principal.account_id, values, rt.clock())
        uow.commit()
    return get_crm_push(rt, principal, m.GetCrmPushRequest())


@operation("GetCrmPush", scope="admin", audited=False, errors=())
def get_crm_push(rt: Runtime, principal: Principal, request: m.GetCrmPushRequest) -> m.CrmPushInfo:
    """The account's CRM connection, without its secret."""
    with rt.uow(read_only=True) as uow:
        return _info(uow.outbox.crm_connection(principal.account_id))


def queue_crm_push(uow, account_id: int, campaign, survey, response_id: int,
                   answers: dict, params: dict[str, str], contact_email: str | None,
                   now: datetime) -> None:
    """Queue the contact upsert of a response, in the response's transaction."""
    connection = uow.outbox.crm_connection(account_id)
    if connection is None:
        return
    score = survey.nps_score(answers)
    update = contact_update(survey, answers, nps_category(score), score, params,
                            connection.field_prefix, connection.client_id_param, contact_email,
                            campaign.crm_tag)
    if update.email is None and update.client_id is None:
        return  # nobody to update: an anonymous open-link answer
    uow.outbox.add_many(account_id, [{
        "kind": "crm", "event": "contact.upsert", "target": connection.endpoint,
        "idempotency_key": f"crm_response_{response_id}",
        "payload": {"response_id": response_id, **update.to_payload()}}], now)
