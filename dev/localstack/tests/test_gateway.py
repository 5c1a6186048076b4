"""The gateway over HTTP, with a stand-in function: CORS preflights, the gateway's own 404 and 405,
and a function's answer reaching the client."""
import http.client
import json
import threading
from types import SimpleNamespace

import pytest

from localstack.cors import Cors
from localstack.gateway import GatewayHandler
from localstack.pool import InvocationError
from localstack.router import Route, Router
from localstack.server import QuietServer


class Function:
    """A function whose every invocation answers `answer` (or raises it)."""

    def __init__(self, answer: dict | Exception):
        self.binary, self.pool, self.answer, self.events = "stand-in", self, answer, []

    def invoke(self, payload: bytes, wait_limit: float | None = None) -> bytes:
        self.events.append(json.loads(payload))
        if isinstance(self.answer, Exception):
            raise self.answer
        return json.dumps(self.answer).encode()


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


def test_failed_and_timed_out_functions(gateway):
    request = gateway([route("GET", "/crash", Function(InvocationError("function error"))),
                       route("GET", "/slow", Function(InvocationError("timed out", timed_out=True)))])
    status, _, body = request("GET", "/crash")
    assert (status, json.loads(body)["code"]) == (502, "INTERNAL")
    status, headers, body = request("GET", "/slow")
    assert (status, json.loads(body)["code"], headers["retry-after"]) == (504, "UNAVAILABLE", "1")
