"""Every refusal of the domain's rules, word for word with its field: what an integrator
reads in the fault, and what the web forms put next to the input. And the values just
inside each limit, which pass."""
from __future__ import annotations

import dataclasses

import pytest

from service.domain.distribution import Campaign, clean_params
from service.domain.errors import InvalidEmail, ValidationError
from service.domain.surveys import AnswerErrors, Question, Survey, normalize_email


def refusal(check) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as refused:
        check()
    return refused.value.message, refused.value.field


def campaign(**settings) -> Campaign:
    return Campaign(**{"survey_id": 1, "name": "Support", **settings})


@pytest.mark.parametrize("settings, message, field", [
    ({"name": " "}, "name must not be empty.", "name"),
    ({"delivery": "fax"}, "delivery 'fax' is not one of crm, email.", "delivery"),
    ({"status": "done"}, "status 'done' is not one of active, paused, closed.", "status"),
    ({"quarantine_scope": "all"}, "quarantine_scope 'all' is not one of campaign, account.",
     "quarantine_scope"),
    ({"notify_on": "some"}, "notify_on 'some' is not one of all, detractors.", "notify_on"),
    ({"send_delay_minutes": 527041}, "send_delay_minutes must be from 0 to 527040.",
     "send_delay_minutes"),
    ({"reminder_days": -1}, "reminder_days must be from 0 to 366.", "reminder_days"),
    ({"reminder_days": 367}, "reminder_days must be from 0 to 366.", "reminder_days"),
    ({"reminder_days": 1, "max_reminders": 11}, "max_reminders must be from 0 to 10.",
     "max_reminders"),
    ({"quarantine_days": 3661}, "quarantine_days must be from 0 to 3660.", "quarantine_days"),
    ({"link_valid_days": -1}, "link_valid_days must be from 0 to 3660.", "link_valid_days"),
    ({"recurrence_days": 3661, "recurrence_list": "l"},
     "recurrence_days must be from 0 to 3660.", "recurrence_days"),
    ({"max_reminders": 2}, "max_reminders needs reminder_days.", "reminder_days"),
    ({"dump_every": "hourly"}, "dump_every must be '', 'daily' or 'weekly'.", "dump_every"),
    ({"dump_at": "24:00"}, "dump_at is a UTC time HH:MM, e.g. 02:00.", "dump_at"),
    ({"dump_at": "2:00"}, "dump_at is a UTC time HH:MM, e.g. 02:00.", "dump_at"),
    ({"dump_at": "02:60"}, "dump_at is a UTC time HH:MM, e.g. 02:00.", "dump_at"),
    ({"dump_format": "xlsx"}, "dump_format must be csv, jsonl or xml.", "dump_format"),
    ({"recurrence_days": 90}, "recurrence_days needs recurrence_list: the list whose members "
                              "are invited again.", "recurrence_list"),
])
def test_campaign_settings_are_refused_with_the_rule_they_break(settings, message, field):
    assert refusal(campaign(**settings).validate) == (message, field)


@pytest.mark.parametrize("settings", [
    {"delivery": "email", "status": "closed", "quarantine_scope": "account",
     "notify_on": "detractors"},
    {"send_delay_minutes": 527040, "reminder_days": 366, "max_reminders": 10,
     "quarantine_days": 3660, "link_valid_days": 3660, "recurrence_days": 3660,
     "recurrence_list": "customers"},
    {"dump_every": "weekly", "dump_at": "23:59", "dump_format": "xml"},
    {"dump_every": "daily", "dump_at": "00:00", "dump_format": "jsonl"},
    {"reminder_days": 3},
])
def test_campaign_settings_at_their_limits_are_accepted(settings):
    campaign(**settings).validate()


def question(**fields) -> Question:
    return Question(**{"key": "q", "type": "text", "text": "Why?", **fields})


def second_question_of(bad: Question) -> Survey:
    return Survey(title="t", language="en", questions=(question(key="first"), bad))


WHERE = "questions[1]"


