#!/usr/bin/env python3
"""Scale check on the local stack (not part of dev/test; it takes minutes).

    dev/scale-check [--markets 20000] [--pages 50]

Starts moto and a local stack of its own, seeds 10 markets and measures a list page, a page deep in
a cursor walk, an offset page and a search; then seeds up to --markets and measures the same
requests again. Each request's DynamoDB and S3 Vectors calls come from its own log line (the
per-request call log), so the check proves that no request makes more calls with 20,000 markets
than with 10: a list page is one Query per shard and one BatchGetItem, a search one QueryVectors
and one BatchGetItem. Latencies are the local stack's (moto's and the Python gateway's), not AWS's.
Exits non-zero if a request makes more calls than that.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sim.common import REPO
from sim.harness import local_stack, request_log
from sim.processes import free_port

SHARDS = 8  # template.yaml's WriteShards default, which this stack runs with


@contextmanager
def own_stack(prefix: str) -> Iterator[Stack]:
    """A local stack on a moto of its own (started by the stack, on a port we know: the seeder needs it)."""
    port, log_file = free_port(), REPO / f"target/{prefix}.log"
    with local_stack(prefix, "--moto-port", str(port), log_file=log_file,
                     process_env={k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"},
                     # moto answers a Query by reading every item of the table: give it the time.
                     env={"RATE_LIMIT_PER_MINUTE": "1000000000", "CACHE_TTL_SECONDS": "0",
                          "SDK_TIMEOUT_SCALE": "4"}) as url:
        yield Stack(prefix, f"http://127.0.0.1:{port}", url, log_file)


@dataclass
class Stack:
    prefix: str
    endpoint: str
    url: str
    log_file: Path

    def seed(self, count: int) -> float:
        started = time.monotonic()
        subprocess.run([str(REPO / "dev/seed"), str(count)], check=True,
                       env={**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "PREFIX": self.prefix})
        return time.monotonic() - started

    def get(self, path: str) -> tuple[dict, dict]:
        """The response body and the request's own log line, with the request's call budget: the
        rate limiter's UpdateItem, then a list page is one Query per shard, a search one
        QueryVectors, and then one BatchGetItem per 100 keys (the page's markets and their
        creators: one call up to 50 markets)."""
        started = time.monotonic()
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            body, request_id = json.load(response), response.headers["x-request-id"]
        elapsed_ms = (time.monotonic() - started) * 1000
        markets = body["data"]
        keys = len(markets) + len({market["creatorId"] for market in markets})
        budget = 1 + (1 if "/search" in path else SHARDS) + -(-keys // 100)
        log = request_log(self.log_file, request_id)
        if log is None:
            sys.exit(f"no log line for request {request_id} of {path}")
        return body, {**log, "client_ms": elapsed_ms, "budget": budget}


def calls(log: dict) -> str:
    ops = [op for op in (log.get("dynamodb_ops"), log.get("vector_ops")) if op]
    return ",".join(ops)


def count_calls(log: dict) -> int:
    return sum(len(op.split(",")) for op in (log.get("dynamodb_ops"), log.get("vector_ops")) if op)


def measure(stack: Stack, pages: int, repeat: int = 5) -> dict[str, tuple[int, str, float, bool]]:
    """Per probe: the most calls any run made, those calls, the median latency (ms), and whether
    every run kept to its budget."""
    probes = {
        "list page (newest first, limit 20)": lambda: stack.get("/api/markets?limit=20")[1],
        "list page (status=active by volume, limit 100)":
            lambda: stack.get("/api/markets?status=active&sort=volume&limit=100")[1],
        "offset page (offset=1000, limit 100, by name)":
            lambda: stack.get("/api/markets?sort=name&order=asc&offset=1000&limit=100")[1],
        "search (limit 10)": lambda: stack.get("/api/markets/search?q=rain%20in%20Paris&limit=10")[1],
    }
    results = {}
    for name, probe in probes.items():
        logs = [probe() for _ in range(repeat)]
        worst = max(logs, key=count_calls)
        results[name] = (count_calls(worst), calls(worst), statistics.median(log["latency_ms"] for log in logs),
                         all(count_calls(log) <= log["budget"] for log in logs))
    # A cursor walk: every page of it, down to `pages` pages deep.
    logs, cursor = [], None
    for _ in range(pages):
        body, log = stack.get("/api/markets?sort=volume&limit=20" + (f"&cursor={cursor}" if cursor else ""))
        logs.append(log)
        cursor = body["meta"]["nextCursor"]
        if not cursor:
            break
    worst = max(logs, key=count_calls)
    results[f"cursor walk by volume, pages 1..{pages} or to its end (limit 20)"] = (
        count_calls(worst), calls(worst), statistics.median(log["latency_ms"] for log in logs),
        all(count_calls(log) <= log["budget"] for log in logs))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markets", type=int, default=20000)
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--quiet", "-p", "functions", "-p", "dev"], check=True, cwd=REPO)
    with own_stack(f"scale{int(time.time())}") as stack:
        stack.seed(10)
        small = measure(stack, args.pages)
        took = stack.seed(args.markets - 10)
        print(f"seeded {args.markets - 10} more markets in {took:.0f} s ({(args.markets - 10) / took:.0f}/s)")
        large = measure(stack, args.pages)
    print(f"\n| request | calls, 10 markets | calls, {args.markets} markets | calls made | "
          f"median ms, 10 | median ms, {args.markets} |")
    print("|---|---|---|---|---|---|")
    failed = False
    for (name, (few, _, few_ms, few_ok)), (_, (many, made, many_ms, many_ok)) in zip(small.items(), large.items()):
        print(f"| {name} | {few} | {many} | {made} | {few_ms:.0f} | {many_ms:.0f} |")
        failed |= not (few_ok and many_ok)
    if failed:
        print("FAILED: a request made more calls than its budget", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
