"""A corpus of hostile request bodies, shared by the tests and bench/hostile.py."""
from __future__ import annotations

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _laughs() -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    return f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><lolz>&lol9;</lolz>'.encode()


def _quadratic() -> bytes:
    entity = "x" * 50_000
    return (f'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "{entity}">]><q>'
            + "&a;" * 50_000 + "</q>").encode()


#: name -> (body, content type); each must be refused with a fault, quickly and cheaply.
CORPUS: dict[str, tuple[bytes, str]] = {
    "xxe-file": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                 b"<r>&x;</r>", "text/xml"),
    "xxe-network": (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
                    b'"http://127.0.0.1:9/evil">]><r>&x;</r>', "text/xml"),
    "billion-laughs": (_laughs(), "text/xml"),
    "quadratic-blowup": (_quadratic(), "text/xml"),
    "10mb-text-node": (b"<methodCall><methodName>" + b"x" * (10 * 1024 * 1024)
                       + b"</methodName></methodCall>", "text/xml"),
    "100000-deep": (b"<a>" * 100_000 + b"</a>" * 100_000, "text/xml"),
    "soap12-envelope": (b'<?xml version="1.0"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/'
                        b'soap-envelope"><e:Body><ListSurveys xmlns="urn:feedloop:v1"/></e:Body>'
                        b"</e:Envelope>", "application/soap+xml"),
    "invalid-utf8": (b'<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>\xff\xfe'
                     b"</methodName></methodCall>", "text/xml"),
    "wrong-content-type": (b"<methodCall><methodName>system.listMethods</methodName>"
                           b"</methodCall>", "application/json"),
    "empty-body": (b"", "text/xml"),
    "not-xml": (b"GET / HTTP/1.1 or anything else", "text/xml"),
    "20mb-body": (b"<a>" + b"y" * (20 * 1024 * 1024) + b"</a>", "text/xml"),
}
