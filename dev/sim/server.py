"""HTTP plumbing the gateway and the Runtime API share: a threaded server that stays quiet about
dropped connections, and reading a request body (Content-Length or chunked) with a size limit."""
from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stack import Stack

# An HTTP API's payload quota: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
MAX_BODY = 10 * 1024 * 1024


def read_body(handler: BaseHTTPRequestHandler, limit: int = MAX_BODY) -> bytes | None:
    """The request body (Content-Length or chunked), or None when the request has none."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks, total = [], 0
        while True:
            size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                raise OverflowError
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(16)
    length = handler.headers.get("Content-Length")
    if length is None:
        return None
    if not length.strip().isdigit():
        raise ValueError(f"bad Content-Length {length!r}")
    if int(length) > limit:
        raise OverflowError
    return handler.rfile.read(int(length))


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # tests fire up to 100 concurrent connections
    stack: "Stack"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
