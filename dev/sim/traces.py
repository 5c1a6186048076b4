"""Traces, locally: what Lambda's X-Ray daemon is to a traced function. The stack mints each
invocation's trace header (`Sampled=1` for a share `LocalTraceSampleRate` of them), receives the
functions' segment documents on the daemon's UDP port (AWS_XRAY_DAEMON_ADDRESS) and appends each to
a JSON lines file; `dev/traces` prints a trace from it as an indented tree."""
from __future__ import annotations

import argparse
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .common import REPO, log

DAEMON_HEADER = b'{"format": "json", "version": 1}\n'


def default_file(prefix: str) -> Path:
    return REPO / "target" / "traces" / f"{prefix}.jsonl"


EVENT_TRACE_ROOT = re.compile(rb'"x-amzn-trace-id": "Root=(1-[0-9a-f]{8}-[0-9a-f]{24})')


def mint_header(sample_rate: float, payload: bytes = b"") -> str:
    """The header Lambda gives an invocation: the trace of the HTTP request's X-Amzn-Trace-Id (API
    Gateway's, or the client's) if `payload` is one, else a new trace; its function segment's id as
    the parent; sampled at `sample_rate`."""
    sampled = sample_rate >= 1 or random.random() < sample_rate
    given = EVENT_TRACE_ROOT.search(payload)
    root = given.group(1).decode() if given else f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled={int(sampled)}"


class TraceReceiver(threading.Thread):
    """The daemon's UDP port on loopback: each datagram's document, one JSON line in `path`."""

    def __init__(self, path: Path):
        super().__init__(name="xray-daemon", daemon=True)
        self.path = path
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.socket.getsockname()[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(path, "a", encoding="utf-8", buffering=1)
        self.received = 0  # documents written

    def run(self) -> None:
        while True:
            try:
                datagram = self.socket.recv(65536)
            except OSError:  # closed: the stack stops
                return
            header, _, document = datagram.partition(b"\n")
            try:
                if json.loads(header) != json.loads(DAEMON_HEADER):
                    raise ValueError(f"header {header!r}")
                self.out.write(json.dumps(json.loads(document)) + "\n")
                self.received += 1
            except ValueError as e:
                log(f"X-Ray daemon: a datagram that is not a segment document ({e})")

    def close(self) -> None:
        self.socket.close()
        self.out.close()


def read_documents(path: Path) -> list[dict]:
    documents = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            documents.append(json.loads(line))
        except ValueError:
            pass
    return documents


def flatten(document: dict, parent: str | None) -> list[dict]:
    """A document and its nested subsegments as nodes, each naming its parent."""
    node = {k: v for k, v in document.items() if k != "subsegments"}
    node["parent_id"] = parent if parent is not None else document.get("parent_id")
    nodes = [node]
    for sub in document.get("subsegments") or []:
        nodes.extend(flatten(sub, document["id"]))
    return nodes


def trace_nodes(documents: list[dict], trace_id: str) -> list[dict]:
    return [node for d in documents if d.get("trace_id") == trace_id for node in flatten(d, None)]


def describe(node: dict) -> str:
    duration = (node.get("end_time", 0) - node.get("start_time", 0)) * 1000
    aws = node.get("aws") or {}
    details = [f"{k}={aws[k]}" for k in ("operation", "table_name", "queue_url", "index_arn", "message_id", "retries",
                                         "consumed_capacity") if aws.get(k) not in (None, "", 0)]
    details += [f"{k}={v}" for k, v in (node.get("annotations") or {}).items()]
    status = ((node.get("http") or {}).get("response") or {}).get("status")
    if status:
        details.append(f"status={status}")
    details += [flag for flag in ("error", "throttle", "fault") if node.get(flag)]
    kind = "segment" if node.get("type") != "subsegment" and "origin" in node else "span"
    name = f"{node.get('name')} [{kind}]" if kind == "segment" else node.get("name")
    return f"{name} {duration:.1f} ms  {' '.join(details)}".rstrip()


def tree(nodes: list[dict]) -> list[str]:
    """Nodes as indented lines, each under its parent, in start order; a node whose parent is not
    here (Lambda's own segment, which AWS records) is a root."""
    ids = {node["id"] for node in nodes}
    children: dict[str | None, list[dict]] = {}
    for node in nodes:
        parent = node.get("parent_id") if node.get("parent_id") in ids else None
        children.setdefault(parent, []).append(node)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for node in sorted(children.get(parent, []), key=lambda n: n.get("start_time", 0)):
            lines.append("  " * depth + describe(node))
            walk(node["id"], depth + 1)

    walk(None, 0)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev/traces", description="Print a trace the local stack received "
                                     "as an indented tree: the latest by default.")
    parser.add_argument("trace_id", nargs="?", help="an X-Ray trace id (1-xxxxxxxx-...); default: the latest")
    parser.add_argument("--file", help="the stack's traces (default: target/traces/<prefix>.jsonl)")
    parser.add_argument("--prefix", default="local", help="the stack's resource prefix (default local)")
    parser.add_argument("--list", action="store_true", help="list the traces, latest last")
    parser.add_argument("--json", action="store_true", help="print the trace's documents as JSON lines")
    args = parser.parse_args(argv)
    path = Path(args.file) if args.file else default_file(args.prefix)
    documents = read_documents(path)
    if not documents:
        print(f"no traces in {path} (is the stack running with traces sampled? see LocalTraceSampleRate)",
              file=sys.stderr)
        return 1
    started: dict[str, float] = {}
    for d in documents:
        started[d["trace_id"]] = min(started.get(d["trace_id"], d.get("start_time", 0)), d.get("start_time", 0))
    if args.list:
        for trace_id, at in sorted(started.items(), key=lambda item: item[1]):
            roots = [d.get("name") for d in documents if d["trace_id"] == trace_id]
            print(f"{trace_id}  {time.strftime('%H:%M:%S', time.gmtime(at))}  {' '.join(roots)}")
        return 0
    # The latest request's trace, by default (each scheduled sweep is a trace of its own too).
    requests = {d["trace_id"] for d in documents if "route" in (d.get("annotations") or {})} or set(started)
    trace_id = args.trace_id or max(requests, key=lambda t: started[t])
    if trace_id not in started:
        print(f"no trace {trace_id} in {path}", file=sys.stderr)
        return 1
    if args.json:
        for d in documents:
            if d["trace_id"] == trace_id:
                print(json.dumps(d))
        return 0
    print(f"trace {trace_id}")
    for line in tree(trace_nodes(documents, trace_id)):
        print("  " + line)
    return 0


def print_where(path: Path) -> None:
    print(f"Traces: {path} (print the latest: dev/traces; one: dev/traces <trace id>; all: dev/traces --list)",
          flush=True)


def parse_rate(value: Any) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        return 0.0
    return min(max(rate, 0.0), 1.0)
