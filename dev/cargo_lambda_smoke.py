#!/usr/bin/env python3
"""The README's `cargo lambda watch` path, as a user follows it: a local stack on $AWS_ENDPOINT_URL
(moto) writes the functions' environment (--write-env-file, as dev/up does), `cargo lambda watch
--env-file` serves the function binaries with it, and `cargo lambda invoke --data-file events/...`
invokes create-market, get-market (on the market just created) and the index worker (on its job,
which must put the market into the vector index).
Each answer is checked; any other answer, or a step that does not finish in its time, fails.

    AWS_ENDPOINT_URL=http://127.0.0.1:PORT dev/.venv/bin/python dev/cargo_lambda_smoke.py

cargo-lambda comes from pip (dev/requirements.txt installs it into dev/.venv/bin)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from sim.common import DEV_JWT_SECRET, REGION, REPO
from sim.harness import StackDidNotStart, local_stack
from sim.processes import free_port, stop_processes, wait_for_port

VENV_BIN = REPO / "dev/.venv/bin"


class SmokeError(Exception):
    pass


def invoke(port: int, function: str, event: dict, sample: str) -> dict:
    """`cargo lambda invoke` of one function with one event; its answer, parsed."""
    command = ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(port), function,
               "--data-ascii", json.dumps(event), "--output-format", "json"]
    # The first invocation of a function builds it (cargo lambda watch compiles on demand).
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    if done.returncode != 0:
        raise SmokeError(f"cargo lambda invoke {function} failed: {done.stderr.strip()[-2000:]}")
    print(f"$ cargo lambda invoke {function} ({sample})\n{done.stdout.strip()}", flush=True)
    return json.loads(done.stdout)


def sample(name: str) -> dict:
    return json.loads((REPO / "events" / f"{name}.json").read_text(encoding="utf-8"))


def smoke(env_file: Path, log: Path) -> None:
    port = free_port()
    # Its own session, so stopping it stops the functions it runs too; their logs go to `log`.
    with open(log, "wb") as out:
        watch = subprocess.Popen(["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(port),
                                  "--env-file", str(env_file)], cwd=REPO, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"})
    try:
        if not wait_for_port("127.0.0.1", port, 120, watch):
            raise SmokeError(f"cargo lambda watch did not listen on {port}")
        created = invoke(port, "create-market", sample("create-market"), "events/create-market.json")
        body = json.loads(created["body"])
        if created.get("statusCode") != 201 or not body.get("success"):
            raise SmokeError(f"create-market answered {created}")
        market = body["data"]
        event = sample("get-market")
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/api/markets/{market['id']}"
        event["pathParameters"]["id"] = market["id"]
        got = invoke(port, "get-market", event, "events/get-market.json, for the market just created")
        if got.get("statusCode") != 200 or json.loads(got["body"])["data"]["name"] != market["name"]:
            raise SmokeError(f"get-market answered {got}")
        job = sample("index-worker")
        record = job["Records"][0]
        record["body"] = json.dumps({**json.loads(record["body"]), "marketId": market["id"],
                                     "version": market["version"]})
        indexed = invoke(port, "index-worker", job, "events/index-worker.json, a job for the market just created")
        if indexed.get("batchItemFailures") != []:
            raise SmokeError(f"index-worker answered {indexed}")
        index_arn = dict(line.split("=", 1) for line in env_file.read_text().splitlines())["VECTOR_INDEX_ARN"]
        vectors = boto3.client("s3vectors", region_name=REGION).get_vectors(
            indexArn=index_arn, keys=[market["id"]], returnMetadata=True)["vectors"]
        if [v["key"] for v in vectors] != [market["id"]]:
            raise SmokeError(f"the index worker answered but the market is not in the index: {vectors}")
    finally:
        stop_processes([watch], grace=10)


def main() -> int:
    if "AWS_ENDPOINT_URL" not in os.environ:
        print("cargo_lambda_smoke: set AWS_ENDPOINT_URL to a running moto (dev/test does)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        env_file, log = Path(tmp) / "lambda.env", Path(tmp) / "watch.log"
        # The stack as dev/up runs it (its resources and the env file), on a port of its own; the
        # events' token is signed with the dev secret.
        try:
            with local_stack(f"cl{os.getpid()}", "--write-env-file", str(env_file), secret=DEV_JWT_SECRET):
                smoke(env_file, log)
        except (SmokeError, StackDidNotStart, subprocess.TimeoutExpired) as e:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
            tail = "\n".join(lines)[-6000:]
            print(f"cargo lambda watch's warnings and errors:\n{tail}\ncargo lambda smoke test FAILED: {e}",
                  file=sys.stderr)
            return 1
    print("cargo lambda smoke test: create-market 201, get-market 200 (the same market), index-worker no failures "
          "and the market in the vector index")
    return 0


if __name__ == "__main__":
    sys.exit(main())
