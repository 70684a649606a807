"""The API reference, docs/api.md, generated from the operation catalogue.

Every operation's fields, types, limits, scope and faults come from the same
catalogue and request/result dataclasses both doors are built from, so the
reference cannot drift from them: a test regenerates it and compares
(``feedloop reference --out docs/api.md`` writes it). The examples are text
here; the suite runs the curl and PHP ones against a real server.
"""
from __future__ import annotations

from datetime import datetime

from service.domain.errors import XMLRPC_CODES, all_error_classes
from service.services import OPERATIONS, Operation
from service.services.catalogue import DOOR_ERRORS
from service.services.schema import FieldSpec, fields_of, limits_of, nested_messages
from service.xmlrpc.door import fault_numbers, xmlrpc_type

_XSD_TYPES = {str: "xs:string", int: "xs:int", bool: "xs:boolean", float: "xs:double",
              datetime: "xs:dateTime"}

CURL_SOAP = """\
```sh
curl -sS -u "$FEEDLOOP_KEY" "$FEEDLOOP_URL/soap" \\
  -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: "GetTrackingUrl"' \\
  --data-binary @- <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:f="urn:feedloop:v1">
  <soap:Body>
    <f:GetTrackingUrl>
      <f:campaign_id>$CAMPAIGN_ID</f:campaign_id>
      <f:email>ana@example.com</f:email>
      <f:params><f:name>ticket</f:name><f:value>T-1001</f:value></f:params>
      <f:event_id>ticket-1001-closed</f:event_id>
    </f:GetTrackingUrl>
  </soap:Body>
</soap:Envelope>
EOF
```"""

CURL_XMLRPC = """\
```sh
curl -sS -u "$FEEDLOOP_KEY" "$FEEDLOOP_URL/xmlrpc" -H 'Content-Type: text/xml' \\
  --data-binary @- <<EOF
<?xml version="1.0"?>
<methodCall><methodName>feedloop.get_tracking_url</methodName><params><param><value><struct>
  <member><name>campaign_id</name><value><int>$CAMPAIGN_ID</int></value></member>
  <member><name>email</name><value><string>ana@example.com</string></value></member>
  <member><name>params</name><value><array><data><value><struct>
    <member><name>name</name><value><string>ticket</string></value></member>
    <member><name>value</name><value><string>T-1001</string></value></member>
  </struct></value></data></array></value></member>
  <member><name>event_id</name><value><string>ticket-1001-closed</string></value></member>
</struct></value></param></params></methodCall>
EOF
```"""

PHP = """\
```php
<?php
[$id, $secret] = explode(':', getenv('FEEDLOOP_KEY'), 2);
$client = new SoapClient(getenv('FEEDLOOP_URL') . '/soap?wsdl',
                         ['login' => $id, 'password' => $secret, 'cache_wsdl' => WSDL_CACHE_NONE]);
try {
    $answer = $client->GetTrackingUrl(['campaign_id' => (int) getenv('CAMPAIGN_ID'),
                                       'email' => 'ana@example.com',
                                       'event_id' => 'ticket-1001-closed']);
    echo $answer->GetTrackingUrlResult->url, "\\n";
    $client->GetCampaign(['campaign_id' => 2147483647]);
} catch (SoapFault $fault) {
    echo $fault->faultcode, ': ', $fault->getMessage(), "\\n";
}
```"""

JAVA = """\
```sh
wsimport -keep -p com.example.feedloop "$FEEDLOOP_URL/soap?wsdl"
```

```java
{port_class} port = new {service}().get{port_getter}();
Map<String, Object> context = ((BindingProvider) port).getRequestContext();
context.put(BindingProvider.USERNAME_PROPERTY, keyId);
context.put(BindingProvider.PASSWORD_PROPERTY, secret);
// then port.getTrackingUrl(...) and the others, each taking the operation's fields in order
```"""

CSHARP = """\
```sh
dotnet-svcutil "$FEEDLOOP_URL/soap?wsdl" --namespace "*,Feedloop" --sync
```

```csharp
var binding = new BasicHttpBinding(BasicHttpSecurityMode.TransportCredentialOnly);  // Transport on https
binding.Security.Transport.ClientCredentialType = HttpClientCredentialType.Basic;
var client = new {port_type}Client(binding, new EndpointAddress(url + "/soap"));
client.ClientCredentials.UserName.UserName = keyId;
client.ClientCredentials.UserName.Password = secret;
// then client.GetTrackingUrl(...) and the others
```"""


def _wsdl_names() -> dict[str, str]:
    """The names generated code takes from the WSDL (service, port, port type), so the
    examples follow the WSDL when it changes."""
    from lxml import etree

    from service.soap import render_wsdl
    root = etree.fromstring(render_wsdl("http://127.0.0.1:8000"))
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/"}
    port_type = root.find("wsdl:portType", ns).get("name")
    port = root.find("wsdl:service/wsdl:port", ns).get("name")
    # JAX-WS: the interface is named after the port type, its getter after the port
    return {"service": root.find("wsdl:service", ns).get("name"), "port_type": port_type,
            "port_class": port_type[:1].upper() + port_type[1:],
            "port_getter": port[:1].upper() + port[1:]}


def _type(spec: FieldSpec) -> str:
    base = _XSD_TYPES.get(spec.base) or spec.base.__name__
    return f"{base}[]" if spec.is_list else base


def _fields(cls: type, with_limits: bool) -> list[str]:
    rows = ["| field | SOAP | XML-RPC | required | limits | meaning |", "|---|---|---|---|---|---|"]
    for spec in fields_of(cls):
        rows.append("| " + " | ".join([
            f"`{spec.name}`", _type(spec), xmlrpc_type(spec), "yes" if spec.required else "no",
            limits_of(spec) if with_limits else "", spec.doc.replace("|", "\\|")]) + " |")
    return rows if fields_of(cls) else ["(no fields)"]


