#!/usr/bin/env python3
"""Latency and throughput of the API on the local stack, route by route.

    dev/bench [--requests 200] [--concurrency 8]

Starts its own local stack (dev/local.py, with its own moto), creates markets through the API, then
times each scenario and prints p50/p95/p99 latency and requests per second. The figures measure this
code path on this machine (moto answers a few hundred calls a second), not AWS: use them to compare
changes, not to size production.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def token(sub: str) -> str:
    out = subprocess.run(["cargo", "run", "-q", "-p", "dev", "--bin", "mint-token", "--", "--sub", sub],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def call(base: str, method: str, path: str, body: dict | None = None, auth: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("content-type", "application/json")
    if auth:
        request.add_header("authorization", f"Bearer {auth}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, {}


def measure(name: str, requests: int, concurrency: int, one) -> None:
    def timed(i: int) -> float:
        started = time.perf_counter()
        status = one(i)
        assert status < 400, f"{name}: HTTP {status}"
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(timed, range(requests)))
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    print(f"{name:<28} p50 {q[49]:7.1f} ms   p95 {q[94]:7.1f} ms   p99 {q[98]:7.1f} ms   {requests / elapsed:7.1f} req/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    stack = subprocess.Popen(
        [sys.executable, str(REPO / "dev/local.py"), "serve", "--port", "0", "--prefix", f"bench{os.getpid()}",
         "--quiet", "--exit-with-stdin", "--max-instances", str(args.concurrency),
         "--env", "RATE_LIMIT_PER_MINUTE=100000000"],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = stack.stdout.readline().strip().removeprefix("Markets API listening on ")
        alice = token("bench-alice")
        ids: list[str] = []

        def create(i: int) -> int:
            status, body = call(base, "POST", "/api/markets", {"name": f"Will benchmark market {i} rise?"}, alice)
            ids.append(body["data"]["id"])
            return status

        print(f"{args.requests} requests per scenario, {args.concurrency} at a time, against {base}")
        measure("POST /api/markets", args.requests, args.concurrency, create)
        measure("GET /api/markets/{id}", args.requests, args.concurrency,
                lambda i: call(base, "GET", f"/api/markets/{ids[i % len(ids)]}")[0])
        measure("GET /api/markets?limit=20", args.requests, args.concurrency,
                lambda i: call(base, "GET", "/api/markets?limit=20")[0])
        measure("POST .../positions", args.requests, args.concurrency,
                lambda i: call(base, "POST", f"/api/markets/{ids[0]}/positions", {"outcome": "yes", "amount": 1.5}, alice)[0])
        measure("GET /api/markets/search", args.requests, args.concurrency,
                lambda i: call(base, "GET", "/api/markets/search?q=benchmark%20rise&limit=10")[0])
        measure("GET /api/health", args.requests, args.concurrency, lambda i: call(base, "GET", "/api/health")[0])
    finally:
        stack.stdin.close()
        stack.wait(timeout=15)


if __name__ == "__main__":
    main()
