"""Answers as the doors give them out: key/value pairs in survey order."""
from __future__ import annotations

from service.domain.surveys import Question, Survey
from service.services.messages import Answer
from service.services.results import answer_list, answers_by_key

SURVEY = Survey(title="t", language="en", questions=(
    Question("nps", "nps", "?"), Question("why", "text", "?"),
    Question("many", "multi", "?", choices=("a", "b"))))


def test_answers_are_listed_in_survey_order_whatever_order_they_are_stored_in():
    pairs = answer_list(SURVEY, {"many": ["a", "b"], "nps": 9})
    assert pairs == [Answer("nps", "9"), Answer("many", "a"), Answer("many", "b")]


def test_unanswered_questions_are_left_out_and_the_later_answers_kept():
    assert answer_list(SURVEY, {"why": "slow"}) == [Answer("why", "slow")]


def test_answers_without_a_survey_keep_their_stored_order():
    assert answer_list(None, {"why": "slow", "nps": 3}) == [Answer("why", "slow"),
                                                            Answer("nps", "3")]


def test_repeated_keys_are_grouped_back_into_one_answer_list():
    assert answers_by_key([Answer("many", "a"), Answer("nps", "9"), Answer("many", "b")]) == {
        "many": ["a", "b"], "nps": ["9"]}