@pytest.mark.parametrize("fields, message, field", [
    ({"key": "1st"}, "key '1st' must start with a letter and contain only letters, digits and "
                     "underscores (at most 64).", "key"),
    ({"key": "q" * 65}, f"key '{'q' * 65}' must start with a letter and contain only letters, "
                        "digits and underscores (at most 64).", "key"),
    ({"type": "slider"}, "type 'slider' is not one of nps, rating, single, multi, text, email.",
     "type"),
    ({"text": " "}, "text must not be empty.", "text"),
    ({"type": "single"}, "a 'single' question needs choices.", "choices"),
    ({"type": "multi"}, "a 'multi' question needs choices.", "choices"),
    ({"type": "multi", "choices": tuple(map(str, range(101)))}, "at most 100 choices.",
     "choices"),
    ({"type": "single", "choices": ("a", "a")}, "choices must be distinct and not empty.",
     "choices"),
    ({"type": "single", "choices": ("a", " ")}, "choices must be distinct and not empty.",
     "choices"),
    ({"type": "text", "choices": ("a",)}, "only single and multi questions have choices.",
     "choices"),
    ({"type": "rating", "min": 5, "max": 5}, "rating needs 0 <= min < max <= 100.", "min"),
    ({"type": "rating", "min": -1}, "rating needs 0 <= min < max <= 100.", "min"),
    ({"type": "rating", "max": 101}, "rating needs 0 <= min < max <= 100.", "min"),
    ({"type": "nps", "max": 10}, "only rating questions take min and max.", "min"),
    ({"type": "text", "min": 1}, "only rating questions take min and max.", "min"),
])
def test_ill_formed_questions_are_refused_with_their_place_in_the_survey(fields, message, field):
    assert refusal(second_question_of(question(**fields)).validate) == (
        f"{WHERE}: {message}", f"{WHERE}.{field}")


@pytest.mark.parametrize("fields", [
    {"key": "Q" + "_" * 63},
    {"type": "multi", "choices": tuple(map(str, range(100)))},
    {"type": "single", "choices": ("a",)},
    {"type": "rating", "min": 0, "max": 100},
    {"type": "nps"}, {"type": "email"},
])
def test_questions_at_their_limits_are_accepted(fields):
    second_question_of(question(**fields)).validate()


@pytest.mark.parametrize("survey, message, field", [
    (Survey(title=" ", language="en", questions=(question(),)), "title must not be empty.",
     "title"),
    (Survey(title="t", language="pt", questions=(question(),)),
     "language 'pt' is not one of en, es, sv, fr, de, cs.", "language"),
    (Survey(title="t", language="en", questions=()), "A survey needs at least one question.",
     "questions"),
    (Survey(title="t", language="en", questions=(question(), question(type="nps"))),
     "Question key 'q' is used twice.", "questions[1].key"),
])
def test_ill_formed_surveys_are_refused(survey, message, field):
    assert refusal(survey.validate) == (message, field)


@pytest.mark.parametrize("fields, values, message", [
    ({"required": True}, [" ", ""], "An answer to 'q' is required."),
    ({"type": "multi", "choices": ("a", "b")}, ["a", "c"], "'c' is not a choice of 'q'."),
    ({"type": "single", "choices": ("a", "b")}, ["c"], "'c' is not a choice of 'q'."),
    ({"type": "single", "choices": ("a", "b")}, ["a", "b"], "'q' takes a single answer."),
    ({"type": "nps"}, ["7.5"], "The answer to 'q' must be a whole number from 0 to 10."),
    ({"type": "nps"}, ["11"], "The answer to 'q' must be from 0 to 10."),
    ({"type": "nps"}, ["-1"], "The answer to 'q' must be from 0 to 10."),
    ({"type": "rating", "min": 2, "max": 4}, ["1"], "The answer to 'q' must be from 2 to 4."),
    ({"type": "rating"}, ["6"], "The answer to 'q' must be from 1 to 5."),
    ({"type": "rating"}, ["0"], "The answer to 'q' must be from 1 to 5."),
    ({}, ["x" * 5001], "The answer to 'q' is longer than 5000 characters."),
    ({"type": "email"}, ["ana@"], "'ana@' is not a valid email address."),
])
def test_wrong_answers_are_refused_in_the_questions_field(fields, values, message):
    assert refusal(lambda: question(**fields).parse_answer(values)) == (message, "q")


@pytest.mark.parametrize("fields, values, answer", [
    ({}, [" ", None, ""], None),
    ({"type": "nps"}, [" 0 "], 0), ({"type": "nps"}, ["10"], 10),
    ({"type": "rating", "min": 2, "max": 4}, ["2"], 2),
    ({"type": "rating", "min": 2, "max": 4}, ["4"], 4),
    ({"type": "rating"}, ["5"], 5),
    ({"type": "single", "choices": ("a", "b")}, ["b", " "], "b"),
    ({"type": "multi", "choices": ("a", "b", "c")}, ["c", "a"], ["a", "c"]),
    ({"type": "email"}, [" Ana@Example.com"], "ana@example.com"),
    ({}, ["x" * 5000], "x" * 5000),
])
def test_answers_just_inside_the_rules_are_accepted(fields, values, answer):
    assert question(**fields).parse_answer(values) == answer


