#!/usr/bin/env python3
"""Cold start, memory and package size of every route function, against three references, and of
get-market against the peers a user would write instead.

    dev/bench-cold [--quick] [--runs 7] [--warm 2000] [--only get-market,list-markets] [--no-build]
                   [--aws-latency 10ms] [--config 'profile.release.opt-level="s"' ...] [--target-dir DIR]
                   [--out bench/RESULTS.md]
    dev/bench-cold --charts-only [--out bench/RESULTS.md]

Builds the release binaries (one `cargo build --release` for the route functions and the three
references of bench/: hello-world, lambda_runtime alone; the floor, one DynamoDB GetItem per
invocation; the authenticated floor, the floor plus the token secret read at init and an HS256
token verified per invocation), starts moto and the local stack's resources (dev/sim's code:
tables, queues, secrets, each function's environment resolved from template.yaml, the shared cache
off), seeds real data through the API, then runs each binary on a minimal Lambda Runtime API of its
own and measures:

* init: spawn to the first `GET /runtime/invocation/next`;
* first invocation: the event handed over to its response received; and init + first;
* warm p50 / p99 over --warm invocations in all (spread over the runs);
* peak RSS: VmHWM of /proc/<pid>/status after the invocations;
* zip: the binary deflated into a zip as `bootstrap`, as Lambda receives it.

Twice: through a TLS front (dev/tls_front.py, a throwaway CA; every cold request pays a handshake, as
on AWS) and plain HTTP. Binaries are interleaved over --runs runs; the tables show medians, with the
ratio to the floor, and issue 22's targets against the authenticated floor as pass/FAIL. The
DynamoDB calls per request come from the functions' own request log lines. Through the TLS front,
every other warm invocation is made with --aws-latency on every AWS call: the sequential round
trips per request are (p50 at L - p50 at 0) / L. With get-market, its peers (bench/peers: Node.js
with the AWS SDK v3, Python with boto3; installed by dev/bootstrap) run on the same Runtime API,
after a check that they answer as get-market does. Writes --out (generated: never edit it by hand)
and, beside it, its figures as SVG charts (dev/bench_charts.py): cold-start.svg, peers.svg and
round-trips.svg; --charts-only redraws them from --out's tables, without measuring.

Tracing's cost (issue 21): a third mode runs the TRACED functions through the TLS front with the
X-Ray daemon's address set (a receiver of dev/sim's) and every invocation sampled, against the TLS
mode's figures (no daemon: an unsampled invocation's path); and warm-overhead (bench/), the request
path over in-memory repositories, runs untraced and with every request traced.
--quick: 3 runs, 300 warm invocations, the references, get-market (and its peers), list-markets and
create-market only.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import queue
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import bench_charts
from bench_common import (AUTH_FLOOR_TARGETS, answers_differ, calls_per_request, http, median, parse_latency,
                          peer_goal, percentile, round_trips)
# The local stack's parts: its resources, each function's environment, its event builder.
from sim.cli import parse_args as parse_stack_args, prepare
from sim.common import REPO, TOKEN_SECRET
from sim.events import v2_event
from sim.harness import mint_token, request_lines, start_moto, start_runtime_api, stop_moto
from sim.processes import free_port
from sim.runtime_api import RuntimeApi
from sim.traces import TraceReceiver, mint_header
from tls_front import TlsFront

REFERENCES = ["hello-world", "floor", "auth-floor"]
# get-market as a Node.js and a Python user would write it (bench/peers), each under a minimal
# runtime interface loop of its own; measured with get-market.
PEERS = {
    "node-peer": ["node", str(REPO / "bench/peers/node/runtime.mjs")],
    "python-peer": [str(REPO / "bench/peers/python/.venv/bin/python"), str(REPO / "bench/peers/python/runtime.py")],
}
# Reads first, then writes; create-market before delete-market, which deletes what it created.
ROUTE_FUNCTIONS = ["health", "api-docs", "route-not-found", "get-market", "list-markets", "list-positions",
                   "search-markets", "create-market", "create-position", "update-market", "replace-market",
                   "delete-market", "graphql"]
QUICK_FUNCTIONS = ["get-market", "list-markets", "create-market"]
# Measured traced too (when measured): a read, a fan-out read, a write with an index job, a
# position; and health, whose init reads nothing over the network: tracing's init cost without
# moto's noise.
TRACED = ["health", "get-market", "list-markets", "create-market", "create-position"]
# Tracing's budget (issue 21): more init and peak RSS per function than without it; more warm p99
# in the in-memory benchmark.
TRACING_BUDGET = {"init": 1.0, "rss": 1_000_000, "p99": 0.1}
WARM_OVERHEAD_REQUESTS, WARM_OVERHEAD_ROUNDS = 5000, 5
HOT_MARKETS = 20
INVOCATION_TIMEOUT = 30.0
# The targets of issue 11, as ratios to the floor and absolute limits.
TARGETS = {"init": 1.2, "total": 1.2, "rss": 1.25, "zip": 1.25}
ZIP_LIMIT, RSS_LIMIT = 3_000_000, 10_000_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the Runtime API


class TimedRuntimeApi:
    """A Lambda Runtime API for one function instance at a time, timing what crosses it."""

    def __init__(self) -> None:
        self.server = start_runtime_api(TimedRuntimeHandler)
        self.server.api = self  # type: ignore[attr-defined]
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.sampled = False  # each invocation in a sampled trace (the traced mode); kept over resets
        self.reset()

    def reset(self) -> None:
        self.events: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self.results: queue.Queue[tuple[str, bytes, int, bool]] = queue.Queue()
        self.first_next: int | None = None   # perf_counter_ns of the first GET /next
        self.waiting = threading.Event()     # set while the instance waits in GET /next
        self.sent: dict[str, int] = {}


class TimedRuntimeHandler(RuntimeApi):
    # Headers and body go out in separate writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK (40 ms on Linux) whenever the client does not ACK at once, as Node.js's
    # and Python's HTTP clients do not (the peers' warm p50 was 55 ms, 45 of them that wait).
    disable_nagle_algorithm = True
    server: Any

    def do_GET(self) -> None:
        api: TimedRuntimeApi = self.server.api
        if not self.path.endswith("/runtime/invocation/next"):
            return self.reply(404, {})
        if api.first_next is None:
            api.first_next = time.perf_counter_ns()
        api.waiting.set()
        item = api.events.get()
        api.waiting.clear()
        if item is None:
            self.close_connection = True
            return self.reply(410, {})
        request_id, payload = item
        api.sent[request_id] = time.perf_counter_ns()
        self.send_invocation(request_id, payload, 10, "bench", mint_header(1 if api.sampled else 0))

    def do_POST(self) -> None:
        api: TimedRuntimeApi = self.server.api
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        done = time.perf_counter_ns()
        m = re.search(r"/runtime/invocation/([^/]+)/(response|error)$", self.path)
        if m:
            api.results.put((m.group(1), body, done, m.group(2) == "error"))
        elif self.path.endswith("/runtime/init/error"):
            api.results.put(("init", body, done, True))
        self.reply(202, {})


@dataclass
class Sample:
    init_ms: float
    first_ms: float
    warm_ms: list[float]
    warm_at_latency_ms: list[float]  # the warm invocations made with the front's AWS-like latency on
    rss_bytes: int
    log_lines: list[dict]
    unexpected: int  # answers that were not what the scenario expects (a moto hiccup under load, say)
    connections: int | None  # TLS connections the instance opened in its life (None: not counted)
    documents: int = 0  # segment documents the X-Ray daemon received from it (the traced mode)


class BenchError(Exception):
    pass


def run_instance(api: TimedRuntimeApi, name: str, command: list[str], env: dict[str, str], events: list[bytes],
                 check: Callable[[int, bytes], None], front: TlsFront | None = None, latency_ms: float = 0.0) -> Sample:
    """Spawns `command` (instance of `name`), invokes it with `events` one after another, and kills it.
    With `front`, counts the TLS connections it opened (one per service when its pools are shared)
    and, with `latency_ms`, makes every other warm invocation with that delay on each AWS call."""
    api.reset()
    connections_before = front.connections if front else 0
    ids = [str(uuid.uuid4()) for _ in events]
    api.events.put((ids[0], events[0]))
    started = time.perf_counter_ns()
    proc = subprocess.Popen(command, env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    latencies, at_latency, unexpected = [], [], 0
    try:
        for i, request_id in enumerate(ids):
            try:
                got_id, body, done, failed = api.results.get(timeout=INVOCATION_TIMEOUT)
            except queue.Empty:
                raise BenchError(f"{name}: no answer within {INVOCATION_TIMEOUT} s") from None
            if failed or got_id != request_id:
                raise BenchError(f"{name}: invocation failed: {body[:500].decode(errors='replace')}")
            (at_latency if front and front.latency else latencies).append((done - api.sent[request_id]) / 1e6)
            answer = json.loads(body)
            try:
                check(answer.get("statusCode", 200), (answer.get("body") or "").encode())
            except BenchError as error:
                unexpected += 1
                log(f"unexpected answer (counted, not measured out): {error}")
            if i + 1 < len(ids):
                if front:  # interleaved: the load on the machine weighs on both alike
                    front.latency = latency_ms / 1000 if i % 2 else 0.0
                api.events.put((ids[i + 1], events[i + 1]))
        if not api.waiting.wait(INVOCATION_TIMEOUT):  # idle again: its peak is behind it
            raise BenchError(f"{name}: did not ask for a next event")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
    except BaseException:
        if front:
            front.latency = 0.0
        proc.kill()
        reader.join(5)
        sys.stderr.write(b"".join(output[-30:]).decode(errors="replace"))
        raise
    if front:
        front.latency = 0.0
    proc.kill()
    proc.wait()
    api.events.put(None)  # frees the handler thread still waiting in GET /next
    reader.join(5)
    lines = request_lines(output)
    assert api.first_next is not None
    connections = front.connections - connections_before if front else None
    return Sample((api.first_next - started) / 1e6, latencies[0], latencies[1:], at_latency, rss, lines, unexpected,
                  connections)


# --------------------------------------------------------------------------- events


def api_event(method: str, route: str, path: str, query: str = "", body: Any = None, bearer: str | None = None,
              params: dict[str, str] | None = None) -> bytes:
    """An API Gateway HTTP API (payload format 2.0) event, as AWS sends it (the local gateway's builder)."""
    headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "bench-cold",
               "accept": "application/json", "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https",
               "x-forwarded-port": "443"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    if body is not None:
        headers["content-type"] = "application/json"
    return json.dumps(v2_event(method, f"{method} {route}", "$default", path, query, headers,
                               None if body is None else json.dumps(body).encode(), params, str(uuid.uuid4()),
                               "203.0.113.7", headers["host"], api_id="abc123")).encode()


class Scenarios:
    """The events of each route against the seeded data, and what a right answer is. Every
    invocation is a request that succeeds (or, for route-not-found, the 404 it exists for)."""

    def __init__(self, jwt_secret: str, hot: list[str]):
        self.bearer, self.hot = mint_token("bench-alice", name="Alice Bench", ttl=86400, secret=jwt_secret), hot
        self.moderator = mint_token("bench-moderator", "moderator", "Mod Bench", 86400, jwt_secret)  # only they delete
        self.created: list[str] = []  # by create-market, for delete-market
        self.serial = 0

    def events(self, binary: str, count: int) -> tuple[list[bytes], Callable[[int, bytes], None]]:
        def expect(*statuses: int) -> Callable[[int, bytes], None]:
            def check(status: int, body: bytes) -> None:
                if status not in statuses:
                    raise BenchError(f"{binary}: HTTP {status} {body[:300].decode(errors='replace')}")
            return check

        market = lambda i: self.hot[i % len(self.hot)]  # noqa: E731
        one = f"/api/markets/{{id}}"
        if binary in ("hello-world", "floor"):
            return [api_event("GET", one, f"/api/markets/{self.hot[0]}", params={"id": self.hot[0]})] * count, \
                expect(200)
        if binary == "health":
            return [api_event("GET", "/api/health", "/api/health")] * count, expect(200)
        if binary == "api-docs":
            return [api_event("GET", "/api/openapi.yaml", "/api/openapi.yaml")] * count, expect(200)
        if binary == "route-not-found":
            return [api_event("GET", "/{proxy+}", "/api/nothing-here", params={"proxy": "api/nothing-here"})] * count, \
                expect(404)
        if binary in ("get-market", "auth-floor") or binary in PEERS:  # with a token: it is verified
            return [api_event("GET", one, f"/api/markets/{market(i)}", bearer=self.bearer, params={"id": market(i)})
                    for i in range(count)], expect(200)
        if binary == "list-markets":
            return [api_event("GET", "/api/markets", "/api/markets", "limit=20")] * count, expect(200)
        if binary == "list-positions":
            path = f"/api/markets/{self.hot[0]}/positions"
            return [api_event("GET", one + "/positions", path, "limit=20", params={"id": self.hot[0]})] * count, \
                expect(200)
        if binary == "search-markets":
            return [api_event("GET", "/api/markets/search", "/api/markets/search", "q=benchmark%20rise&limit=10")] \
                * count, expect(200)
        if binary == "create-market":
            self.serial += 1
            events = [api_event("POST", "/api/markets", "/api/markets", bearer=self.bearer,
                                body={"name": f"Will cold market {self.serial}-{i} rise?",
                                      "description": "A market made by dev/bench-cold."})
                      for i in range(count)]

            def created(status: int, body: bytes) -> None:
                expect(201)(status, body)
                self.created.append(json.loads(body)["data"]["id"])
            return events, created
        if binary == "delete-market":
            doomed, self.created = self.created[:count], self.created[count:]
            # As many as create-market made (it runs first, as often); any it failed to make: absent ids.
            doomed += ["01BENCHM0CKZZZZZZZZZZZZZZZ"] * (count - len(doomed))
            return [api_event("DELETE", one, f"/api/markets/{m}", bearer=self.moderator, params={"id": m})
                    for m in doomed], expect(204)
        if binary == "create-position":
            return [api_event("POST", one + "/positions", f"/api/markets/{market(i)}/positions", bearer=self.bearer,
                              body={"outcome": "yes", "amount": 1.5}, params={"id": market(i)})
                    for i in range(count)], expect(201)
        if binary == "update-market":
            return [api_event("PATCH", one, f"/api/markets/{market(i)}", bearer=self.bearer,
                              body={"description": f"Updated {i}."}, params={"id": market(i)})
                    for i in range(count)], expect(200)
        if binary == "replace-market":
            return [api_event("PUT", one, f"/api/markets/{market(i)}", bearer=self.bearer,
                              body={"name": f"Will benchmark market {i % len(self.hot)} rise?",
                                    "description": f"Replaced {i}.", "status": "active"}, params={"id": market(i)})
                    for i in range(count)], expect(200)
        if binary == "graphql":  # one market as get-market reads it, through the schema
            query = "query One($id: String!) { market(id: $id) { id name volume version creator { name } } }"
            return [api_event("POST", "/api/graphql", "/api/graphql", bearer=self.bearer,
                              body={"query": query, "variables": {"id": market(i)}}) for i in range(count)], expect(200)
        raise BenchError(f"no scenario for {binary}")


# --------------------------------------------------------------------------- setup


def build(binaries: list[str] | None, configs: list[str], target_dir: Path | None) -> float:
    """One release build of `binaries` (None: every function and both references, as a deployment
    builds them); its wall time in seconds."""
    cmd = ["nice", "-n", "10", "cargo", "build", "--release", "-p", "functions", "-p", "markets-graphql", "-p", "bench"]
    cmd += [f"--bin={b}" for b in binaries or []]
    for config in configs:
        cmd += ["--config", config]
    if target_dir:
        cmd += ["--target-dir", str(target_dir)]
    log("$ " + shlex.join(cmd))
    started = time.monotonic()
    subprocess.run(cmd, cwd=REPO, check=True)
    return time.monotonic() - started


def zipped_size(binary: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(binary, "bootstrap")
    return len(buffer.getvalue())


class Environment:
    """moto with the template's resources (dev/sim's Stack), seeded through the API, and each
    function's environment as the local stack resolves it."""

    def __init__(self, bin_dir: Path, log_file: str):
        self.moto_port = free_port()
        self.moto = start_moto(self.moto_port)
        self.stack, self.gateway = prepare(parse_stack_args([
            "serve", "--port", "0", "--prefix", f"cold{os.getpid()}", "--no-cache", "--quiet",
            "--endpoint", f"http://127.0.0.1:{self.moto_port}", "--bin-dir", str(bin_dir), "--log-file", log_file,
            "--env", "RATE_LIMIT_PER_MINUTE=100000000", "--schedule-seconds", "86400"]), every_binary=False)
        self.functions = {fn.binary: fn for fn in self.stack.functions}
        self.stack.start(self.gateway)
        self.jwt_secret = self.stack.secret_values[TOKEN_SECRET]
        self.base = "http://127.0.0.1:%d" % self.gateway.server_address[1]

    def seed(self, bearer: str, searched: bool) -> list[str]:
        """HOT_MARKETS markets of the bench user's (`bearer`), each with a position; with `searched`,
        once the index worker has indexed them."""
        hot = []
        for i in range(HOT_MARKETS):
            status, body = http(self.base, "POST", "/api/markets", {
                "name": f"Will benchmark market {i} rise?", "description": "Seeded by dev/bench-cold.",
                "initialPosition": {"outcome": "yes", "amount": 2}}, bearer)
            if status != 201:
                raise BenchError(f"seeding: POST /api/markets answered {status}")
            hot.append(body["data"]["id"])
        deadline = time.monotonic() + 60
        while searched and time.monotonic() < deadline:  # the index worker (SQS) indexes them
            status, body = http(self.base, "GET", "/api/markets/search?q=benchmark%20rise&limit=10")
            if status == 200 and len(body["data"]) >= 10:
                break
            time.sleep(0.5)
        else:
            if searched:
                raise BenchError("seeding: the markets did not reach the search index within 60 s")
        self.stack.stop()  # its instances, pollers and gateway: nothing else runs while we measure
        return hot

    def function_env(self, binary: str, endpoint: dict[str, str], floor_market: str) -> dict[str, str]:
        """A route function's environment (a reference gets get-market's), pointed at `endpoint`."""
        env = dict(self.functions[binary if binary in self.functions else "get-market"].env)
        # The daemon's address too: only the traced mode has one (`endpoint` gives it).
        for key in [k for k in env if k.startswith(("AWS_ENDPOINT_URL", "SSL_CERT", "AWS_XRAY_DAEMON_ADDRESS"))]:
            del env[key]
        env.update(endpoint)
        env["FLOOR_MARKET_ID"] = floor_market
        if binary in PEERS and "SSL_CERT_FILE" in endpoint:  # Node.js and botocore do not read SSL_CERT_FILE
            env.update(NODE_EXTRA_CA_CERTS=endpoint["SSL_CERT_FILE"], AWS_CA_BUNDLE=endpoint["SSL_CERT_FILE"])
        return env

    def close(self) -> None:
        stop_moto(self.moto)


# --------------------------------------------------------------------------- report


@dataclass
class Figures:
    init: float
    first: float
    total: float
    p50: float
    p99: float
    p50_at_latency: float
    p99_at_latency: float
    rss: float
    zip: int
    calls: str
    warm_count: int
    unexpected: int
    connections: float | None
    documents: float = 0.0  # segment documents per invocation (the traced mode)

    @classmethod
    def of(cls, samples: list[Sample], zip_size: int) -> "Figures":
        warm = [ms for s in samples for ms in s.warm_ms]
        at_latency = [ms for s in samples for ms in s.warm_at_latency_ms]
        lines = [line for s in samples for line in s.log_lines]
        calls = calls_per_request(lines)
        return cls(median([s.init_ms for s in samples]), median([s.first_ms for s in samples]),
                   median([s.init_ms + s.first_ms for s in samples]), percentile(warm, 0.5), percentile(warm, 0.99),
                   percentile(at_latency, 0.5), percentile(at_latency, 0.99), median([s.rss_bytes for s in samples]), zip_size, calls, len(warm),
                   sum(s.unexpected for s in samples),
                   median([s.connections for s in samples]) if samples[0].connections is not None else None,
                   sum(s.documents for s in samples) / sum(1 + len(s.warm_ms) + len(s.warm_at_latency_ms) for s in samples))


def table(figures: dict[str, Figures]) -> list[str]:
    floor = figures["floor"]
    ratio = lambda v, f: f" ({v / f:.2f}×)" if f else ""  # noqa: E731
    rows = ["| function | init | first invocation | init + first | warm p50 | warm p99 | peak RSS | zip "
            "| targets missed (and notes) | DynamoDB calls per request (ops) | connections per instance |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, f in figures.items():
        if name in PEERS:
            continue  # their own table
        missed = []
        if name not in REFERENCES:
            for key, limit in TARGETS.items():
                if getattr(f, key) > limit * getattr(floor, key):
                    missed.append(f"{key} > {limit}×")
            if f.zip > ZIP_LIMIT:
                missed.append("zip > 3 MB")
            if f.rss > RSS_LIMIT:
                missed.append("RSS > 10 MB")
        if f.unexpected:
            missed.append(f"{f.unexpected} unexpected answers")
        rows.append(f"| {name} | {f.init:.1f} ms{ratio(f.init, floor.init)} | {f.first:.1f} ms "
                    f"| {f.total:.1f} ms{ratio(f.total, floor.total)} | {f.p50:.2f} ms | {f.p99:.2f} ms "
                    f"| {f.rss / 1e6:.1f} MB{ratio(f.rss, floor.rss)} | {f.zip / 1e6:.2f} MB{ratio(f.zip, floor.zip)} "
                    f"| {', '.join(missed) or ('—' if name in REFERENCES else 'none')} | {f.calls or '—'} "
                    f"| {'—' if f.connections is None else f'{f.connections:g}'} |")
    return rows


def round_trip_table(figures: dict[str, Figures], latency_ms: float) -> list[str]:
    """Per function, warm p50/p99 with no added latency and with `latency_ms` on every AWS call, the
    sequential round trips that implies and the DynamoDB calls its log lines count."""
    rows = [f"| function | warm p50 at 0 | warm p99 at 0 | warm p50 at {latency_ms:g} ms | warm p99 at {latency_ms:g} ms "
            "| sequential round trips | DynamoDB calls per request (ops) |", "|---|---|---|---|---|---|---|"]
    for name, f in figures.items():
        rows.append(f"| {name} | {f.p50:.2f} ms | {f.p99:.2f} ms | {f.p50_at_latency:.2f} ms | {f.p99_at_latency:.2f} ms "
                    f"| {round_trips(f.p50_at_latency, f.p50, latency_ms):.1f} | {f.calls or '—'} |")
    return rows


def auth_floor_table(figures: dict[str, Figures]) -> list[str]:
    """Every route function against the authenticated floor, each target of issue 22 pass or FAIL."""
    floor = figures["auth-floor"]
    rows = ["| function | " + " | ".join(f"{t.name} | {t.name} target (≤ {t.ratio}×"
                                          + (f", ≤ {t.limit / 1e6:g} {t.unit})" if t.limit else ")")
                                          for t in AUTH_FLOOR_TARGETS) + " |",
            "|---|" + "---|---|" * len(AUTH_FLOOR_TARGETS)]
    show = {"total": lambda v: f"{v:.1f} ms", "rss": lambda v: f"{v / 1e6:.1f} MB", "zip": lambda v: f"{v / 1e6:.2f} MB"}
    for name in against_auth_floor(figures):
        f = figures[name]
        cells = []
        for target in AUTH_FLOOR_TARGETS:
            value, reference = getattr(f, target.field), getattr(floor, target.field)
            cells += [f"{show[target.field](value)} ({value / reference:.2f}×)",
                      "—" if name == "auth-floor" else target.check(value, reference)[1]]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def against_auth_floor(figures: dict[str, Any]) -> list[str]:
    """The functions compared with the authenticated floor: itself and the route functions."""
    return [name for name in figures if name not in PEERS and name not in ("hello-world", "floor")]


def peer_table(figures: dict[str, Figures]) -> list[str]:
    """get-market beside the peers a user would write instead; ratios are the peer's over ours."""
    ours = figures["get-market"]
    rows = ["| function | init | first invocation | init + first | warm p50 | warm p99 | peak RSS |",
            "|---|---|---|---|---|---|---|"]
    for name in ["get-market", *PEERS]:
        f = figures[name]
        cell = lambda v, o, unit="ms", scale=1.0: f"{v / scale:.1f} {unit} ({v / o:.1f}×)"  # noqa: E731
        rows.append(f"| {name} | {cell(f.init, ours.init)} | {cell(f.first, ours.first)} | {cell(f.total, ours.total)} "
                    f"| {cell(f.p50, ours.p50)} | {cell(f.p99, ours.p99)} | {cell(f.rss, ours.rss, 'MB', 1e6)} |")
    node = figures["node-peer"]
    rows += ["", f"Goal (issue 22) against the Node.js peer: init + first {peer_goal(ours.total, node.total)[1]}; "
                 f"peak RSS {peer_goal(ours.rss, node.rss)[1]}."]
    return rows


def round_trip_section(args: argparse.Namespace, figures: dict[str, Figures]) -> list[str]:
    return [
        f"## Sequential round trips under AWS-like latency (TLS, {args.aws_latency:g} ms per AWS call)",
        "",
        f"Every other warm invocation is made with the TLS front holding each AWS call {args.aws_latency:g} ms "
        "(dev/tls_front.py), the others with none, interleaved; round trips = (p50 at L − p50 at 0) / L. Calls "
        "made at the same time count once; the DynamoDB calls per request are the request log lines' count. "
        "A figure of the peers and references is theirs (they log no request line).",
        "",
        *round_trip_table(figures, args.aws_latency),
        "",
    ]


def peer_section(figures: dict[str, Figures]) -> list[str]:
    return [
        "## The peers a user would pick instead (TLS)",
        "",
        f"get-market written as a Node.js user ({node_version()}; AWS SDK v3 client-dynamodb + lib-dynamodb, "
        "client-secrets-manager, jsonwebtoken) and a Python user (" + python_version() + "; boto3, PyJWT) would "
        "write it (bench/peers): the same secret read at init, the same token check, one consistent GetItem, the "
        "same JSON answer. Lambda's managed runtimes are not available here (no containers): each runs under a "
        "minimal runtime interface loop written like AWS's (bench/peers/*/runtime.*), on the same Runtime API "
        "against the same data. Ours also makes the rate limiter's UpdateItem; the peers do not. Ratios are the "
        "peer's figure over get-market's.",
        "",
        *peer_table(figures),
        "",
    ]


def tracing_section(results: dict[str, dict[str, Figures]], in_memory: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Tracing's cost (issue 21): each traced function's figures against its TLS ones, and the
    in-memory request path's warm overhead untraced and traced, each against its budget."""
    def change(untraced: float, traced: float, unit: str = "ms", scale: float = 1.0, digits: int = 1) -> str:
        return f"{untraced / scale:.{digits}f} → {traced / scale:.{digits}f} {unit} ({(traced - untraced) / scale:+.{digits}f})"

    rows = ["| function | init | init + first | warm p50 | warm p99 | peak RSS | segment documents per invocation "
            f"| budget (init ≤ +{TRACING_BUDGET['init']:g} ms, peak RSS ≤ +{TRACING_BUDGET['rss'] / 1e6:g} MB) |",
            "|---|---|---|---|---|---|---|---|"]
    for name, t in results.get("traced", {}).items():
        u = results["TLS"][name]
        missed = []
        if t.init - u.init > TRACING_BUDGET["init"]:
            missed.append(f"init +{t.init - u.init:.1f} ms")
        if t.rss - u.rss > TRACING_BUDGET["rss"]:
            missed.append(f"RSS +{(t.rss - u.rss) / 1e6:.2f} MB")
        rows.append(f"| {name} | {change(u.init, t.init)} | {change(u.total, t.total)} | {change(u.p50, t.p50, digits=2)} "
                    f"| {change(u.p99, t.p99, digits=2)} | {change(u.rss, t.rss, 'MB', 1e6, 2)} | {t.documents:.2f} "
                    f"| {'FAIL (' + ', '.join(missed) + ')' if missed else 'pass'} |")
    memory = [f"| route | p50 untraced | p50 traced | p99 untraced | p99 traced | p99 more "
              f"| budget (≤ +{TRACING_BUDGET['p99']:g} ms) |", "|---|---|---|---|---|---|---|"]
    for route, modes in in_memory.items():
        (u50, u99), (t50, t99) = modes["untraced"], modes["traced"]
        more = t99 - u99
        memory.append(f"| {route} | {u50:.3f} ms | {t50:.3f} ms | {u99:.3f} ms | {t99:.3f} ms | {more:+.3f} ms "
                      f"| {'pass' if more <= TRACING_BUDGET['p99'] else 'FAIL'} |")
    return [
        "## Tracing's cost (issue 21)",
        "",
        "The traced mode: through the TLS front, with the X-Ray daemon's address set (dev/sim's receiver on a "
        "loopback UDP port, as Lambda's daemon in a traced sandbox) and every invocation sampled (on AWS, by "
        "default, the first request each second and 5% of the others are), interleaved with the other modes; "
        "each figure is the TLS table's (no daemon, unsampled: the path of a build without tracing) → the traced "
        "one. The binary is the same: the code tracing adds is in both (its size against a build without it: "
        "docs/performance.md). With moto behind the TLS front, a function's init and first invocation vary by "
        "several ms from run to run (the secret read and the first calls go to moto), and its warm figures with "
        "the tables the writes grow: health, whose init reads nothing over the network, shows tracing's own init "
        "cost, and the in-memory table below its cost per request.",
        "",
        *rows,
        "",
        f"The request path with the network taken away (bench/src/bin/warm-overhead, {WARM_OVERHEAD_REQUESTS} "
        f"requests per route, in-memory repositories), untraced and with every request traced and its document sent "
        f"to a UDP receiver; medians of {WARM_OVERHEAD_ROUNDS} alternating runs.",
        "",
        *memory,
        "",
    ]


def warm_overhead(bin_dir: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Per route, the in-memory request path's warm p50 and p99 (ms), untraced and traced: the
    median of alternating runs of warm-overhead."""
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for _ in range(WARM_OVERHEAD_ROUNDS):
        for mode, extra in (("untraced", []), ("traced", ["--traced"])):
            out = subprocess.run([str(bin_dir / "warm-overhead"), str(WARM_OVERHEAD_REQUESTS), *extra],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True).stderr
            for m in re.finditer(r"^(\S+)\s+([\d.]+) ms\s+([\d.]+) ms", out, re.M):
                runs.setdefault(m[1], {}).setdefault(mode, []).append((float(m[2]), float(m[3])))
    return {route: {mode: (median([r[0] for r in rs]), median([r[1] for r in rs])) for mode, rs in modes.items()}
            for route, modes in runs.items()}


def node_version() -> str:
    return "Node.js " + subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()


def python_version() -> str:
    out = subprocess.run([PEERS["python-peer"][0], "--version"], capture_output=True, text=True).stdout
    return out.strip()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024 ** 2  # type: ignore[union-attr]
    return f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {memory:.0f} GB"


def profile(configs: list[str]) -> str:
    text = (REPO / "Cargo.toml").read_text()
    section = re.search(r"^\[profile\.release\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    settings = {}
    for line in (section.group(1) if section else "").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    for config in configs:
        key, value = config.split("=", 1)
        settings[key.removeprefix("profile.release.").strip()] = value.strip()
    return ", ".join(f"{k} = {v}" for k, v in settings.items())


def commit() -> str:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout
    return sha.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


def report(args: argparse.Namespace, build_seconds: float | None, results: dict[str, dict[str, Figures]],
           in_memory: dict[str, dict[str, tuple[float, float]]], elapsed: float, untrusted: str) -> str:
    warm = next(iter(results["TLS"].values())).warm_count
    lines = [
        "# Cold-start benchmark results",
        "",
        f"Generated by `{shlex.join(['dev/bench-cold', *args.argv])}` (dev/bench_cold.py): do not edit by hand.",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- Machine: {machine()}",
        f"- Commit: {commit()}",
        f"- Release profile: {profile(args.config)}",
        f"- Release build: "
        + (f"{build_seconds / 60:.1f} min ({len(args.built)} binaries: {', '.join(args.built)})"
           if build_seconds is not None else "not run (--no-build)"),
        f"- Runs: {args.runs} interleaved cold starts per binary and mode; warm figures over {warm} invocations "
        f"per binary ({args.warm_per_run} per run); medians; ratios are to the floor of the same table. "
        f"Whole run: {elapsed / 60:.1f} min.",
        f"- Functions: {'the --quick subset' if args.quick else 'every route function' if not args.only else 'the --only subset'}"
        f" ({', '.join(n for n in args.binaries if n not in REFERENCES)}), the shared cache off, "
        "RATE_LIMIT_PER_MINUTE=100000000 (the limiter still makes its call), the rest of the environment from "
        "template.yaml as the local stack resolves it.",
        "- References (bench/): hello-world is lambda_runtime alone; the floor loads the AWS SDK config, builds one "
        "DynamoDB client and makes one GetItem per invocation; the authenticated floor adds the token secret read "
        "from Secrets Manager at init and an HS256 token verified per invocation.",
        "- Times are measured on the harness's own Lambda Runtime API (Python, loopback): init is spawn → first "
        "`GET /next`; an invocation is the event handed over → its response received. moto answers in about "
        "a millisecond, not DynamoDB's few: compare functions with each other and with the floor, not with AWS.",
        f"- TLS check: {untrusted}",
        "- Connections per instance (TLS): the TLS connections one instance opened in its life (cold start and "
        "warm invocations), counted by the front, which keeps connections alive as AWS does (moto closes each "
        "after one answer; the front reconnects to moto on its side): one per AWS service it calls when its "
        "SDK clients share their connection pools.",
        f"- Load average (1 min) at the start and the end: {args.load_at_start:.1f}, {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates the figures, the floor's too).",
        "",
        "## TLS (like AWS: a throwaway CA through SSL_CERT_FILE, one HTTPS endpoint per service)",
        "",
        *table(results["TLS"]),
        "",
        "## Against the authenticated floor (issue 22, TLS)",
        "",
        "The authenticated floor (bench/src/bin/auth-floor.rs) is the floor plus what every authenticated route "
        "must do: the token secret read from Secrets Manager at init, a bearer token verified (HS256) per "
        "invocation. get-market, the authenticated floor and the peers are sent a valid token on every "
        "invocation; ratios are to the authenticated floor.",
        "",
        *auth_floor_table(results["TLS"]),
        "",
        *(round_trip_section(args, results["TLS"]) if args.aws_latency else []),
        *(peer_section(results["TLS"]) if args.peers else []),
        *tracing_section(results, in_memory),
        "## Plain HTTP",
        "",
        *table(results["plain"]),
        "",
        "Targets (issue 11, TLS on): init ≤ 1.2× the floor, init + first ≤ 1.2×, peak RSS ≤ 1.25×, zip ≤ 1.25×, "
        "zip ≤ 3 MB, peak RSS ≤ 10 MB.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs, 300 warm invocations, a subset of functions")
    parser.add_argument("--runs", type=int, help="cold starts per binary and mode (default 7; --quick 3)")
    parser.add_argument("--warm", type=int, help="warm invocations per binary and mode in all (default 2000; --quick 300)")
    parser.add_argument("--only", help="comma-separated route functions to measure (the references always are); "
                                       "none: the references alone (a profile trial of the floor)")
    parser.add_argument("--no-build", action="store_true", help="measure the binaries already built")
    parser.add_argument("--config", action="append", default=[], help="a cargo --config for the build (repeatable)")
    parser.add_argument("--target-dir", type=Path, help="cargo's target directory (default: the workspace's)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/RESULTS.md")
    parser.add_argument("--charts-only", action="store_true",
                        help="measure nothing: redraw the SVG charts beside --out from its tables")
    parser.add_argument("--aws-latency", type=parse_latency, default=10.0, metavar="L",
                        help="the delay on every AWS call of every other warm invocation through the TLS front, "
                             "for the round-trip table (default 10ms; 0: none)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.runs = args.runs or (3 if args.quick else 7)
    args.warm = args.warm or (300 if args.quick else 2000)
    args.warm_per_run = -(-args.warm // args.runs)
    functions = [] if args.only == "none" else args.only.split(",") if args.only else \
        QUICK_FUNCTIONS if args.quick else ROUTE_FUNCTIONS
    unknown = set(functions) - set(ROUTE_FUNCTIONS)
    if unknown:
        parser.error(f"not route functions: {', '.join(sorted(unknown))}")
    if "delete-market" in functions and "create-market" not in functions:
        functions.append("create-market")  # delete-market deletes what create-market made
    args.binaries = REFERENCES + [f for f in ROUTE_FUNCTIONS if f in functions]
    args.peers = list(PEERS) if "get-market" in functions else []
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.charts_only:
        figures, latency_ms = charted_results(args.out.read_text())
        log(f"wrote {', '.join(map(str, write_charts(args.out, figures, latency_ms)))}")
        return 0
    started, args.load_at_start = time.monotonic(), os.getloadavg()[0]
    # Seeding goes through the API: the local stack runs create-market, and index-worker (its SQS
    # poller) when search is measured. The outbox sweeper's schedule is pushed out of the way.
    seeding = ["create-market"] + (["index-worker"] if "search-markets" in args.binaries else [])
    args.built = args.binaries + [b for b in seeding if b not in args.binaries] + ["warm-overhead"]
    every = not args.quick and not args.only
    build_seconds = None if args.no_build else build(None if every else args.built, args.config, args.target_dir)
    if every:
        args.built = ["every function", *REFERENCES, "warm-overhead"]
    bin_dir = (args.target_dir or REPO / "target") / "release"
    sizes = {name: zipped_size(bin_dir / name) for name in args.binaries}
    log_file = tempfile.NamedTemporaryFile(prefix="bench-cold-", suffix=".log", delete=False).name
    env = Environment(bin_dir, log_file)
    front = None
    traces = TraceReceiver(Path(log_file + ".traces.jsonl"))
    traces.start()
    try:
        hot: list[str] = []
        scenarios = Scenarios(env.jwt_secret, hot)
        hot += env.seed(scenarios.bearer, searched="search-markets" in args.binaries)
        log(f"seeded {len(hot)} markets; measuring {', '.join(args.binaries)}: {args.runs} runs, "
            f"{args.warm_per_run} warm invocations per run, TLS and plain")
        front = TlsFront(env.moto_port)
        endpoints = {"TLS": front.env(), "plain": {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{env.moto_port}"},
                     "traced": {**front.env(), "AWS_XRAY_DAEMON_ADDRESS": traces.address}}
        api = TimedRuntimeApi()
        untrusted = check_untrusted(api, bin_dir, env, front, scenarios, hot[0])
        log(f"TLS check: {untrusted}")
        if args.peers:
            check_peers(api, bin_dir, env, front, scenarios, hot[0])
            log("the peers answer as get-market does (200, 404, 401 and anonymous)")
        measured = args.binaries + args.peers
        commands = {b: PEERS.get(b, [str(bin_dir / b)]) for b in measured}
        samples: dict[str, dict[str, list[Sample]]] = {
            mode: {b: [] for b in measured if mode != "traced" or b in TRACED} for mode in endpoints}
        for run in range(args.runs):
            # A binary's modes one after the other, first a different one each run: the writes grow the
            # tables moto scans, and no mode may always meet the biggest ones.
            modes = list(endpoints)[run % len(endpoints):] + list(endpoints)[:run % len(endpoints)]
            for binary in measured:
                for mode in [m for m in modes if binary in samples[m]]:
                    endpoint = endpoints[mode]
                    events, check = scenarios.events(binary, 1 + args.warm_per_run)
                    api.sampled, received = mode == "traced", traces.received
                    sample = run_instance(api, binary, commands[binary], env.function_env(binary, endpoint, hot[0]),
                                          events, check, front if mode != "plain" else None,
                                          args.aws_latency if mode == "TLS" else 0.0)
                    sample.documents = traces.received - received
                    samples[mode][binary].append(sample)
            log(f"run {run + 1}/{args.runs} done ({(time.monotonic() - started) / 60:.1f} min)")
        results = {mode: {b: Figures.of(s, sizes.get(b, 0)) for b, s in by_binary.items()}
                   for mode, by_binary in samples.items()}
    finally:
        if front:
            front.close()
        traces.close()
        env.close()
        os.unlink(log_file)
        traces.path.unlink(missing_ok=True)
    log("the in-memory request path, untraced and traced (warm-overhead)")
    in_memory = warm_overhead(bin_dir)
    text = report(args, build_seconds, results, in_memory, time.monotonic() - started, untrusted)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    log(f"wrote {args.out}")
    charts = write_charts(args.out, *charted_results(text))  # as --charts-only draws them, from the tables
    log(f"wrote {', '.join(map(str, charts))}")
    return 0


# --------------------------------------------------------------------------- charts


def write_charts(out: Path, figures: dict[str, Any], latency_ms: float) -> list[Path]:
    """The charts of the TLS figures (Figures, or Charted rows read back from RESULTS.md), beside `out`."""
    peers = [name for name in ["get-market", *PEERS] if name in figures]
    trips = {name: round_trips(f.p50_at_latency, f.p50, latency_ms) for name, f in figures.items()
             if not math.isnan(f.p50_at_latency)} if latency_ms else {}
    return bench_charts.write(out.parent, {name: figures[name] for name in against_auth_floor(figures)},
                              {name: figures[name] for name in peers} if len(peers) > 1 else {}, trips, latency_ms,
                              set(ROUTE_FUNCTIONS))


@dataclass
class Charted:
    """What the charts read of a function's figures, as RESULTS.md's TLS tables give them."""
    total: float = math.nan
    rss: float = math.nan
    p50: float = math.nan
    p50_at_latency: float = math.nan


def markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The tables of a RESULTS.md by the heading of their section: each row as {column: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, columns = "", None
    for line in text.splitlines():
        if line.startswith("## "):
            heading, columns = line[3:], None
        elif line.startswith("|"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if columns is None:
                columns = cells
            elif not set(line) <= set("|-"):
                tables.setdefault(heading, []).append(dict(zip(columns, cells)))
        else:
            columns = None
    return tables


def quantity(cell: str) -> float:
    """A figure as the tables write it, in the unit Figures keeps: "59.2 ms (1.06×)" is 59.2, "9.1 MB" 9.1e6."""
    m = re.match(r"(\d+(?:\.\d+)?) (ms|MB)\b", cell)
    if not m:
        raise ValueError(f"not a figure in ms or MB: {cell!r}")
    return float(m.group(1)) * (1e6 if m.group(2) == "MB" else 1.0)


def charted_results(text: str) -> tuple[dict[str, Charted], float]:
    """The TLS figures the charts read, from a RESULTS.md (the TLS, peer and round-trip tables), and
    the AWS-like latency of its round trips (0: none measured)."""
    tables = markdown_tables(text)
    section = lambda start: next((rows for heading, rows in tables.items() if heading.startswith(start)), [])  # noqa: E731
    figures: dict[str, Charted] = {}
    for row in section("TLS") + section("The peers"):
        figures[row["function"]] = Charted(quantity(row["init + first"]), quantity(row["peak RSS"]))
    latency_ms = 0.0
    for row in section("Sequential round trips"):
        at_latency = next(column for column in row if re.fullmatch(r"warm p50 at [\d.]+ ms", column))
        latency_ms = float(at_latency.split()[3])
        figure = figures.setdefault(row["function"], Charted())
        figure.p50, figure.p50_at_latency = quantity(row["warm p50 at 0"]), quantity(row[at_latency])
    if "auth-floor" not in figures:
        raise ValueError("no TLS table with the authenticated floor: not a RESULTS.md of dev/bench-cold")
    return figures, latency_ms


def check_untrusted(api: TimedRuntimeApi, bin_dir: Path, env: Environment, front: TlsFront, scenarios: Scenarios,
                    market: str) -> str:
    """The floor through the TLS front without the CA must fail: the figures are of real handshakes."""
    events, _ = scenarios.events("floor", 1)
    try:
        run_instance(api, "floor", [str(bin_dir / "floor")], env.function_env("floor", front.untrusted_env(), market), events,
                     lambda status, body: None)
    except BenchError as error:
        if "invocation failed" in str(error):
            return "without the CA in SSL_CERT_FILE the floor's GetItem fails (the certificate is verified)."
        raise
    raise BenchError("the floor reached DynamoDB through the TLS front without trusting its CA")


def check_peers(api: TimedRuntimeApi, bin_dir: Path, env: Environment, front: TlsFront, scenarios: Scenarios,
                market: str) -> None:
    """The peers answer what get-market answers, to the same events: a market, an absent one, a
    forged token and no token. Otherwise the comparison would be of different work."""
    one, absent = "/api/markets/{id}", "01BENCHM0CKZZZZZZZZZZZZZZZ"
    forged = scenarios.bearer[:-4] + ("AAAA" if not scenarios.bearer.endswith("AAAA") else "BBBB")
    events = [api_event("GET", one, f"/api/markets/{market}", bearer=scenarios.bearer, params={"id": market}),
              api_event("GET", one, f"/api/markets/{absent}", bearer=scenarios.bearer, params={"id": absent}),
              api_event("GET", one, f"/api/markets/{market}", bearer=forged, params={"id": market}),
              api_event("GET", one, f"/api/markets/{market}", params={"id": market})]
    answers: dict[str, list[tuple[int, bytes]]] = {}
    for name in ["get-market", *PEERS]:
        answers[name] = []
        run_instance(api, name, PEERS.get(name, [str(bin_dir / name)]),
                     env.function_env(name, front.env(), market), events,
                     lambda status, body, seen=answers[name]: seen.append((status, body)))
    for name in PEERS:
        differences = answers_differ(answers["get-market"], answers[name])
        if differences:
            raise BenchError(f"{name} does not answer as get-market does: {'; '.join(differences)}")


if __name__ == "__main__":
    sys.exit(main())
