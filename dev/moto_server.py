#!/usr/bin/env python3
"""moto's server, made as atomic as DynamoDB.

moto handles requests on parallel threads, so two conditional writes to one item can both pass their
condition (DynamoDB never lets that happen). Here DynamoDB requests run one at a time; SQS requests
stay parallel, since a long poll holds its request open for seconds.

    python dev/moto_server.py [--host 127.0.0.1] [--port 4566] [--exit-with-stdin]

--exit-with-stdin: exit when stdin closes, so a parent that dies (even by SIGKILL) never leaves
this server behind.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class OneDynamoDBRequestAtATime:
    """WSGI middleware: DynamoDB's item-level atomicity, the simple way (a global lock)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))  # the whole response, inside the lock


def exit_when_stdin_closes() -> None:
    while os.read(0, 65536):
        pass
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--exit-with-stdin", action="store_true")
    args = parser.parse_args()
    if args.exit_with_stdin:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    sys.exit(main())
