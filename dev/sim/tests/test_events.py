"""The API Gateway HTTP API payload format 2.0 event a request becomes, and the response mapping."""
import base64
import http.client
import io
import json
from types import SimpleNamespace

import pytest

from sim.events import build_event, gateway_error, http_response
from sim.pool import InvocationError
from sim.router import Route
from sim.runtime_api import streamed_to_v2


def request(headers: str, method: str = "POST") -> SimpleNamespace:
    """What build_event reads of a GatewayHandler."""
    raw = headers.replace("\n", "\r\n").encode() + b"\r\n"
    return SimpleNamespace(client_address=("10.1.2.3", 5555), command=method, request_version="HTTP/1.1",
                           headers=http.client.parse_headers(io.BytesIO(raw)),
                           server=SimpleNamespace(server_address=("127.0.0.1", 3000)))


ROUTE = Route("POST", "/api/markets/{id}/positions", function=None, stage="$default")


def event(headers: str = "Host: api.example.com:3000\n", body: bytes | None = None, query: str = "") -> dict:
    return build_event(request(headers), ROUTE, {"id": "m 1"}, "/api/markets/m%201/positions", query, body, "req-1")


def test_route_path_and_query():
    e = event(query="a=1&b=&a=2&c=x%20y")
    assert (e["version"], e["routeKey"], e["rawPath"]) == ("2.0", "POST /api/markets/{id}/positions",
                                                          "/api/markets/m%201/positions")
    assert e["rawQueryString"] == "a=1&b=&a=2&c=x%20y"
    assert e["queryStringParameters"] == {"a": "1,2", "b": "", "c": "x y"}
    assert e["pathParameters"] == {"id": "m 1"}
    assert "queryStringParameters" not in event()


def test_headers_are_lower_cased_and_joined_and_cookies_get_their_own_list():
    e = event("Host: api.example.com:3000\nX-Thing: a\nx-thing: b\nCookie: a=1; b=2\nCookie: c=3\n"
              "X-Forwarded-For: 192.0.2.9\nUser-Agent: probe/1\n")
    headers = e["headers"]
    assert headers["x-thing"] == "a,b"
    assert e["cookies"] == ["a=1", "b=2", "c=3"] and "cookie" not in headers
    assert headers["x-forwarded-for"] == "192.0.2.9, 10.1.2.3"
    assert (headers["x-forwarded-proto"], headers["x-forwarded-port"]) == ("http", "3000")
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    assert all(name == name.lower() for name in headers)
    assert "cookies" not in event()
    assert event()["headers"]["x-forwarded-for"] == "10.1.2.3"


def test_request_context():
    e = event("Host: api.example.com:3000\nUser-Agent: probe/1\n")
    context = e["requestContext"]
    assert context["http"] == {"method": "POST", "path": "/api/markets/m%201/positions", "protocol": "HTTP/1.1",
                               "sourceIp": "10.1.2.3", "userAgent": "probe/1"}
    assert (context["domainName"], context["domainPrefix"]) == ("api.example.com", "api")
    assert (context["requestId"], context["routeKey"], context["stage"]) == (
        "req-1", "POST /api/markets/{id}/positions", "$default")
    assert (context["accountId"], context["apiId"]) == ("123456789012", "local")
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith(" +0000")


def test_bodies_text_binary_and_none():
    assert (event(body=b'{"a":1}')["body"], event(body=b'{"a":1}')["isBase64Encoded"]) == ('{"a":1}', False)
    binary = event(body=b"\xff\x00")
    assert (binary["body"], binary["isBase64Encoded"]) == (base64.b64encode(b"\xff\x00").decode(), True)
    empty = event(body=None)
    assert "body" not in empty and empty["isBase64Encoded"] is False


def test_response_mapping():
    raw = json.dumps({"statusCode": 201, "headers": {"ETag": '"3"', "X-N": 5},
                      "multiValueHeaders": {"etag": ["ignored"], "Link": ["<a>", "<b>"]},
                      "cookies": ["s=1; Path=/"], "body": '{"ok":true}'}).encode()
    status, headers, body = http_response(raw)
    assert status == 201 and body == b'{"ok":true}'
    assert headers == [("ETag", '"3"'), ("X-N", "5"), ("Link", "<a>"), ("Link", "<b>"), ("set-cookie", "s=1; Path=/")]


def test_response_bodies():
    assert http_response(b'{"statusCode": 200, "body": "aGk=", "isBase64Encoded": true}')[2] == b"hi"
    assert http_response(b'{"statusCode": 200, "body": {"a": 1}}')[2] == b'{"a": 1}'
    assert http_response(b'{"statusCode": 204}') == (204, [], b"")
    # A plain JSON value (no statusCode) is the body of a 200, as API Gateway does.
    assert http_response(b'{"a": 1}') == (200, [("content-type", "application/json")], b'{"a": 1}')
    with pytest.raises(InvocationError, match="malformed Lambda response"):
        http_response(b"not json")


def test_streamed_responses_become_buffered_ones():
    raw = b'{"statusCode": 202, "headers": {"a": "b"}}' + b"\0" * 8 + b"payload"
    assert http_response(streamed_to_v2(raw)) == (202, [("a", "b")], b"payload")
    assert streamed_to_v2(b'{"statusCode": 200}') == b'{"statusCode": 200}'


def test_gateway_errors_have_the_contract_shape():
    status, headers, body = gateway_error(405, "Method DELETE not allowed", "METHOD_NOT_ALLOWED", "r-1",
                                          ["GET", "PATCH", "GET"])
    assert status == 405
    assert headers == [("content-type", "application/json"), ("x-request-id", "r-1"), ("allow", "GET, PATCH")]
    assert json.loads(body) == {"success": False, "error": "Method DELETE not allowed",
                                "code": "METHOD_NOT_ALLOWED", "requestId": "r-1"}