def test_a_numeric_questions_bounds_are_nps_or_its_own_or_one_to_five():
    assert question(type="nps").bounds() == (0, 10)
    assert question(type="rating").bounds() == (1, 5)
    assert question(type="rating", min=0, max=7).bounds() == (0, 7)


SURVEY = Survey(title="t", language="en", questions=(
    question(key="score", type="nps", required=True), question(key="why"),
    question(key="mail", type="email")))


def test_an_unknown_question_is_refused_by_its_key():
    assert refusal(lambda: SURVEY.parse_answers({"zeta": ["1"], "alpha": ["2"]})) == (
        "'alpha' is not a question of this survey.", "alpha")


def test_a_response_without_any_answer_is_refused():
    survey = dataclasses.replace(SURVEY, questions=SURVEY.questions[1:])
    assert refusal(lambda: survey.parse_answers({"why": [" "]})) == (
        "A response needs at least one answer.", "answers")


@pytest.mark.parametrize("submitted, message, problems", [
    ({"why": ["x" * 5001]}, "An answer to 'score' is required. (and 1 more problem)",
     {"score", "why"}),
    ({"why": ["x" * 5001], "mail": ["no"]},
     "An answer to 'score' is required. (and 2 more problems)", {"score", "why", "mail"}),
    ({"score": ["11"]}, "The answer to 'score' must be from 0 to 10.", {"score"}),
])
def test_every_wrong_answer_is_listed_and_the_first_one_told(submitted, message, problems):
    with pytest.raises(AnswerErrors) as refused:
        SURVEY.parse_answers(submitted)
    assert (refused.value.message, refused.value.field) == (message, "score")
    assert set(refused.value.problems) == problems


def test_the_nps_score_is_the_first_nps_answer_and_none_without_one():
    survey = dataclasses.replace(SURVEY, questions=(question(key="a", type="rating"),
                                                    *SURVEY.questions))
    assert survey.nps_score({"a": 3, "score": 8}) == 8
    assert survey.nps_score({"a": 3}) is None
    assert dataclasses.replace(SURVEY, questions=SURVEY.questions[1:]).nps_score({}) is None


def test_an_invalid_email_names_its_field():
    with pytest.raises(InvalidEmail) as refused:
        normalize_email(" no ")
    assert (refused.value.message, refused.value.field) == (
        "' no ' is not a valid email address.", "email")
    with pytest.raises(InvalidEmail) as refused:
        normalize_email("no", field_name="contact")
    assert refused.value.field == "contact"


def test_an_email_may_be_254_characters_long_and_no_longer():
    domain = ".".join(["d" * 62] * 3) + ".example"   # 194 characters
    longest = "a" * (254 - 1 - len(domain)) + "@" + domain
    assert normalize_email(longest) == longest
    with pytest.raises(InvalidEmail):
        normalize_email("a" + longest)


@pytest.mark.parametrize("params, message", [
    ({f"p{i}": "v" for i in range(51)}, "At most 50 parameters."),
    ({"": "v"}, "Parameter name '' must be 1-64 letters, digits, '_', '-' or '.'."),
    ({"p" * 65: "v"}, f"Parameter name '{'p' * 65}' must be 1-64 letters, digits, '_', '-' or '.'."),
    ({"a/b": "v"}, "Parameter name 'a/b' must be 1-64 letters, digits, '_', '-' or '.'."),
    ({"p": "v" * 1001}, "Parameter 'p' is longer than 1000 characters."),
])
def test_embedded_parameters_are_refused_in_the_field_they_came_in(params, message):
    assert refusal(lambda: clean_params(params, "extra")) == (message, "extra")


def test_embedded_parameters_are_refused_in_the_params_field_unless_told_another():
    assert refusal(lambda: clean_params({"a/b": "v"}))[1] == "params"


def test_embedded_parameters_at_their_limits_are_accepted_as_a_copy():
    params = {f"p{i}": "v" for i in range(49)}
    params.update({"Ab9_-." + "p" * 58: "v" * 1000})
    cleaned = clean_params(params)
    assert cleaned == params and cleaned is not params


def test_a_parameter_name_is_letters_digits_and_three_marks_in_any_script():
    """Letters and digits as str.isalnum knows them (any script), '_', '-', '.'; nothing else."""
    for code in [*range(0, 0x3000), *range(0x3000, 0x110000, 97)]:
        character = chr(code)
        allowed = character.isalnum() or character in "_-."
        try:
            clean_params({f"a{character}": "v"})
        except ValidationError:
            assert not allowed, hex(code)
        else:
            assert allowed, hex(code)