def _operation(op: Operation) -> list[str]:
    requests = set(nested_messages(op.request))
    lines = [f"### {op.name}", "", op.doc, "",
             f"Scope `{op.scope}`; XML-RPC method `{op.method_name}`"
             f"{'; audited' if op.audited else ''}.", "", "Request:", "",
             *_fields(op.request, True), "", f"Result `{op.result.__name__}`:", "",
             *_fields(op.result, False), ""]
    for nested in nested_messages(op.request, op.result):
        lines += [f"`{nested.__name__}`:", "", *_fields(nested, nested in requests), ""]
    lines += ["Faults: " + ", ".join(
        f"{code} ({_soap_code(code)}, {number})" for number, code, _ in fault_numbers(op)
        if code != "ParseError") + ".", ""]
    return lines


def _soap_code(code: str) -> str:
    sides = {cls.code: cls.side for cls in all_error_classes()}
    return f"{sides[code]}.{code}"


def _fault_table() -> list[str]:
    rows = ["| code | SOAP faultcode | XML-RPC faultCode | meaning |", "|---|---|---|---|"]
    seen = set()
    for cls in sorted(all_error_classes(), key=lambda c: XMLRPC_CODES[c.code]):
        if cls.code in seen:
            continue
        seen.add(cls.code)
        meaning = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| {cls.code} | {cls.side}.{cls.code} | {XMLRPC_CODES[cls.code]} | {meaning} |")
    rows += ["| ValidationError (shape) | Client.ValidationError | -32602 | A field is missing, "
             "unknown, of another type or out of its range; the message names it. |",
             "| MethodNotFound | Client.InvalidRequest | -32601 | No such operation. |",
             "| ParseError | Client.InvalidRequest | -32700 | The body is not an XML-RPC call. |"]
    return rows


def render_reference() -> str:
    """docs/api.md."""
    operations = sorted(OPERATIONS.values(), key=lambda op: op.name)
    names = _wsdl_names()
    lines = [
        "# feedloop API v1 reference", "",
        "<!-- Generated from the operation catalogue by `feedloop reference --out docs/api.md`;"
        " do not edit by hand (tests/unit/test_api_reference.py compares). -->", "",
        "Both doors carry the same operations with the same fields, scopes and fault codes:",
        "SOAP 1.1 document/literal at `/soap` (WSDL at `/soap?wsdl`, namespace "
        "`urn:feedloop:v1`) and XML-RPC at `/xmlrpc` (or `/RPC2`), where a method takes one "
        "struct of the fields by name, or their values positionally in the order listed. "
        "Authentication: HTTP Basic `KEYID:SECRET` on both doors (on SOAP also a WS-Security "
        "UsernameToken with a PasswordText password).", "",
        "## Conventions", "",
        "- A date-time without an offset is UTC (XML-RPC's `dateTime.iso8601` has none); "
        "results carry UTC.",
        "- XML-RPC reads tolerantly and means strictly: a whole number where a string is "
        "expected stands for its decimal text (`<int>9</int>` is the answer \"9\", a cursor "
        "sent back as `<int>` works), a digit string where a whole number is expected, `<i8>`, "
        "and `<boolean>` 0/1 (or the numbers 0/1) for booleans. Anything else is a -32602 "
        "fault naming the field path, e.g. `'answers[0].value' must be a string.`",
        "- Optional fields left out take their defaults; XML-RPC results leave out absent "
        "values (it has no nil).",
        "- Limits are checked on both doors with the same messages: ids run from 1 to "
        "2,147,483,647 (`xs:int`), and every list, string and number has the limit shown.",
        "", "## Faults", "",
        "SOAP faults travel with HTTP 500 and carry `Client.<Code>` or `Server.<Code>` and a "
        "`<detail>` holding the declared `tns:<Code>Fault` element; XML-RPC faults travel with "
        "HTTP 200, with the number below and the string `<Code>: <message>`. A request without "
        "credentials is answered HTTP 401 with `WWW-Authenticate: Basic realm=\"feedloop\"` on "
        "both doors. Every call may also get the door's own faults: " + ", ".join(
            e.code for e in DOOR_ERRORS) + ".", "",
        *_fault_table(), "",
        "## Worked examples", "",
        "With `FEEDLOOP_URL` (e.g. `http://127.0.0.1:8000`), `FEEDLOOP_KEY` (`KEYID:SECRET`) "
        "and `CAMPAIGN_ID` set, each of these asks for a tracking URL (the suite runs them "
        "against a real server).", "",
        "SOAP, a raw envelope with curl; the answer is a `GetTrackingUrlResponse` holding "
        "`url`, `invitation_id`, `status` and `expires_at`:", "", CURL_SOAP, "",
        "XML-RPC with curl; the answer is a struct of the same fields:", "", CURL_XMLRPC, "",
        "PHP's `SoapClient` (php-soap); the second call prints its fault, "
        "`Client.UnknownCampaign: No campaign 2147483647 in your account.`:", "", PHP, "",
        "Java (JAX-WS `wsimport`; not run by the suite, which has no JDK tools):", "",
        JAVA.format(**names), "",
        "C# (`dotnet-svcutil`; not run by the suite, which has no .NET):", "",
        CSHARP.format(**names), "",
        "## Operations", "",
        "| operation | XML-RPC method | scope |", "|---|---|---|",
        *[f"| [{op.name}](#{op.name.lower()}) | `{op.method_name}` | {op.scope} |"
          for op in operations], "",
    ]
    for op in operations:
        lines += _operation(op)
    return "\n".join(lines).rstrip("\n") + "\n"

