"""The template's functions as SAM's translator makes them: each AWS::Lambda::Function with its
settings, its HTTP API routes, SQS and DynamoDB stream sources and schedules, and where cargo puts
its binary."""
from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .common import LAMBDA_FUNCTION, QUEUE, REPO, TABLE, StartupError
from .router import Route, TokenBucket, split_path
from .sam import translation
from .schedule import rate_seconds
from .template import Resolver, env_str, function_binary, referenced_ids

EVENT_SOURCE_MAPPING, SCHEDULE_RULE = "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule"
HTTP_API_V2, HTTP_API_STAGE = "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"

if TYPE_CHECKING:
    from .pool import FunctionPool


@dataclass
class SqsSource:
    queue: str              # logical id of the queue
    batch_size: int
    report_failures: bool   # FunctionResponseTypes: [ReportBatchItemFailures]


@dataclass
class StreamSource:
    table: str              # logical id of the table whose stream it reads
    batch_size: int
    report_failures: bool   # FunctionResponseTypes: [ReportBatchItemFailures]
    bisect: bool            # BisectBatchOnFunctionError
    max_retries: int        # MaximumRetryAttempts (-1: until the records expire)
    starting_position: str  # TRIM_HORIZON or LATEST


@dataclass
class FunctionSpec:
    logical_id: str
    binary: str
    timeout: float
    memory: int
    env: dict[str, str]
    reserved: int | None = None   # ReservedConcurrentExecutions: at most this many instances
    routes: list[Route] = field(default_factory=list)
    sqs: list[SqsSource] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)
    schedules: list[float] = field(default_factory=list)   # seconds between scheduled invocations
    credentials: dict[str, str] = field(default_factory=dict)  # its role's, as AWS_* variables
    pool: "FunctionPool | None" = None


def discover_functions(template: dict, res: Resolver) -> list[FunctionSpec]:
    """Every function as CloudFormation gets it from SAM's translator (AWS::Lambda::Function, Globals
    merged: environment, memory, timeout, reserved concurrency), with its event sources from the same
    translation: the HTTP API's routes (its OpenAPI body), SQS event source mappings, schedule rules."""
    resources = translation(res)["Resources"]
    functions: dict[str, FunctionSpec] = {}
    for lid, resource in resources.items():
        if resource.get("Type") != LAMBDA_FUNCTION:
            continue
        props = resource.get("Properties") or {}
        reserved = res.resolve(props.get("ReservedConcurrentExecutions"))
        functions[lid] = FunctionSpec(
            lid, function_binary(lid, resource), float(res.resolve(props.get("Timeout", 3))),
            int(res.resolve(props.get("MemorySize", 128))),
            dict((props.get("Environment") or {}).get("Variables") or {}),  # resolved once queue URLs exist
            None if reserved is None else int(reserved))
    for lid, resource in resources.items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == HTTP_API_V2:
            add_routes(functions, props, api_stage(resources, lid, res), res)
        elif resource.get("Type") == EVENT_SOURCE_MAPPING:
            fn = functions[target_function(props.get("FunctionName"), functions)]
            source = next(iter(referenced_ids(props.get("EventSourceArn"))), None)
            report_failures = "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])
            kind = res.resources.get(source, {}).get("Type")
            if kind == TABLE:
                fn.streams.append(StreamSource(
                    source, int(res.resolve(props.get("BatchSize", 100))), report_failures,
                    res.resolve(props.get("BisectBatchOnFunctionError", False)) in (True, "true"),
                    int(res.resolve(props.get("MaximumRetryAttempts", -1))),
                    str(res.resolve(props.get("StartingPosition", "LATEST")))))
            elif kind == QUEUE:
                fn.sqs.append(SqsSource(source, int(res.resolve(props.get("BatchSize", 10))), report_failures))
            else:
                raise StartupError(f"{fn.logical_id}: an event source must be !GetAtt <Queue>.Arn of a template "
                                   "queue or !GetAtt <Table>.StreamArn of a template table")
        elif resource.get("Type") == SCHEDULE_RULE:
            for target in props.get("Targets") or []:
                functions[target_function(target.get("Arn"), functions)].schedules.append(
                    rate_seconds(str(res.resolve(props.get("ScheduleExpression", "")))))
    return list(functions.values())


def target_function(reference: object, among: dict | set) -> str:
    """The logical id (one of `among`) that a translated reference (Ref, GetAtt, ${X.Arn}) names."""
    return next((lid for lid in referenced_ids(reference) if lid in among), "")


def api_stage(resources: dict, api: str, res: Resolver) -> dict:
    """The resolved properties of the stage SAM made for the HTTP API (StageName, DefaultRouteSettings,
    RouteSettings), {} if it made none."""
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == HTTP_API_STAGE and target_function(props.get("ApiId"), {api}) == api:
            return res.resolve(props)
    return {}


def add_routes(functions: dict[str, FunctionSpec], api: dict, stage: dict, res: Resolver) -> None:
    """The routes of an HTTP API's OpenAPI body, each to the function its integration invokes, with
    its integration timeout and the stage's throttling for it."""
    stage_name = env_str(stage.get("StageName", "$default"))
    for path, methods in ((api.get("Body") or {}).get("paths") or {}).items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
            if not integration:
                continue  # path-level parameters, not an operation
            fn = functions[target_function(integration.get("uri"), functions)]
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            route = make_route(fn, verb, path, stage_name)
            route.timeout = int(res.resolve(integration.get("timeoutInMillis", 30000))) / 1000
            own = (stage.get("RouteSettings") or {}).get(route.key) or {}
            settings = {**(stage.get("DefaultRouteSettings") or {}), **own}
            if "ThrottlingBurstLimit" in settings or "ThrottlingRateLimit" in settings:
                route.throttle = TokenBucket(int(settings.get("ThrottlingBurstLimit", 5000)),
                                             float(settings.get("ThrottlingRateLimit", 10000)))
            fn.routes.append(route)


def make_route(fn: FunctionSpec, method: str, path: str, stage: str) -> Route:
    route = Route(method, path, fn, stage)
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
