#!/usr/bin/env python3
"""Latency and throughput of the API on the local stack, route by route.

    dev/bench [--requests 200] [--concurrency 8] [--hot 20] [--no-cache]

Starts its own local stack (dev/local.py, with its own moto and cache server), creates markets
through the API, then times each scenario and prints p50/p95/p99 latency and requests per second.
GET /api/markets/{id} reads the --hot newest markets over and over, and the shared cache's hit ratio
and the DynamoDB calls per GET are read from the functions' request logs; --no-cache runs the stack
without the cache, to compare. The figures measure this code path on this machine (moto answers a few
hundred calls a second), not AWS: use them to compare changes, not to size production.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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
    parser.add_argument("--hot", type=int, default=20, help="how many markets the GET scenario reads (default 20)")
    parser.add_argument("--no-cache", action="store_true", help="run the stack without the shared cache")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    log_file = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False).name
    stack = subprocess.Popen(
        [sys.executable, str(REPO / "dev/local.py"), "serve", "--port", "0", "--prefix", f"bench{os.getpid()}",
         "--quiet", "--exit-with-stdin", "--max-instances", str(args.concurrency), "--log-file", log_file,
         "--env", "RATE_LIMIT_PER_MINUTE=100000000"] + (["--no-cache"] if args.no_cache else []),
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
        hot = ids[-max(1, args.hot):]
        measure("GET /api/markets/{id}", args.requests, args.concurrency,
                lambda i: call(base, "GET", f"/api/markets/{hot[i % len(hot)]}")[0])
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
    cache_report(log_file, args.no_cache)
    os.unlink(log_file)


def cache_report(log_file: str, no_cache: bool) -> None:
    """The shared cache's hit ratio and the DynamoDB calls per GET of one market, from the request logs."""
    gets = []
    with open(log_file, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "request" and entry.get("route") == "GET /api/markets/{id}":
                gets.append(entry)
    if not gets:
        return
    hits = sum(1 for g in gets if g.get("cache_hit") is True)
    calls = sum(g.get("dynamodb_calls", 0) for g in gets)
    cache = "off" if no_cache else f"hit ratio {hits / len(gets):.1%} ({hits} of {len(gets)})"
    print(f"GET /api/markets/{{id}}: cache {cache}, {calls / len(gets):.2f} DynamoDB calls per GET")


if __name__ == "__main__":
    main()
