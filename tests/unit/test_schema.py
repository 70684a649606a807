"""Request coercion: whichever door a request came through, one set of rules judges it."""
from __future__ import annotations

import dataclasses
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


@dataclass
class Unbounded:
    count: int = wire(min=1)


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
                                             ("FALSE", False), ("1", True), ("0", False),
                                             (1, True), (0, False)])
def test_booleans_come_as_booleans_or_their_usual_strings_or_numbers(given, expected):
    assert build(count=1, flag=given).flag is expected


@pytest.mark.parametrize("given", ["yes", 2, -1, 1.0, 2.0])
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


@pytest.mark.parametrize("given, message", [
    ("yesterday", "must be an ISO 8601 date-time"),
    (20261102, "must be a date-time"),
    ("0001-01-01T00:00:00+14:00", r"must be from 1900-01-01 to 2999-12-31 \(UTC\)"),
    ("9999-12-31T23:59:59-14:00", r"must be from 1900-01-01 to 2999-12-31 \(UTC\)"),
    (datetime(1899, 12, 31, 23, 59), "must be from 1900-01-01"),
])
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
    ({"count": 1, "tags": [1.5]}, "'tags[0]' must be a string."),
    ({"count": 1, "tags": [True]}, "'tags[0]' must be a string."),
    ({"count": 1, "items": [{"name": "a"}] * 3}, "'items' has 3 items; at most 2 are allowed."),
    ({"count": 1, "needs_one": []}, "'needs_one' needs at least 1 item(s)."),
])
def test_the_shape_of_a_request_is_checked(data, message):
    with pytest.raises(MessageShapeError) as caught:
        build(**data)
    assert caught.value.message == message


@pytest.mark.parametrize("given, expected", [(9, "9"), (0, "0"), (-12, "-12"),
                                             (2**63, "9223372036854775808")])
def test_a_whole_number_where_a_string_is_expected_stands_for_its_decimal_text(given, expected):
    assert build(count=1, tags=[given]).tags == [expected]


@pytest.mark.parametrize("given", [2**31 - 1, "2147483647"])
def test_a_whole_number_without_a_declared_maximum_reaches_the_largest_xs_int(given):
    assert from_plain(Unbounded, {"count": given}).count == 2**31 - 1


@pytest.mark.parametrize("given", [2**31, 2**63, "9223372036854775808", -(2**63) - 1])
def test_a_whole_number_beyond_the_range_is_refused_naming_the_field(given):
    with pytest.raises(MessageShapeError) as caught:
        from_plain(Unbounded, {"count": given})
    assert caught.value.field == "count"
    assert caught.value.message in ("'count' must be at most 2147483647.",
                                    "'count' must be at least 1.")


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


def _request_fields():
    from service.services import OPERATIONS
    seen, pending = set(), [op.request for op in OPERATIONS.values()]
    while pending:
        message = pending.pop()
        if message in seen:
            continue
        seen.add(message)
        for spec in fields_of(message):
            if dataclasses.is_dataclass(spec.base):
                pending.append(spec.base)
            yield message.__name__, spec


def test_every_whole_number_a_request_can_carry_has_a_range_within_xs_int():
    unbounded = [f"{owner}.{spec.name}" for owner, spec in _request_fields()
                 if spec.base is int and not (spec.min is not None and spec.max is not None
                                              and -(2**31) <= spec.min <= spec.max <= 2**31 - 1)]
    assert unbounded == []


def test_every_list_a_request_can_carry_has_a_maximum_size():
    assert [f"{owner}.{spec.name}" for owner, spec in _request_fields()
            if spec.is_list and spec.max_items is None] == []
