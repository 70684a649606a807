"""XML-RPC as other libraries write it, against a real gunicorn on both databases.

Several XML-RPC libraries type values by their look: a digit-only string goes out as
<int>, a large number as <i8>. The bodies here are written by hand so that the test
sends exactly those bytes; xmlrpc.client's transport carries them and reads the answer.
"""
from __future__ import annotations

import xmlrpc.client
from xml.sax.saxutils import escape

import pytest

pytestmark = pytest.mark.e2e


def value(tag: str, text: str) -> str:
    return f"<value><{tag}>{escape(text)}</{tag}></value>"


def struct(**members: str) -> str:
    """A struct of already written values, e.g. struct(email=value("string", "a@b.co"))."""
    return "<value><struct>" + "".join(
        f"<member><name>{name}</name>{written}</member>" for name, written in members.items()
    ) + "</struct></value>"


def array(*values: str) -> str:
    return "<value><array><data>" + "".join(values) + "</data></array></value>"


def call(live_server, method: str, params: str) -> dict:
    """Send one hand-written methodCall with one struct parameter; the decoded result."""
    body = (f"<?xml version='1.0'?><methodCall><methodName>{method}</methodName>"
            f"<params><param>{params}</param></params></methodCall>").encode()
    key_id, secret = live_server.admin
    host = f"{key_id}:{secret}@{live_server.base_url.removeprefix('http://')}"
    (result,) = xmlrpc.client.Transport(use_builtin_types=True).request(host, "/xmlrpc", body)
    return result


def fault_of(live_server, method: str, params: str) -> tuple[int, str]:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        call(live_server, method, params)
    return caught.value.faultCode, caught.value.faultString


@pytest.fixture
def campaign_id(live_server) -> int:
    survey = call(live_server, "feedloop.create_survey", struct(
        title=value("string", "Tolerance"), language=value("string", "en"),
        questions=array(struct(key=value("string", "nps"), type=value("string", "nps"),
                               text=value("string", "?"), required=value("boolean", "1")))))
    return call(live_server, "feedloop.create_campaign", struct(
        survey_id=value("i8", str(survey["survey_id"])), name=value("int", "2026"),
        crm_push=value("int", "0")))["campaign_id"]


def test_numbers_where_strings_are_expected_are_read_as_their_decimal_text(live_server,
                                                                            campaign_id):
    answered = []
    for n in (1, 2, 3):
        link = call(live_server, "feedloop.get_tracking_url", struct(
            campaign_id=value("string", str(campaign_id)), email=value("string", f"{n}@tol.test"),
            crm_id=value("int", f"{n}00")))
        answered.append(call(live_server, "feedloop.record_response", struct(
            invitation_id=value("int", str(link["invitation_id"])),
            answers=array(struct(key=value("string", "nps"), value=value("int", "9")))
        ))["response_id"])
    first = call(live_server, "feedloop.export_responses", struct(
        campaign_id=value("int", str(campaign_id)), limit=value("string", "2")))
    # the cursor "N" comes back as <int>N</int>, as those libraries send a digit string
    second = call(live_server, "feedloop.export_responses", struct(
        campaign_id=value("int", str(campaign_id)), after=value("int", first["next_cursor"]),
        limit=value("i8", "2")))
    records = first["records"] + second["records"]
    assert first["has_more"] and not second["has_more"]
    assert [r["response_id"] for r in records] == answered
    assert {(r["crm_id"], r["answers"][0]["value"]) for r in records} == {
        ("100", "9"), ("200", "9"), ("300", "9")}
    assert call(live_server, "feedloop.get_campaign", struct(
        campaign_id=value("int", str(campaign_id))))["name"] == "2026"


@pytest.mark.parametrize("written", [
    value("int", "2147483648"),             # an INTEGER column on PostgreSQL overflowed
    value("i8", str(2**63)),                # SQLite's 64-bit integers overflowed
    value("i8", str(-(2**63) - 1)),
    value("string", "99999999999999999999"),
])
def test_an_id_out_of_range_is_a_parameter_fault_naming_the_field(live_server, written):
    before = live_server.log()
    number, text = fault_of(live_server, "feedloop.get_tracking_url", struct(
        campaign_id=written, email=value("string", "a@b.test")))
    assert number == -32602
    assert text in ("ValidationError: 'campaign_id' must be at most 2147483647.",
                    "ValidationError: 'campaign_id' must be at least 1.")
    assert "Traceback" not in live_server.log()[len(before):]


@pytest.mark.parametrize("written, message", [
    (value("double", "9.5"), "'answers[0].value' must be a string."),
    (value("boolean", "1"), "'answers[0].value' must be a string."),
    (value("base64", "OQ=="), "'answers[0].value' must be a string."),
    (array(value("int", "9")), "'answers[0].value' must be a string."),
])
def test_any_other_type_where_a_string_is_expected_names_the_field_path(live_server, written,
                                                                       message):
    number, text = fault_of(live_server, "feedloop.record_response", struct(
        invitation_id=value("int", "1"),
        answers=array(struct(key=value("string", "nps"), value=written))))
    assert (number, text) == (-32602, "ValidationError: " + message)


@pytest.mark.parametrize("written, message", [
    (value("double", "1.0"), "'campaign_id' must be a whole number."),
    (value("boolean", "1"), "'campaign_id' must be a whole number."),
    (value("string", "1e3"), "'campaign_id' must be a whole number."),
    (value("dateTime.iso8601", "20261102T09:30:00"), "'campaign_id' must be a whole number."),
])
def test_any_other_type_where_a_whole_number_is_expected_names_the_field(live_server, written,
                                                                        message):
    number, text = fault_of(live_server, "feedloop.get_campaign", struct(campaign_id=written))
    assert (number, text) == (-32602, "ValidationError: " + message)


def test_a_boolean_field_takes_boolean_zero_and_one_and_nothing_else(live_server, campaign_id):
    for written, expected in ((value("boolean", "1"), True), (value("boolean", "0"), False),
                              (value("int", "1"), True), (value("string", "0"), False)):
        call(live_server, "feedloop.update_campaign", struct(
            campaign_id=value("int", str(campaign_id)), dump_gzip=written))
        assert call(live_server, "feedloop.get_campaign", struct(
            campaign_id=value("int", str(campaign_id))))["dump_gzip"] is expected
    number, text = fault_of(live_server, "feedloop.update_campaign", struct(
        campaign_id=value("int", str(campaign_id)), dump_gzip=value("int", "2")))
    assert (number, text) == (-32602, "ValidationError: 'dump_gzip' must be a boolean.")
