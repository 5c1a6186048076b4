"""The API gateway: the HTTP server that routes each request to its function (through the event
mapping in events.py), answers CORS preflights, and refuses what API Gateway refuses itself."""
from __future__ import annotations

import json
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .common import log
from .events import aws_error, build_event, gateway_error, http_response
from .pool import InvocationError
from .server import read_body

if TYPE_CHECKING:
    from .server import QuietServer

HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}
# RFC 9110 token: what a method name may be made of.
METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The contract's code for the gateway's own errors, by status.
GATEWAY_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120   # drop idle keep-alive connections eventually
    server: "QuietServer"

    def log_message(self, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "local-api"

    def __getattr__(self, name: str) -> Any:
        # Every method reaches do_request (TRACE, CONNECT, unknown verbs): routing decides, as in
        # API Gateway, instead of http.server's 501 page.
        if name.startswith("do_"):
            return self.do_request
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (malformed request line, oversized line or headers, bad
        version) in the contract's error shape, with a request id."""
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # a status line and headers even for HTTP/0.9 or junk
        reason = message or self.responses.get(code, ("Error",))[0]
        status, headers, data = gateway_error(code, reason, GATEWAY_CODES.get(code, "INTERNAL" if code >= 500
                                                                              else "BAD_REQUEST"), str(uuid.uuid4()))
        self.send(status, headers + self.cors_headers(), data)

    def cors_headers(self) -> list[tuple[str, str]]:
        """What CORS adds to a response to this request (headers may not be parsed yet)."""
        origin = self.headers.get("origin") if getattr(self, "headers", None) else None
        cors = self.server.stack.cors
        return cors.actual(origin) if cors and origin else []

    def do_request(self) -> None:
        started, request_id = time.monotonic(), str(uuid.uuid4())
        stack = self.server.stack
        if self.request_version == "HTTP/0.9" or not METHOD_TOKEN.fullmatch(self.command):
            return self.send_error(400, "Malformed request line")
        too_large = False
        try:
            body = read_body(self)
        except OverflowError:  # over the 10 MB payload quota (server.MAX_BODY)
            body, too_large = None, True
        except ValueError:
            return self.send_error(400, "Malformed request body")
        target = self.path if self.path.startswith("/") else urlsplit(self.path).path or "/"
        path, _, query = target.split("#")[0].partition("?")
        origin, name = self.headers.get("origin"), "-"
        if too_large:
            self.close_connection = True  # the rest of the body is unread: this connection is done
            (status, headers, data), cors_headers = aws_error(413), self.cors_headers()
        elif stack.cors and origin and self.command == "OPTIONS" and "access-control-request-method" in self.headers:
            # A preflight: API Gateway answers it itself, whatever the routes.
            status, headers, data = 204, [("x-request-id", request_id)], b""
            cors_headers = stack.cors.preflight(origin, self.headers["access-control-request-method"],
                                                self.headers.get("access-control-request-headers", ""))
        else:
            status, headers, data, name = self.route(path, query, body, request_id)
            cors_headers = self.cors_headers()
        if stack.cors:  # with a CorsConfiguration, API Gateway ignores the function's CORS headers
            headers = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        self.send(status, [*headers, *cors_headers, ("apigw-requestid", request_id)], data)
        if not stack.quiet:
            log(f"{self.command} {self.path} -> {name} {status} ({(time.monotonic() - started) * 1000:.0f} ms)")

    def route(self, path: str, query: str, body: bytes | None,
              request_id: str) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """Status, headers and body from the route's function, or the gateway's own error; and
        the function's name for the log."""
        match = self.server.stack.router.resolve(self.command, path)
        if match == []:
            return *gateway_error(404, f"No route for {self.command} {path}", "NOT_FOUND", request_id), "-"
        if isinstance(match, list):
            return *gateway_error(405, f"Method {self.command} not allowed for {path}", "METHOD_NOT_ALLOWED",
                                  request_id, match), "-"
        route, params = match
        name = route.function.binary
        if route.throttle and not route.throttle.take():
            return *aws_error(429), name
        try:
            event = build_event(self, route, params, path, query, body, request_id)
            raw = route.function.pool.invoke(json.dumps(event).encode(), wait_limit=route.timeout,
                                             refuse_over_reserved=True)
            return *http_response(raw), name
        except Exception as e:  # InvocationError, or a response we cannot decode
            log(f"{self.command} {path} -> {name}: {e}")
            # An HTTP API answers every Lambda failure (Invoke refused: throttled or over 6 MB; a function
            # error, crash or timeout; a response over 6 MB or malformed) with a 500, and its integration
            # timeout with a 503. "If the Lambda API rejects the invocation request, API Gateway returns
            # a 500 error code": https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html
            # "My API with a Lambda integration returns {"message":"Internal Server Error"}" (for function
            # errors too): https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html
            # The 503 {"message":"Service Unavailable"} at the timeout is what users report, no AWS page
            # says it: https://github.com/serverless/serverless/issues/11222
            return *aws_error(503 if isinstance(e, InvocationError) and e.timed_out else 500), name

    def send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if status in (204, 304) or status < 200:
            data = b""
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
