"""Request coercion: whichever door a request came through, one set of rules judges it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from service.services.schema import MessageShapeError, fields_of, from_plain, wire
from service.xmlrpc.door import encode_result


@dataclass
class Item:
    name: str = wire(max_len=5)
    weight: int | None = wire(None, min=1, max=9)


@dataclass
class Request:
    count: int = wire(min=0, max=100)
    flag: bool = wire(False)
    since: datetime | None = wire(None)
    items: list[Item] = wire([], max_items=2)
    tags: list[str] = wire([], min_items=0)
    needs_one: list[str] | None = wire(None, min_items=1)


def build(**data):
    return from_plain(Request, data)


@pytest.mark.parametrize("given, expected", [(7, 7), ("7", 7), ("0", 0), ("100", 100)])
def test_whole_numbers_come_as_ints_or_digit_strings(given, expected):
    assert build(count=given).count == expected


@pytest.mark.parametrize("given, message", [
    (True, "'count' must be a whole number."),
    (7.5, "'count' must be a whole number."),
    ("seven", "'count' must be a whole number."),
    (-1, "'count' must be at least 0."),
    ("101", "'count' must be at most 100."),
])
def test_a_bad_number_is_refused_naming_the_field(given, message):
    with pytest.raises(MessageShapeError) as caught:
        build(count=given)
    assert (caught.value.message, caught.value.field) == (message, "count")


@pytest.mark.parametrize("given, expected", [(True, True), (False, False), ("true", True),
                                             ("FALSE", False), ("1", True), ("0", False)])
def test_booleans_come_as_booleans_or_their_usual_strings(given, expected):
    assert build(count=1, flag=given).flag is expected


@pytest.mark.parametrize("given", ["yes", 1, 2.0])
def test_anything_else_is_not_a_boolean(given):
    with pytest.raises(MessageShapeError, match="'flag' must be a boolean."):
        build(count=1, flag=given)


@pytest.mark.parametrize("given, expected", [
    ("2026-11-02T09:30:00Z", datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)),
    ("2026-11-02T10:30:00+01:00",
     datetime(2026, 11, 2, 10, 30, tzinfo=timezone(timedelta(hours=1)))),
    # no offset means UTC on both doors (XML-RPC's dateTime.iso8601 has none)
    ("2026-11-02T09:30:00", datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)),
    (datetime(2026, 11, 2, 9, 30), datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)),
])
def test_date_times_are_parsed_and_always_carry_an_offset(given, expected):
    since = build(count=1, since=given).since
    assert since == expected and since.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("given, message", [("yesterday", "must be an ISO 8601 date-time"),
                                            (20261102, "must be a date-time")])
def test_a_bad_date_time_is_refused(given, message):
    with pytest.raises(MessageShapeError, match=f"'since' {message}"):
        build(count=1, since=given)


def test_nested_messages_are_checked_with_their_path():
    built = build(count=1, items=[{"name": "ab", "weight": "3"}])
    assert built.items == [Item("ab", 3)]
    with pytest.raises(MessageShapeError) as caught:
        build(count=1, items=[{"name": "ab"}, {"name": "toolong"}])
    assert caught.value.field == "items[1].name"
    assert caught.value.message == "'items[1].name' is longer than 5 characters."
    with pytest.raises(MessageShapeError, match=r"^items\[0\] must be a struct.$"):
        build(count=1, items=["ab"])


@pytest.mark.parametrize("data, message", [
    ({}, "'count' is required."),
    ({"count": 1, "colour": "red"}, "'colour' is not a field of Request; known fields: count, "
                                    "flag, items, needs_one, since, tags."),
    ({"count": 1, "tags": "a,b"}, "'tags' must be a list."),
    ({"count": 1, "tags": [1]}, "'tags[0]' must be a string."),
    ({"count": 1, "items": [{"name": "a"}] * 3}, "'items' has 3 items; at most 2 are allowed."),
    ({"count": 1, "needs_one": []}, "'needs_one' needs at least 1 item(s)."),
])
def test_the_shape_of_a_request_is_checked(data, message):
    with pytest.raises(MessageShapeError) as caught:
        build(**data)
    assert caught.value.message == message


def test_a_request_that_is_not_a_struct_is_refused():
    with pytest.raises(MessageShapeError, match="the request must be a struct."):
        from_plain(Request, ["count", 1])


def test_fields_are_described_once_and_absent_values_left_out_of_xmlrpc_results():
    assert fields_of(Request) is fields_of(Request)
    count, flag = fields_of(Request)[:2]
    assert (count.required, count.min, count.max) == (True, 0, 100)
    assert (flag.required, flag.default) == (False, False)
    assert encode_result(Request(count=2, items=[Item("a")])) == {
        "count": 2, "flag": False, "items": [{"name": "a"}], "tags": []}


def test_a_field_of_a_type_the_doors_cannot_carry_is_a_programming_error():
    @dataclass
    class Odd:
        ratio: complex = wire()

    with pytest.raises(TypeError, match="unsupported wire type"):
        from_plain(Odd, {"ratio": 1})
