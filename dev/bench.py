#!/usr/bin/env python3
"""Latency and throughput of the API on the local stack, route by route.

    dev/bench [--requests 200] [--concurrency 8] [--hot 20] [--no-cache]

Starts its own local stack (dev/local.py, with its own moto and cache server), creates markets
through the API, then times each scenario and prints p50/p95/p99 latency and requests per second.
GET /api/markets/{id} reads the --hot newest markets over and over, and the shared cache's hit ratio
and the DynamoDB calls per GET are read from the functions' request logs; --no-cache runs the stack
without the cache, to compare. The figures measure this code path on this machine (moto answers a few
hundred calls a second), not AWS: use them to compare changes, not to size production.

--aws-latency 10ms puts moto behind dev/tls_front.py (HTTPS, as AWS) holding every AWS call that
long, and runs every scenario twice, at no added latency and at 10 ms: per route, p50/p99 at both,
the sequential round trips the difference implies ((p50 at L - p50 at 0) / L) and, beside them,
the DynamoDB calls per request from the request log lines. Read the round trips at --concurrency 1
(queueing adds to the p50 at L otherwise). The shared cache is not behind the delay.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import calls_per_request, http, logged_round_trips, parse_latency, round_trips
from sim.harness import local_stack, mint_token, request_lines, start_moto, stop_moto
from sim.processes import free_port
from tls_front import TlsFront


def measure(name: str, requests: int, concurrency: int, one) -> list[float]:
    """Times `requests` calls of `one`, `concurrency` at a time; prints and returns the latencies."""
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
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--hot", type=int, default=20, help="how many markets the GET scenario reads (default 20)")
    parser.add_argument("--no-cache", action="store_true", help="run the stack without the shared cache")
    parser.add_argument("--aws-latency", type=parse_latency, default=0.0, metavar="L",
                        help="also run every scenario with this delay on every AWS call (e.g. 10ms) and report "
                             "the sequential round trips per route")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    log_file = tempfile.NamedTemporaryFile(prefix="bench-", suffix=".log", delete=False).name
    moto = front = None
    endpoint: list[str] = []
    if args.aws_latency:
        # moto behind the front: the functions (and the stack's own calls) reach it over HTTPS.
        moto_port = free_port()
        moto, front = start_moto(moto_port), TlsFront(moto_port)
        settings = front.env()
        endpoint = ["--endpoint", settings["AWS_ENDPOINT_URL"]] + [f"--env={k}={v}" for k, v in settings.items()]
        env["AWS_CA_BUNDLE"] = settings["SSL_CERT_FILE"]  # the stack's boto3 clients
    stack_args = ["--max-instances", str(args.concurrency), *(["--no-cache"] if args.no_cache else []), *endpoint]
    p50s: dict[float, dict[str, tuple[float, float]]] = {}
    try:
        with local_stack(f"bench{os.getpid()}", *stack_args, log_file=log_file, process_env=env,
                         env={"RATE_LIMIT_PER_MINUTE": "100000000"}) as base:
            alice = mint_token("bench-alice")
            ids: list[str] = []

            def create(i: int) -> int:
                status, body = http(base, "POST", "/api/markets", {"name": f"Will benchmark market {i} rise?"}, alice)
                ids.append(body["data"]["id"])
                return status

            def hot(i: int) -> str:  # the --hot newest markets, in turn
                newest = ids[-max(1, args.hot):]
                return newest[i % len(newest)]

            # (the route as the request log names it, the request)
            scenarios = [
                ("POST /api/markets", create),
                ("GET /api/markets/{id}", lambda i: http(base, "GET", f"/api/markets/{hot(i)}")[0]),
                ("GET /api/markets", lambda i: http(base, "GET", "/api/markets?limit=20")[0]),
                ("POST /api/markets/{id}/positions", lambda i: http(
                    base, "POST", f"/api/markets/{ids[0]}/positions", {"outcome": "yes", "amount": 1.5}, alice)[0]),
                ("PATCH /api/markets/{id}", lambda i: http(
                    base, "PATCH", f"/api/markets/{hot(i)}", {"description": f"edit {i}"}, alice)[0]),
                ("GET /api/markets/{id}/positions", lambda i: http(base, "GET", f"/api/markets/{ids[0]}/positions")[0]),
                ("GET /api/markets/search", lambda i: http(base, "GET", "/api/markets/search?q=benchmark%20rise&limit=10")[0]),
                ("GET /api/health", lambda i: http(base, "GET", "/api/health")[0]),
            ]
            print(f"{args.requests} requests per scenario, {args.concurrency} at a time, against {base}")
            latencies = [0.0] + ([args.aws_latency] if args.aws_latency else [])
            for route, one in scenarios:
                if args.aws_latency:  # untimed: the instances' cold starts stay out of the figures at 0
                    front.latency = 0.0
                    measure(f"{route} (warm-up)", args.concurrency * 2, args.concurrency, one)
                # Each scenario at every latency in a row: the machine's load drifts less in between.
                for latency in latencies:
                    if front:
                        front.latency = latency / 1000
                    times = measure(route + (f" +{latency:g} ms" if latency else ""), args.requests, args.concurrency, one)
                    p50s.setdefault(latency, {})[route] = (statistics.median(times), statistics.quantiles(times, n=100)[98])
    finally:
        if front:
            front.close()
        if moto:
            stop_moto(moto)
    with open(log_file, encoding="utf-8") as f:
        lines = request_lines(f)
    os.unlink(log_file)
    cache_report(lines, args.no_cache)
    if args.aws_latency:
        print()
        print(round_trip_table(p50s, args.aws_latency, lines))


def round_trip_table(p50s: dict[float, dict[str, tuple[float, float]]], latency: float, lines: list[dict]) -> str:
    """Per route: p50/p99 at no added latency and at `latency`, the round trips they imply, the
    round trips and the DynamoDB calls per request the log lines count (Markdown)."""
    rows = [f"| route | p50 at 0 | p99 at 0 | p50 at {latency:g} ms | p99 at {latency:g} ms "
            "| sequential round trips | round trips logged (rounds) | DynamoDB calls per request (ops) |",
            "|---|---|---|---|---|---|---|---|"]
    for route, (p50, p99) in p50s[0.0].items():
        p50_l, p99_l = p50s[latency][route]
        route_lines = [line for line in lines if line.get("route") == route]
        calls, logged = calls_per_request(route_lines), logged_round_trips(route_lines)
        rows.append(f"| {route} | {p50:.1f} ms | {p99:.1f} ms | {p50_l:.1f} ms | {p99_l:.1f} ms "
                    f"| {round_trips(p50_l, p50, latency):.1f} | {logged or '—'} | {calls or '—'} |")
    return "\n".join(rows)


def cache_report(lines: list[dict], no_cache: bool) -> None:
    """The shared cache's hit ratio and the DynamoDB calls per GET of one market, from the request logs."""
    gets = [line for line in lines if line.get("route") == "GET /api/markets/{id}"]
    if not gets:
        return
    hits = sum(1 for g in gets if g.get("cache_hit") is True)
    calls = sum(g.get("dynamodb_calls", 0) for g in gets)
    cache = "off" if no_cache else f"hit ratio {hits / len(gets):.1%} ({hits} of {len(gets)})"
    print(f"GET /api/markets/{{id}}: cache {cache}, {calls / len(gets):.2f} DynamoDB calls per GET")


if __name__ == "__main__":
    main()
