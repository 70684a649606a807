"""What a response becomes in a CRM contact: matching, field names, values, tag."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_VALUE = 255
_NOT_SLUG = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def slug(text: str) -> str:
    """A question text as a field name: diacritics and punctuation removed, spaces to dashes."""
    plain = unicodedata.normalize("NFKD", text)
    # Lower case first, so that Ø, Ł and Đ fold like their small letters.
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    plain = plain.replace("ß", "ss").replace("ø", "o").replace("ł", "l").replace("đ", "d")
    plain = re.sub(r"\s+", "-", plain.strip())
    return _DASHES.sub("-", _NOT_SLUG.sub("", plain)).strip("-")


@dataclass
class ContactUpdate:
    """The upsert a CRM receives for one response."""

    email: str | None
    client_id: str | None
    fields: dict[str, str]
    tags: list[str]
    truncated: list[str] = field(default_factory=list)

    def to_payload(self) -> dict:
        return {"email": self.email, "client_id": self.client_id, "fields": self.fields,
                "tags": self.tags, "truncated": self.truncated}


def contact_update(survey, answers: dict, nps_category: str | None, nps_score: int | None,
                   params: dict[str, str], prefix: str, client_id_param: str,
                   contact_email: str | None, tag: str) -> ContactUpdate:
    """Match by the email answer, else by the CRM client id in the URL, else by the contact."""
    email_question = survey.email_question
    email = answers.get(email_question.key) if email_question else None
    client_id = params.get(client_id_param) if client_id_param else None
    if email is None and client_id is None:
        email = contact_email
    fields: dict[str, str] = {}
    truncated: list[str] = []
    for question in survey.questions:
        if question.key not in answers or question.type == "email":
            continue
        value = answers[question.key]
        text = ", ".join(value) if isinstance(value, list) else str(value)
        name = prefix + (slug(question.text) or question.key)
        if len(text) > MAX_VALUE:
            text = text[:MAX_VALUE]
            truncated.append(name)
        fields[name] = text
    if nps_score is not None:
        fields[prefix + "nps-score"] = str(nps_score)
        fields[prefix + "nps-category"] = nps_category or ""
    return ContactUpdate(email=email, client_id=client_id, fields=fields,
                         tags=[tag] if tag else [], truncated=truncated)
