"""What dev/bench and dev/bench-cold share: the HTTP calls they seed through, percentiles, the
AWS-like latency option and the sequential round trips it reveals, the DynamoDB calls per request
from the functions' request log lines, and the targets of issue 22 (checked in
dev/test_bench_common.py). What they start and read is sim.harness's."""
from __future__ import annotations

import json
import re
import statistics
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any


def http(base: str, method: str, path: str, body: Any = None, bearer: str | None = None) -> tuple[int, Any]:
    """One JSON request to the local gateway: its status and its parsed body (None for an error)."""
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("content-type", "application/json")
    if bearer:
        request.add_header("authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """The value below which a fraction `p` of `values` lies (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def parse_latency(text: str) -> float:
    """`--aws-latency`: "10ms", "0.01s" or a bare number of milliseconds, in milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*", text)
    if not m:
        raise ValueError(f"not a latency: {text!r} (say 10ms, 0.01s or 10)")
    value = float(m.group(1))
    return value * 1000 if m.group(2) == "s" else value


def round_trips(p50_at_latency: float, p50_at_zero: float, latency_ms: float) -> float:
    """The sequential AWS calls a request waits on, as a fixed delay of `latency_ms` on every call
    shows them: (p50 at L - p50 at 0) / L. Calls made at the same time count once."""
    if latency_ms <= 0:
        raise ValueError("the round trips need a latency above zero")
    return (p50_at_latency - p50_at_zero) / latency_ms


def calls_per_request(lines: list[dict]) -> str:
    """The DynamoDB calls per request as the log lines count them (median) and the most common
    sequence of operations: "2 (UpdateItem, GetItem)"; "" without lines."""
    if not lines:
        return ""
    count = median([line.get("dynamodb_calls", 0) for line in lines])
    ops = Counter(line.get("dynamodb_ops", "") for line in lines).most_common(1)[0][0]
    return f"{count:g} ({ops.replace(',', ', ') or 'none'})"


def logged_round_trips(lines: list[dict]) -> str:
    """The round trips per request as the log lines give them (median; calls made at the same time
    count once) and the most common rounds, their `|` escaped for a Markdown table:
    "2 (UpdateItem,GetItem \\| TransactWriteItems)"; "" without lines."""
    if not lines:
        return ""
    count = median([line.get("aws_round_trips", 0) for line in lines])
    rounds = Counter(line.get("aws_rounds", "") for line in lines).most_common(1)[0][0].replace("|", "\\|")
    return f"{count:g} ({rounds or 'none'})"


@dataclass(frozen=True)
class Target:
    """A route function's figure against the authenticated floor's: at most `ratio` times it and,
    with `limit`, at most that much in absolute terms."""
    name: str
    field: str
    ratio: float
    limit: float | None = None
    unit: str = ""

    def check(self, value: float, floor: float) -> tuple[bool, str]:
        """Whether `value` meets the target against `floor`, and why not when it does not."""
        missed = []
        if value > self.ratio * floor:
            missed.append(f"{value / floor:.2f}× > {self.ratio}×")
        if self.limit is not None and value > self.limit:
            missed.append(f"> {self.limit / 1e6:g} {self.unit}")
        return not missed, "pass" if not missed else "FAIL (" + ", ".join(missed) + ")"


# Issue 22, TLS on, every route function against the authenticated floor.
AUTH_FLOOR_TARGETS = [
    Target("init + first", "total", 1.2),
    Target("peak RSS", "rss", 1.25, 10_000_000, "MB"),
    Target("zip", "zip", 1.25, 3_000_000, "MB"),
]
def answers_differ(ours: list[tuple[int, bytes]], peer: list[tuple[int, bytes]]) -> list[str]:
    """How a peer's answers to the same events differ from ours (status, then the JSON body but for
    its request id); empty when they match."""
    differences = []
    for i, ((status, body), (peer_status, peer_body)) in enumerate(zip(ours, peer, strict=True)):
        if status != peer_status:
            differences.append(f"answer {i + 1}: HTTP {peer_status}, ours {status}")
            continue
        mine, theirs = json.loads(body or b"null"), json.loads(peer_body or b"null")
        for value in (mine, theirs):
            if isinstance(value, dict):
                value.pop("requestId", None)
        if mine != theirs:
            differences.append(f"answer {i + 1}: {theirs}, ours {mine}")
    return differences


# Issue 22's goal against the Node.js peer: at least 10× faster init + first, at most 1/10 of its peak RSS.
PEER_GOAL = 10.0


def peer_goal(ours: float, peer: float) -> tuple[bool, str]:
    """Whether the peer's figure is at least PEER_GOAL times ours (time or memory)."""
    times = peer / ours
    return times >= PEER_GOAL, f"{'pass' if times >= PEER_GOAL else 'FAIL'} ({times:.1f}× ours, goal ≥ {PEER_GOAL:g}×)"
