#!/usr/bin/env python3
"""The typed TypeScript client (clients/typescript) against openapi.yaml and a local stack.

    dev/client-test

Fails when the committed types are stale (openapi-typescript run again into a temporary file differs
from clients/typescript/src/schema.d.ts), type-checks the client and its scenario with `tsc --strict`,
then runs the scenario (clients/typescript/scenario.ts) with node against a local stack of its own,
started with a low rate limit so that a 429 is reachable. Prints the scenario's steps and its last
line, `typescript client: N passed, M failed`; exits with the scenario's status.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from sim.harness import REPO, mint_token, run_on_stack

CLIENT = REPO / "clients/typescript"
# Above what the scenario's user sends in a minute (about 12 requests), low enough to reach quickly.
RATE_LIMIT = 30


def run(*command: str) -> None:
    subprocess.run(command, cwd=CLIENT, check=True)


def types_are_current() -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "schema.d.ts"
        subprocess.run(["node_modules/.bin/openapi-typescript", "../../openapi.yaml", "--default-non-nullable", "false",
                        "-o", str(fresh)], cwd=CLIENT, check=True, capture_output=True)
        diff = subprocess.run(["diff", "-u", "src/schema.d.ts", str(fresh)], cwd=CLIENT, capture_output=True, text=True)
    if diff.returncode != 0:
        print(diff.stdout[:4000], file=sys.stderr)
        print("dev/client-test: clients/typescript/src/schema.d.ts is stale against openapi.yaml: "
              "run `npm run generate` in clients/typescript and commit it", file=sys.stderr)
        return False
    return True


def main() -> int:
    if not types_are_current():
        return 1
    run("node_modules/.bin/tsc", "--strict", "-p", ".")
    log = REPO / "target/client-test/functions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    tokens = {
        "USER_TOKEN": mint_token("client-user", "user", "Client User"),
        "ADMIN_TOKEN": mint_token("client-admin", "admin", "Client Admin"),
        "BURST_TOKEN": mint_token("client-burst", "user", "Client Burst"),
    }
    return run_on_stack("dev/client-test", "ts", log, {"RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)},
                        ["node", "dist/scenario.js"], CLIENT, {**tokens, "RATE_LIMIT": str(RATE_LIMIT)})

if __name__ == "__main__":
    sys.exit(main())
