"""A local stack of a test run's own, and tokens for it: what dev/schemathesis.py,
dev/client_test.py and dev/soak.py share.

The stack is dev/local.py's (on $AWS_ENDPOINT_URL's moto when set, as in dev/test, else on a moto of
its own), with the JWT secret given and, as the black-box tests' stacks, cache and SDK timeouts for
moto on a loaded machine, so that a slow emulator is not taken for an outage (a 503).
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class StackDidNotStart(Exception):
    pass


@contextmanager
def local_stack(name: str, jwt_secret: str, log_file: Path, env: dict[str, str],
                params: dict[str, str] | None = None) -> Iterator[str]:
    """Starts a stack with tables of its own (prefix `name` + pid), the functions' environment `env`
    and template parameters `params`, and yields its base URL; stops everything it started on the
    way out."""
    env = {"CACHE_TIMEOUT_MS": "1000", "SDK_TIMEOUT_SCALE": "10", **env}
    stack = subprocess.Popen(
        [sys.executable, str(REPO / "dev/local.py"), "serve", "--port", "0", "--prefix", f"{name}{os.getpid()}",
         "--quiet", "--exit-with-stdin", "--log-file", str(log_file), "--secret", f"JwtSecret={jwt_secret}",
         *(argument for key, value in env.items() for argument in ("--env", f"{key}={value}")),
         *(argument for key, value in (params or {}).items() for argument in ("--param", f"{key}={value}"))],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first_line = stack.stdout.readline().strip()
        if not first_line.startswith("Markets API listening on "):
            raise StackDidNotStart(f"the local stack did not start: {first_line!r}")
        yield first_line.removeprefix("Markets API listening on ")
    finally:
        stack.stdin.close()  # --exit-with-stdin: the stack stops everything it started
        stack.wait(timeout=30)


def mint_token(jwt_secret: str, sub: str, role: str, name: str) -> str:
    """A token valid for an hour, signed with the stack's secret (the dev crate's mint-token)."""
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "dev", "--bin", "mint-token", "--",
         "--sub", sub, "--role", role, "--name", name, "--ttl", "3600"],
        cwd=REPO, env={**os.environ, "JWT_SECRET": jwt_secret}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_on_stack(tool: str, name: str, jwt_secret: str, log_file: Path, stack_env: dict[str, str],
                 command: list[str], cwd: Path, env: dict[str, str], params: dict[str, str] | None = None) -> int:
    """Runs `command` against a stack of its own (`local_stack`), with the stack's URL in
    MARKETS_API_URL and `env`: its exit status, or 1 (said on stderr, as `tool`) when the stack did
    not start."""
    try:
        with local_stack(name, jwt_secret, log_file, stack_env, params) as base:
            return subprocess.run(command, cwd=cwd, env={**os.environ, **env, "MARKETS_API_URL": base}).returncode
    except StackDidNotStart as error:
        print(f"{tool}: {error}", file=sys.stderr)
        return 1
