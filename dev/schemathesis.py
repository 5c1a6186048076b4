#!/usr/bin/env python3
"""Schemathesis against a local stack: openapi.yaml checked against what the API really does.

    dev/schemathesis [extra `st run` options]

Validates openapi.yaml as an OpenAPI 3.1 document, starts a local stack (dev/local.py; on
$AWS_ENDPOINT_URL's moto when set, as in dev/test, else on a moto of its own), checks that it serves
openapi.yaml as it is in the repository, mints an admin token (admin may do everything, so few
requests end in 403), and runs `st run` with dev/schemathesis.toml: every phase (examples, coverage,
fuzzing, and stateful sequences that follow the spec's links), 100 examples per operation, a fixed
seed, and the contract's checks (no 5xx; status codes, content types, headers and bodies as
documented). Prints the run's numbers last and exits with Schemathesis' status.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openapi_spec_validator
import yaml
from sim.harness import REPO, StackDidNotStart, mint_token, tool_stack


def main() -> int:
    # A valid OpenAPI 3.1 document first: Schemathesis itself reads past many mistakes.
    openapi_spec_validator.validate(yaml.safe_load((REPO / "openapi.yaml").read_text()))
    report = REPO / "target/schemathesis"
    report.mkdir(parents=True, exist_ok=True)
    events, functions_log = report / "events.ndjson", report / "functions.log"
    for stale in (events, functions_log):
        stale.unlink(missing_ok=True)
    try:
        with tool_stack("st", functions_log, {"RATE_LIMIT_PER_MINUTE": "100000000"}) as base:
            return check(base, events, functions_log)
    except StackDidNotStart as error:
        print(f"dev/schemathesis: {error}", file=sys.stderr)
        return 1


def check(base: str, events: Path, functions_log: Path) -> int:
    """Schemathesis against the stack at `base`, once it serves this openapi.yaml."""
    with urllib.request.urlopen(f"{base}/api/openapi.yaml") as response:
        if response.read() != (REPO / "openapi.yaml").read_bytes():
            print("dev/schemathesis: GET /api/openapi.yaml is not openapi.yaml (rebuild the functions)",
                  file=sys.stderr)
            return 1
    started = time.monotonic()
    # The repository's file, not the URL: Schemathesis skips the operation that serves the
    # document it was loaded from, and the two are the same bytes (checked above).
    token = mint_token("schemathesis", "admin", "Schemathesis")
    command = [str(REPO / "dev/.venv/bin/st"), "--config-file", str(REPO / "dev/schemathesis.toml"), "run",
               str(REPO / "openapi.yaml"), "--url", base, "--header", f"Authorization: Bearer {token}",
               "--no-color", "--report", "ndjson", "--report-ndjson-path", str(events), *sys.argv[1:]]
    status = subprocess.run(command, cwd=REPO).returncode
    print(f"dev/schemathesis: {summary(events)}, in {time.monotonic() - started:.0f} s "
          f"(function logs: {functions_log})", flush=True)
    return status


def summary(events: Path) -> str:
    """The numbers of a run from Schemathesis' event log: operations, cases per phase, stateful
    sequences, checks and failed checks."""
    if not events.exists():
        return "no event log"
    operations: set[str] = set()
    cases: dict[str, int] = {}
    sequences = checks = failed = 0
    for line in events.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario or scenario["status"] == "skip":
            continue
        recorder, phase = scenario["recorder"], scenario["phase"]
        if phase == "stateful":
            sequences += 1
        else:
            operations.add(recorder["label"])
        cases[phase] = cases.get(phase, 0) + len(recorder.get("cases", {}))
        results = [check for case in recorder.get("checks", {}).values() for check in case]
        checks += len(results)
        failed += sum(check["status"] == "failure" for check in results)
    per_phase = ", ".join(f"{phase} {count}" for phase, count in cases.items())
    return (f"{len(operations)} operations, {sum(cases.values())} cases ({per_phase}), "
            f"{sequences} stateful sequences, {checks} checks, {failed} failed")


if __name__ == "__main__":
    sys.exit(main())
