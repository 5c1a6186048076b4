"""The dev harness (sim/harness.py): tokens, request log lines, the cache server as the stack and the
black-box tests start it, a stack that does not start, and an event built from parts."""
import base64
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from sim.common import DEV_JWT_SECRET, REPO
from sim.events import v2_event
from sim.harness import StackDidNotStart, local_stack, mint_token, request_log, start_cache
from sim.processes import free_port, stop_processes, wait_for_port


def claims(token: str, secret: str) -> dict:
    """The token's claims, once its HS256 signature is checked against `secret`."""
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "==") == expected, "signature"
    header, payload = (json.loads(base64.urlsafe_b64decode(part + "==")) for part in signing_input.split("."))
    assert header == {"typ": "JWT", "alg": "HS256"}
    return payload


def test_a_token_is_signed_with_the_secret_and_carries_the_claims():
    token = mint_token("alice", "moderator", "Alice", ttl=600, secret="s3cret")
    payload = claims(token, "s3cret")
    assert {k: payload[k] for k in ("sub", "role", "name")} == {"sub": "alice", "role": "moderator", "name": "Alice"}
    assert abs(payload["exp"] - (time.time() + 600)) < 5
    with pytest.raises(AssertionError, match="signature"):
        claims(token, "another secret")
    assert "name" not in claims(mint_token("bob"), DEV_JWT_SECRET)


def test_a_request_log_line_is_found_once_the_function_wrote_it(tmp_path):
    log = tmp_path / "functions.log"
    log.write_text('not json\n{"message":"job done","request_id":"r1"}\n')

    def write_later():
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write('{"message":"request","request_id":"r1","dynamodb_calls":2}\n')
    threading.Thread(target=write_later).start()
    assert request_log(log, "r1", within=10) == {"message": "request", "request_id": "r1", "dynamodb_calls": 2}
    assert request_log(log, "r2", within=0.2) is None


def ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"PING\r\n")
        return connection.recv(64)


def test_the_cache_server_answers_as_the_stack_starts_it():
    port = free_port()
    cache = start_cache(port)
    try:
        assert ping(port) == b"+PONG\r\n"
    finally:
        stop_processes([cache])


def test_the_cache_server_the_black_box_tests_start_is_the_server_itself():
    # `python -m sim.harness cache` becomes redis-server: killing it (a test's crash) kills the server.
    port = free_port()
    cache = subprocess.Popen([sys.executable, "-m", "sim.harness", "cache", "--port", str(port)], cwd=REPO / "dev",
                             stdout=subprocess.DEVNULL)
    try:
        assert wait_for_port("127.0.0.1", port, 10, cache), "the cache server did not listen"
        assert ping(port) == b"+PONG\r\n"
    finally:
        cache.kill()
        cache.wait()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_a_stack_that_does_not_start_says_so(tmp_path):
    with pytest.raises(StackDidNotStart, match="did not start"):
        with local_stack("never", "--template", str(tmp_path / "missing.yaml")):
            pass


def test_an_event_from_parts_is_what_the_gateway_sends():
    event = v2_event("GET", "GET /api/markets/search", "$default", "/api/markets/search", "q=a%20b&limit=10",
                     {"host": "abc.example.com"}, None, None, "req-1", "203.0.113.7", "abc.example.com",
                     api_id="abc")
    assert event["queryStringParameters"] == {"q": "a b", "limit": "10"}
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert "pathParameters" not in event and event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert (context["apiId"], context["domainPrefix"], context["requestId"]) == ("abc", "abc", "req-1")
    assert context["http"]["sourceIp"] == "203.0.113.7"
