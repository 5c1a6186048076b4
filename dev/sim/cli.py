"""The command line: `serve` parses its options, checks the template and the binaries, binds the
gateway's port, starts the stack and runs until Ctrl-C, SIGTERM or (--exit-with-stdin) stdin EOF."""
from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from . import __doc__ as package_doc
from .common import REPO, TOKEN_SECRET, StartupError, log
from .functions import default_bin_dir, discover_functions
from .gateway import GatewayHandler
from .server import QuietServer
from .stack import Stack
from .template import Resolver, load_template, parameter_values
from .traces import print_where


def key_values(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StartupError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=package_doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API locally until Ctrl-C")
    serve.add_argument("--port", type=int, default=3000, help="HTTP port (0 = any free port; default 3000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--endpoint", help="running DynamoDB/SQS endpoint (default $AWS_ENDPOINT_URL, "
                                          "else start a moto server)")
    serve.add_argument("--moto-port", type=int, default=0,
                       help="port of the moto server started here (default: any free port)")
    cache = serve.add_mutually_exclusive_group()
    cache.add_argument("--cache-endpoint", help="running cache server for the functions (redis://HOST:PORT); "
                                                "default: start one here")
    cache.add_argument("--no-cache", action="store_true", help="run the functions without the shared cache")
    serve.add_argument("--cache-port", type=int, default=0,
                       help="port of the cache server started here (default: any free port)")
    serve.add_argument("--prefix", default="local", help="resource names are <prefix>-<LogicalId>")
    serve.add_argument("--template", default=str(REPO / "template.yaml"))
    serve.add_argument("--bin-dir", help="where the function binaries are (default: debug/ in cargo's target "
                                         "directory, as `cargo metadata` gives it)")
    serve.add_argument("--env", action="append", default=[], metavar="K=V", help="extra function env (repeatable)")
    serve.add_argument("--param", action="append", default=[], metavar="K=V", help="template parameter value")
    serve.add_argument("--secret", action="append", default=[], metavar="LOGICAL_ID=VALUE",
                       help=f"value of a template secret (default: the dev token secret for {TOKEN_SECRET}, "
                            "else generated)")
    serve.add_argument("--max-instances", type=int, default=4, help="concurrent instances per function")
    serve.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin reaches EOF")
    serve.add_argument("--schedule-seconds", type=float, default=0,
                       help="run Schedule events this often instead of their rate (e.g. 2, for quick local retries)")
    serve.add_argument("--without-permission", action="append", metavar="BINARY=ACTION",
                       default=[v for v in os.environ.get("LOCAL_WITHOUT_PERMISSION", "").split() if v],
                       help="take ACTION (e.g. dynamodb:ConditionCheckItem) out of that function's role, to see "
                            "what needs it (default: $LOCAL_WITHOUT_PERMISSION, space-separated)")
    serve.add_argument("--write-env-file", metavar="PATH",
                       help="write every function's environment (one KEY=VALUE a line) for `cargo lambda watch "
                            "--env-file`")
    serve.add_argument("--quiet", action="store_true", help="don't echo function logs to stderr")
    serve.add_argument("--log-file", help="append all function output to this file")
    serve.add_argument("--traces-file", help="append the trace documents the functions send to this file "
                       "(default: target/traces/<prefix>.jsonl; read it with dev/traces)")
    return parser.parse_args(argv)


def bind_gateway(host: str, port: int) -> QuietServer:
    try:
        return QuietServer((host, port), GatewayHandler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise StartupError(f"Port {port} is already in use: is the local stack already running? "
                               "(stop it, or pass --port)") from e
        raise StartupError(f"cannot listen on {host}:{port}: {e.strerror}") from e


def check_port_free(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StartupError(f"Port {port} (for moto) is already in use: is a moto server or another "
                               "local stack running? (stop it, or pass --moto-port)") from None


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def prepare(args: argparse.Namespace, every_binary: bool = True) -> tuple[Stack, QuietServer]:
    """The stack `serve` arguments describe, not started yet, and its gateway's port, bound. Unless
    not `every_binary` (dev/bench_cold.py builds a few), every function's binary must be there."""
    args.env = key_values(args.env, "--env")
    args.secret = key_values(args.secret, "--secret")
    args.without_permission = key_values(args.without_permission, "--without-permission")
    template = load_template(Path(args.template))
    resolver = Resolver(template, parameter_values(template, key_values(args.param, "--param")), args.prefix)
    functions = discover_functions(template, resolver)
    args.bin_dir = args.bin_dir or str(default_bin_dir())
    missing = [fn.binary for fn in functions if not os.access(Path(args.bin_dir) / fn.binary, os.X_OK)]
    if missing and every_binary:
        raise StartupError(f"missing function binaries in {args.bin_dir}: {', '.join(missing)}. "
                           "Build them first: cargo build -p functions")
    gateway = bind_gateway(args.host, args.port)  # before starting anything: fail fast if taken
    if args.moto_port and not (args.endpoint or os.environ.get("AWS_ENDPOINT_URL")):
        check_port_free(args.moto_port)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "test")  # moto accepts anything; boto3 needs something
    return Stack(args, resolver, functions), gateway


def serve(args: argparse.Namespace) -> int:
    stack, gateway = prepare(args)
    stop_requested = threading.Event()
    # Explicit handlers: SIGINT is ignored by default in background jobs, and SIGTERM must clean up too.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start(gateway)
        stack.describe()
        host, port = gateway.server_address[:2]
        print(f"Markets API listening on http://{host}:{port}", flush=True)
        print(f"DynamoDB endpoint: {stack.endpoint}{' (moto, started here)' if stack.moto else ''}"
              f" - resource prefix {args.prefix}-", flush=True)
        print(f"Cache: {stack.cache_endpoint + (' (started here)' if stack.cache else '') or 'off'}", flush=True)
        print_where(stack.traces.path)
        if TOKEN_SECRET in stack.secret_values:
            print(f"JWT secret (dev, in {stack.resolver.local_name(TOKEN_SECRET)}): {stack.secret_values[TOKEN_SECRET]}",
                  flush=True)
            print("Mint a token: cargo run -q -p dev --bin mint-token -- --sub alice --role user", flush=True)
        if args.exit_with_stdin:
            threading.Thread(target=lambda: (wait_for_eof(0), stop_requested.set()), daemon=True).start()
        # Wake up regularly: a signal's handler only runs when the main thread executes bytecode,
        # and a bare Event.wait() can sleep through SIGTERM.
        while not stop_requested.wait(0.25):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not orphan children
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("stopping")
        stack.stop()
    return 0


def wait_for_eof(fd: int) -> None:
    """Reads the raw fd (not sys.stdin, whose buffer lock breaks interpreter shutdown) until EOF."""
    while os.read(fd, 65536):
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return serve(args)
    except StartupError as e:
        print(e, file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
