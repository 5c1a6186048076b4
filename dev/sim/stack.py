"""The stack: everything `serve` starts (moto, the cache server, the Runtime API, the resources,
the function pools, the pollers, the gateway), each function's environment, and the order to stop
it all in."""
from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from .common import QUEUE, REGION, SECRET, TABLE, VECTOR_BUCKET, StartupError, log, print_lock
from .cors import template_cors
from .functions import FunctionSpec
from .pool import FunctionPool, Instance
from .harness import start_cache, start_moto, start_runtime_api, stop_moto
from .processes import free_port, stop_processes, wait_for_port
from .resources import create_queues, create_secrets, create_tables, create_vector_indexes
from .iam import create_roles
from .router import Router
from .runtime_api import RuntimeApiHandler
from .sam import translation
from .schedule import Scheduler
from .server import QuietServer
from .sqs import SqsPoller
from .streams import StreamPoller
from .template import Resolver, env_str
from .traces import TraceReceiver, default_file, parse_rate


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
        self.pollers: list[threading.Thread] = []  # SQS and stream pollers, schedulers
        self.log_lock = threading.Lock()
        self.log_file = open(args.log_file, "a", encoding="utf-8", buffering=1) if args.log_file else None
        self.endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or ""
        self.runtime_url = ""
        self.router = Router([r for fn in functions for r in fn.routes])
        self.secret_values: dict[str, str] = {}
        self.cors = template_cors(resolver)
        # X-Ray, as Lambda has it for traced functions: a daemon, and a sampling decision per invocation.
        self.trace_sample_rate = parse_rate(resolver.params.get("LocalTraceSampleRate"))
        self.traces = TraceReceiver(Path(args.traces_file) if args.traces_file else default_file(args.prefix))

    def function_log(self, binary: str, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        with self.log_lock:
            if self.log_file:
                self.log_file.write(text + "\n")
            if not self.quiet:
                with print_lock:
                    sys.stderr.write(f"[{binary}] {text}\n")
                    sys.stderr.flush()

    def client(self, service: str, credentials: dict[str, str] | None = None) -> Any:
        """A client with the stack's own credentials, or with a function's (`credentials`)."""
        keys = {"aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": credentials["AWS_SESSION_TOKEN"]} if credentials else {}
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **keys,
                            config=Config(retries={"max_attempts": 3}, connect_timeout=5, read_timeout=10))

    def serve_in_thread(self, server: QuietServer) -> None:
        server.stack = self
        self.servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def start_moto(self) -> None:
        port = self.args.moto_port or free_port()
        self.moto = start_moto(port, stderr=subprocess.PIPE)
        threading.Thread(target=self.read_moto_errors, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def read_moto_errors(self) -> None:
        """Keeps moto's last lines (for a failed start) and shows each call IAM refused."""
        for raw in self.moto.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.moto_errors.append(line)
            if "IAM DENIED" in line:
                log(line)

    def start_cache(self) -> None:
        port = self.args.cache_port or free_port()
        self.cache = start_cache(port)
        self.cache_endpoint = f"redis://127.0.0.1:{port}"

    def wait_for_endpoint(self) -> None:
        url = urlsplit(self.endpoint)
        port = url.port or (443 if url.scheme == "https" else 80)
        if not wait_for_port(url.hostname or "127.0.0.1", port, 15 if self.moto else 5, self.moto):
            detail = "\n".join(self.moto_errors) if self.moto else "is it running?"
            raise StartupError(f"DynamoDB/SQS endpoint {self.endpoint} does not answer: {detail}")

    def template_variables(self, fn: FunctionSpec) -> dict[str, str]:
        """The function's variables from the template, resolved, with the stack's cache for the
        functions the template gives the cache."""
        variables = {k: env_str(v) for k, v in self.resolver.resolve(fn.env).items() if v is not None}
        if "CACHE_ENDPOINT" in fn.env:
            variables["CACHE_ENDPOINT"] = self.cache_endpoint
        return variables

    def function_env(self, fn: FunctionSpec) -> dict[str, str]:
        """Parent env < endpoint < template variables < Lambda's reserved variables < --env."""
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_MAX_CONCURRENCY"}
        env.update({"AWS_ENDPOINT_URL": self.endpoint, "NO_COLOR": "1"})  # plain logs for grepping
        env.update(self.template_variables(fn))
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": fn.binary, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory), "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.binary}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            **fn.credentials, "_HANDLER": "bootstrap", "LAMBDA_TASK_ROOT": str(self.bin_dir), "TZ": ":UTC",
            "AWS_XRAY_DAEMON_ADDRESS": self.traces.address})
        env.update(self.args.env)
        return env

    def write_env_file(self, path: Path) -> None:
        """One environment for every function, for `cargo lambda watch --env-file`, which runs them all
        with one: the template's variables of all of them (they differ only in which secret and cache
        a function is given), the endpoint, and the stack's own credentials (IAM is not enforced there)."""
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
               "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
               "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}
        for fn in self.functions:
            env.update({k: v for k, v in self.template_variables(fn).items() if v or k not in env})
        env.update(self.args.env)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())), encoding="utf-8")

    def start(self, gateway: QuietServer) -> None:
        if not self.args.no_cache and not self.cache_endpoint:
            self.start_cache()  # first: no thread of ours is running yet when it forks
        if not self.endpoint:
            self.start_moto()  # boots in the background while we get the rest ready
        self.traces.start()
        runtime = start_runtime_api(RuntimeApiHandler)
        runtime.stack = self
        self.servers.append(runtime)
        self.runtime_url = f"http://127.0.0.1:{runtime.server_address[1]}"
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
        # Each function runs as its role (SAM's translation of the template), once the resources its
        # policies name exist.
        credentials = create_roles(self.client("iam"), self.client("sts"), self.resolver, translation(self.resolver),
                                   self.args.without_permission)
        if self.args.write_env_file:
            self.write_env_file(Path(self.args.write_env_file))
        for fn in self.functions:
            fn.credentials = credentials[fn.logical_id]
            fn.env, fn.pool = self.function_env(fn), FunctionPool(fn, self)
            for source in fn.sqs:
                self.pollers.append(SqsPoller(self, fn, source))
            for stream in fn.streams:
                self.pollers.append(StreamPoller(self, fn, stream))
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
            stop_moto(self.moto)
        if self.cache:
            stop_processes([self.cache])
        self.traces.close()
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
            for t in fn.streams:
                log(f"stream of {self.resolver.local_name(t.table)} -> {fn.binary} (batch {t.batch_size}"
                    f"{', ReportBatchItemFailures' if t.report_failures else ''})")
