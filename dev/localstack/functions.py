"""The template's functions: each AWS::Serverless::Function with its settings (Globals merged), its
HttpApi routes, SQS sources and schedules, and where cargo puts its binary."""
from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .common import FUNCTION, QUEUE, REPO, StartupError
from .router import Route, split_path
from .schedule import rate_seconds
from .template import Resolver, env_str, function_binary, referenced_ids

if TYPE_CHECKING:
    from .pool import FunctionPool


@dataclass
class SqsSource:
    queue: str              # logical id of the queue
    batch_size: int
    report_failures: bool   # FunctionResponseTypes: [ReportBatchItemFailures]


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
    credentials: dict[str, str] = field(default_factory=dict)  # its role's, as AWS_* variables
    pool: "FunctionPool | None" = None


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


def make_route(fn: FunctionSpec, props: dict, res: Resolver) -> Route:
    api = res.resources.get(next(iter(referenced_ids(props.get("ApiId"))), ""), {})
    stage = env_str(res.resolve((api.get("Properties") or {}).get("StageName", "$default")))
    path = props.get("Path", "$default")
    route = Route(str(props.get("Method", "ANY")).upper(), path, fn, stage)
    # A named stage prefixes every URL path with /<stage>; $default serves paths as they are.
    route.segments = ([stage] if stage != "$default" else []) + (split_path(path) if path != "$default" else [])
    return route


@functools.cache
def cargo_target_dir() -> Path:
    """Where cargo builds this workspace (honouring CARGO_TARGET_DIR and a configured target-dir),
    from `cargo metadata`; asked once per process, since it takes ~0.1 s."""
    command = ["cargo", "metadata", "--format-version", "1", "--no-deps"]
    try:
        out = subprocess.run(command, cwd=REPO, check=True, capture_output=True).stdout
        return Path(json.loads(out)["target_directory"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as e:
        detail = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else e
        raise StartupError(f"cannot find cargo's target directory ({' '.join(command)}: {detail}); "
                           "pass --bin-dir") from e


def default_bin_dir() -> Path:
    """Where `cargo build -p functions` puts the function binaries."""
    return cargo_target_dir() / "debug"
