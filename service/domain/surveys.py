"""Surveys, questions and answers: the rules of what can be asked and answered."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from service.domain.errors import InvalidEmail, ValidationError

LANGUAGES = ("en", "es", "sv", "fr", "de", "cs")
QUESTION_TYPES = ("nps", "rating", "single", "multi", "text", "email")
KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_TEXT_ANSWER = 5000
MAX_CHOICES = 100

# Deliberately simple: one "@", a dotted domain, no spaces or control
# characters. The real proof of an address is a delivered mail, not a regex.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")


def normalize_email(value: str, field_name: str = "email") -> str:
    """Return the canonical (trimmed, lower-cased) form of an email, or raise InvalidEmail."""
    email = (value or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidEmail(f"'{value}' is not a valid email address.", field=field_name)
    return email


def nps_category(score: int | None) -> str | None:
    """Promoter 9-10, passive 7-8, detractor 0-6 (None when there is no score)."""
    if score is None:
        return None
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


#: The normal quantile of a two-sided 95% interval.
Z_95 = 1.96


def nps_margin(promoters: int, detractors: int, scored: int) -> float | None:
    """The half-width of NPS's 95% confidence interval, in NPS points (None without scores).

    NPS is 100·(p − d) for the promoter and detractor shares p and d; its standard
    error is 100·sqrt((p + d − (p − d)²) / n).
    """
    if not scored:
        return None
    p, d = promoters / scored, detractors / scored
    return round(Z_95 * 100 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / scored), 1)


@dataclass(frozen=True)
class Question:
    key: str
    type: str
    text: str
    required: bool = False
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None

    def bounds(self) -> tuple[int, int]:
        """The inclusive range of a numeric question."""
        if self.type == "nps":
            return 0, 10
        return (self.min if self.min is not None else 1, self.max if self.max is not None else 5)

    def validate(self, where: str) -> None:
        """Raise ValidationError when the question itself is ill-formed."""
        if not KEY_PATTERN.match(self.key):
            raise ValidationError(
                f"{where}: key '{self.key}' must start with a letter and contain only letters, "
                "digits and underscores (at most 64).", field=f"{where}.key")
        if self.type not in QUESTION_TYPES:
            raise ValidationError(
                f"{where}: type '{self.type}' is not one of {', '.join(QUESTION_TYPES)}.",
                field=f"{where}.type")
        if not self.text.strip():
            raise ValidationError(f"{where}: text must not be empty.", field=f"{where}.text")
        if self.type in ("single", "multi"):
            if not self.choices:
                raise ValidationError(f"{where}: a '{self.type}' question needs choices.",
                                      field=f"{where}.choices")
            if len(self.choices) > MAX_CHOICES:
                raise ValidationError(f"{where}: at most {MAX_CHOICES} choices.",
                                      field=f"{where}.choices")
            if len(set(self.choices)) != len(self.choices) or any(not c.strip() for c in self.choices):
                raise ValidationError(f"{where}: choices must be distinct and not empty.",
                                      field=f"{where}.choices")
        elif self.choices:
            raise ValidationError(f"{where}: only single and multi questions have choices.",
                                  field=f"{where}.choices")
        if self.type == "rating":
            low, high = self.bounds()
            if not (0 <= low < high <= 100):
                raise ValidationError(f"{where}: rating needs 0 <= min < max <= 100.",
                                      field=f"{where}.min")
        elif self.min is not None or self.max is not None:
            raise ValidationError(f"{where}: only rating questions take min and max.",
                                  field=f"{where}.min")

    def parse_answer(self, values: list[str]) -> object:
        """Turn the submitted strings for this question into a typed answer (or None)."""
        values = [v.strip() for v in values if v is not None and v.strip() != ""]
        if not values:
            if self.required:
                raise ValidationError(f"An answer to '{self.key}' is required.", field=self.key)
            return None
        if self.type == "multi":
            unknown = [v for v in values if v not in self.choices]
            if unknown:
                raise ValidationError(
                    f"'{unknown[0]}' is not a choice of '{self.key}'.", field=self.key)
            return [c for c in self.choices if c in values]
        if len(values) > 1:
            raise ValidationError(f"'{self.key}' takes a single answer.", field=self.key)
        value = values[0]
        if self.type in ("nps", "rating"):
            low, high = self.bounds()
            try:
                number = int(value)
            except ValueError:
                raise ValidationError(
                    f"The answer to '{self.key}' must be a whole number from {low} to {high}.",
                    field=self.key) from None
            if not low <= number <= high:
                raise ValidationError(
                    f"The answer to '{self.key}' must be from {low} to {high}.", field=self.key)
            return number
        if self.type == "single":
            if value not in self.choices:
                raise ValidationError(f"'{value}' is not a choice of '{self.key}'.", field=self.key)
            return value
        if self.type == "email":
            return normalize_email(value, field_name=self.key)
        if len(value) > MAX_TEXT_ANSWER:
            raise ValidationError(
                f"The answer to '{self.key}' is longer than {MAX_TEXT_ANSWER} characters.",
                field=self.key)
        return value


@dataclass(frozen=True)
class Survey:
    title: str
    language: str
    questions: tuple[Question, ...]
    intro: str = ""
    thank_you: str = ""
    allow_language_override: bool = True
    id: int | None = None
    created_at: datetime | None = None
    #: Each UpdateSurvey makes a new version; a response keeps the one it answered.
    version: int = 1

    def validate(self) -> None:
        """Raise ValidationError when the survey cannot be published as it is."""
        if not self.title.strip():
            raise ValidationError("title must not be empty.", field="title")
        if self.language not in LANGUAGES:
            raise ValidationError(
                f"language '{self.language}' is not one of {', '.join(LANGUAGES)}.",
                field="language")
        if not self.questions:
            raise ValidationError("A survey needs at least one question.", field="questions")
        seen: set[str] = set()
        for index, question in enumerate(self.questions):
            question.validate(f"questions[{index}]")
            if question.key in seen:
                raise ValidationError(f"Question key '{question.key}' is used twice.",
                                      field=f"questions[{index}].key")
            seen.add(question.key)

    def check_stable_keys(self, earlier: list["Survey"]) -> None:
        """Raise ValidationError when a question key of an earlier version changes type:
        dump columns and metrics read a key the same way across versions."""
        for index, question in enumerate(self.questions):
            for version in earlier:
                before = version.question(question.key)
                if before is not None and before.type != question.type:
                    raise ValidationError(
                        f"Question key '{question.key}' was a {before.type} question in version "
                        f"{version.version}; a key keeps its type (give this question a new key).",
                        field=f"questions[{index}].type")

    def with_questions_of(self, earlier: list["Survey"]) -> "Survey":
        """This version with the questions only earlier versions had appended (newest first),
        so that answers to every version can be reported."""
        questions = list(self.questions)
        for version in sorted(earlier, key=lambda s: -s.version):
            questions += [q for q in version.questions
                          if all(q.key != known.key for known in questions)]
        return replace(self, questions=tuple(questions))

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)

    @property
    def nps_question(self) -> Question | None:
        """The question whose answer is the survey's NPS score: its first NPS question."""
        return next((q for q in self.questions if q.type == "nps"), None)

    @property
    def one_click_question(self) -> Question | None:
        """The first question when a mail can offer it as a row of links: an NPS or rating
        scale of at most 11 points."""
        first = self.questions[0] if self.questions else None
        if first is None or first.type not in ("nps", "rating"):
            return None
        low, high = first.bounds()
        return first if high - low < 11 else None

    @property
    def email_question(self) -> Question | None:
        return next((q for q in self.questions if q.type == "email"), None)

    def parse_answers(self, submitted: dict[str, list[str]]) -> dict[str, object]:
        """Validate a whole submission; raise AnswerErrors listing every problem at once."""
        unknown = sorted(set(submitted) - {q.key for q in self.questions})
        if unknown:
            raise ValidationError(f"'{unknown[0]}' is not a question of this survey.",
                                  field=unknown[0])
        answers: dict[str, object] = {}
        problems: dict[str, ValidationError] = {}
        for question in self.questions:
            try:
                value = question.parse_answer(submitted.get(question.key, []))
            except ValidationError as error:
                problems[question.key] = error
                continue
            if value is not None:
                answers[question.key] = value
        if problems:
            raise AnswerErrors(problems)
        if not answers:
            raise ValidationError("A response needs at least one answer.", field="answers")
        return answers

    def nps_score(self, answers: dict[str, object]) -> int | None:
        question = self.nps_question
        value = answers.get(question.key) if question else None
        return value if isinstance(value, int) else None


class AnswerErrors(ValidationError):
    """Several answers are wrong; ``problems`` maps each question key to its error."""

    def __init__(self, problems: dict[str, ValidationError]) -> None:
        first_key, first = next(iter(problems.items()))
        more = len(problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{first.message}{suffix}", field=first_key)
        self.problems = problems


@dataclass
class Contact:
    email: str
    crm_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    id: int | None = None
    #: Opted out of every survey of the account (the /u/ link): never invited again.
    unsubscribed: bool = False

    def updated_by(self, crm_id: str | None, attributes: dict[str, str]) -> "Contact":
        """The contact as a trigger about it leaves it: a CRM id given replaces the stored
        one, the attributes given are laid over the stored ones (equal to it when the
        trigger changes nothing)."""
        return replace(self, crm_id=self.crm_id if crm_id is None else crm_id,
                       attributes={**self.attributes, **attributes})
