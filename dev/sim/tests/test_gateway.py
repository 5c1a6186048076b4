"""The gateway over HTTP, with a stand-in function: CORS preflights, the gateway's own 404 and 405,
a function's answer reaching the client, and what API Gateway answers itself (a body over 10 MB, a
throttled route, a failed invocation, the integration timeout)."""
import http.client
import json
import threading
from types import SimpleNamespace

import pytest

from sim.cors import Cors
from sim.gateway import GatewayHandler
from sim.pool import InvocationError
from sim.router import Route, Router, TokenBucket
from sim.server import QuietServer


class Function:
    """A function whose every invocation answers `answer` (as JSON unless bytes), or raises it."""

    def __init__(self, answer: dict | bytes | Exception):
        self.binary, self.pool, self.answer, self.events, self.wait_limits = "stand-in", self, answer, [], []

    def invoke(self, payload: bytes, wait_limit: float | None = None, refuse_over_reserved: bool = False) -> bytes:
        self.events.append(json.loads(payload))
        self.wait_limits.append(wait_limit)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer if isinstance(self.answer, bytes) else json.dumps(self.answer).encode()


@pytest.fixture
def gateway():
    """Starts a gateway over the given routes; yields a function that makes a request to it."""
    servers = []

    def start(routes: list[Route], cors: Cors | None = None):
        server = QuietServer(("127.0.0.1", 0), GatewayHandler)
        server.stack = SimpleNamespace(router=Router(routes), cors=cors, quiet=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)

        def request(method: str, path: str, headers: dict | None = None, body: bytes | None = None):
            connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
            connection.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        return request

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def route(method: str, path: str, fn: Function) -> Route:
    return Route(method, path, fn, segments=path[1:].split("/"))


CORS = Cors.of({"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "PATCH"],
                "AllowHeaders": ["if-match"], "ExposeHeaders": ["etag"], "MaxAge": 600})


def test_a_function_answer_reaches_the_client(gateway):
    fn = Function({"statusCode": 201, "headers": {"etag": '"1"', "access-control-allow-origin": "*"},
                   "body": '{"id":"m1"}'})
    request = gateway([route("POST", "/items/{id}", fn)], CORS)
    status, headers, body = request("POST", "/items/a%2Fb?x=1", {"Origin": "https://app.example"}, b'{"n":1}')
    assert (status, body, headers["etag"]) == (201, b'{"id":"m1"}', '"1"')
    # The template's CORS replaces the function's own Access-Control-* headers.
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-expose-headers"] == "etag"
    assert headers["apigw-requestid"] == fn.events[0]["requestContext"]["requestId"]
    assert (fn.events[0]["pathParameters"], fn.events[0]["rawQueryString"], fn.events[0]["body"]) == (
        {"id": "a/b"}, "x=1", '{"n":1}')


def test_preflights_are_answered_by_the_gateway(gateway):
    fn = Function({"statusCode": 200})
    request = gateway([route("PATCH", "/items/{id}", fn)], CORS)
    status, headers, body = request("OPTIONS", "/items/1", {
        "Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "if-match"})
    assert (status, body, fn.events) == (204, b"", [])
    assert (headers["access-control-allow-methods"], headers["access-control-allow-headers"],
            headers["access-control-max-age"]) == ("GET,PATCH", "if-match", "600")
    status, headers, _ = request("OPTIONS", "/items/1", {"Origin": "https://evil.example",
                                                         "Access-Control-Request-Method": "PATCH"})
    assert status == 204 and "access-control-allow-origin" not in headers


def test_the_gateway_answers_404_and_405_itself(gateway):
    request = gateway([route("GET", "/items/{id}", Function({})), route("PATCH", "/items/{id}", Function({}))])
    status, headers, body = request("DELETE", "/items/1")
    assert (status, headers["allow"], json.loads(body)["code"]) == (405, "GET, PATCH", "METHOD_NOT_ALLOWED")
    status, _, body = request("GET", "/nothing")
    assert (status, json.loads(body)["code"], json.loads(body)["success"]) == (404, "NOT_FOUND", False)


def aws_answer(status: int, headers: dict, body: bytes) -> tuple[int, bytes]:
    """Status and body of an answer API Gateway gives itself: no envelope, no x-request-id, its own id."""
    assert "x-request-id" not in headers and headers["apigw-requestid"], headers
    assert headers["content-type"] == "application/json"
    return status, body


def test_a_failed_invocation_is_a_500_and_the_integration_timeout_a_503(gateway):
    slow = Function(InvocationError("no answer within 2 s", timed_out=True))
    request = gateway([route("GET", "/crash", Function(InvocationError("function error"))),
                       route("GET", "/malformed", Function(b"not JSON")),
                       Route("GET", "/slow", slow, segments=["slow"], timeout=2.0)])
    for path in ("/crash", "/malformed"):
        assert aws_answer(*request("GET", path)) == (500, b'{"message":"Internal Server Error"}'), path
    assert aws_answer(*request("GET", "/slow")) == (503, b'{"message":"Service Unavailable"}')
    assert slow.wait_limits == [2.0]  # the route's integration timeout


def test_a_body_over_10_mb_is_a_413_without_an_invocation(gateway):
    fn = Function({"statusCode": 200})
    request = gateway([route("POST", "/items", fn)])
    too_large = {"Content-Length": str(10 * 1024 * 1024 + 1)}
    assert aws_answer(*request("POST", "/items", too_large)) == (413, b'{"message":"Request Entity Too Large"}')
    assert fn.events == []


def test_a_throttled_route_is_a_429_without_an_invocation(gateway):
    fn = Function({"statusCode": 200, "body": "ok"})
    request = gateway([Route("GET", "/items", fn, segments=["items"], throttle=TokenBucket(2, 0.001))])
    answers = [request("GET", "/items") for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 429]
    assert aws_answer(*answers[2]) == (429, b'{"message":"Too Many Requests"}')
    assert len(fn.events) == 2
