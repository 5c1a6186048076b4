#!/usr/bin/env python3
"""Headless Chromium against a local stack of its own: the docs page and CORS as a browser sees them.

    dev/browser-test

Starts a stack whose CorsAllowedOrigins is one origin (a page server on a free port), mints a user's
token, and runs dev/npm/browser-check.mjs (playwright-core driving Debian's /usr/bin/chromium): the
docs page renders every operation of openapi.yaml (screenshot: target/browser/docs.png); from the
allowed origin a preflighted POST with an Idempotency-Key, a GET reading ETag and x-request-id, a
PATCH with If-Match; from another origin, a call the browser blocks. Exits with the checks' status.
"""
from __future__ import annotations

import shutil
import sys

import yaml
from sim.harness import REPO, mint_token, run_on_stack
from sim.processes import free_port

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    if not shutil.which(CHROMIUM):
        print(f"dev/browser-test: no {CHROMIUM}: install Debian's chromium (see the README)", file=sys.stderr)
        return 1
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    operations = [operation["operationId"] for item in spec["paths"].values()
                  for key, operation in item.items() if key != "parameters"]
    report = REPO / "target/browser"
    report.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = mint_token("browser-user", "user", "Browser User")
    return run_on_stack(
        "dev/browser-test", "br", report / "functions.log", {"RATE_LIMIT_PER_MINUTE": "100000"},
        ["node", str(REPO / "dev/npm/browser-check.mjs")], REPO,
        {"TOKEN": token, "ALLOWED_ORIGIN_PORT": str(port), "SCREENSHOT": str(report / "docs.png"),
         "OPERATIONS": ",".join(operations), "CHROMIUM": CHROMIUM},
        {"CorsAllowedOrigins": f"http://127.0.0.1:{port}"})

if __name__ == "__main__":
    sys.exit(main())
