"""The Lambda Runtime API the function instances talk to, one base path per instance:
/fn/<instance-id>/2018-06-01/runtime/... (next invocation, response, error, init error), and what
any Runtime API says (dev/bench_cold.py's too)."""
from __future__ import annotations

import base64
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .common import ACCOUNT, REGION
from .pool import RESPONSE_LIMIT, Invocation
from .server import read_body
from .traces import mint_header

if TYPE_CHECKING:
    from .server import QuietServer


def streamed_to_v2(raw: bytes) -> bytes:
    """A streaming-mode response (JSON prelude, 8 NULs, body) as a buffered v2 response."""
    prelude, sep, payload = raw.partition(b"\0" * 8)
    if not sep:
        return raw
    meta = json.loads(prelude or b"{}")
    return json.dumps({"statusCode": meta.get("statusCode", 200), "headers": meta.get("headers") or {},
                       "cookies": meta.get("cookies") or [], "isBase64Encoded": True,
                       "body": base64.b64encode(payload).decode()}).encode()


class RuntimeApi(BaseHTTPRequestHandler):
    """What any Lambda Runtime API says: the next invocation (its headers as Lambda sends them) and
    JSON replies. The stack's serves its instances; dev/bench_cold.py's times one instance."""

    protocol_version = "HTTP/1.1"
    ACTION = re.compile(r"(?:/fn/([^/]+))?/2018-06-01/runtime/(.+)")

    def log_message(self, *args: Any) -> None:
        pass

    def send_invocation(self, request_id: str, payload: bytes, timeout: float, function: str,
                        trace_header: str | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + timeout) * 1000)))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
        self.send_header("Lambda-Runtime-Trace-Id", trace_header or mint_header(0))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def reply(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class RuntimeApiHandler(RuntimeApi):
    """The stack's Runtime API, one base path per instance: /fn/<instance-id>/2018-06-01/runtime/..."""

    server: "QuietServer"

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        body = read_body(self, 64 * 1024 * 1024) or b""  # always drain it: keep-alive
        m = self.ACTION.fullmatch(self.path)
        inst = self.server.stack.runtime_instances.get(m.group(1)) if m and m.group(1) else None
        if inst is None:
            return self.reply(404, {"errorType": "InvalidInstance", "errorMessage": self.path})
        action, pool = m.group(2), inst.pool
        if self.command == "GET" and action == "invocation/next":
            return self.send_next(pool.next_invocation(inst))
        done = re.fullmatch(r"invocation/([^/]+)/(response|error)", action)
        if self.command == "POST" and done:
            if done.group(2) == "response" and len(body) > RESPONSE_LIMIT:
                # Lambda refuses it to the runtime and fails the invocation (a function error).
                too_large = {"errorMessage": f"Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",
                             "errorType": "RequestEntityTooLarge"}
                if pool.complete(inst, done.group(1), json.dumps(too_large).encode(), failed=True):
                    return self.reply(413, too_large)
            if self.headers.get("Lambda-Runtime-Function-Response-Mode", "").lower() == "streaming":
                body = streamed_to_v2(body)
            if pool.complete(inst, done.group(1), body, failed=done.group(2) == "error"):
                return self.reply(202, {"status": "OK"})
            return self.reply(400, {"errorType": "InvalidRequestID", "errorMessage": done.group(1)})
        if self.command == "POST" and action == "init/error":
            pool.init_error(inst, body)
            return self.reply(202, {"status": "OK"})
        self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})

    def send_next(self, inv: Invocation | None) -> None:
        if inv is None:  # instance killed or stack closing
            self.close_connection = True
            return self.reply(410, {"errorType": "Gone", "errorMessage": "instance stopped"})
        stack = self.server.stack
        self.send_invocation(inv.id, inv.payload, inv.instance.pool.spec.timeout, inv.instance.pool.spec.binary,
                             mint_header(stack.trace_sample_rate, inv.payload))
