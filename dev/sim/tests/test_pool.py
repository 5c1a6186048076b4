"""Lambda instances: a stand-in runtime (a Python script) talking to the Runtime API emulator, run
by a function pool: answers, function errors, crashes, timeouts, the instance limit, and Lambda's
limits: reserved concurrency, 6 MB payloads, a caller that stops waiting."""
import itertools
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from sim.functions import FunctionSpec
from sim.pool import REQUEST_LIMIT, RESPONSE_LIMIT, FunctionPool, InvocationError
from sim.processes import stop_processes
from sim.runtime_api import RuntimeApiHandler
from sim.server import QuietServer

# Answers each event {"sleep": s, "exit": code, "fail": true, "pad": n} after sleeping s seconds:
# exits with `code`, reports a function error, or answers {"pid": its pid, "event": the event} (with
# n more bytes); a refused answer is reported as {"refused": the Runtime API's status and answer}.
RUNTIME = f"""#!{sys.executable}
import json, os, sys, time, urllib.error, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id, event = response.headers["Lambda-Runtime-Aws-Request-Id"], json.load(response)
    time.sleep(event.get("sleep", 0))
    if "exit" in event:
        sys.exit(event["exit"])
    outcome = "error" if event.get("fail") else "response"
    body = json.dumps({{"pid": os.getpid(), "event": event, "pad": "x" * event.get("pad", 0)}}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(api + request_id + "/" + outcome, data=body)).read()
    except urllib.error.HTTPError as refused:
        print(json.dumps({{"refused": [refused.code, json.load(refused)]}}), flush=True)
"""


@pytest.fixture
def pool(tmp_path):
    """A pool of the stand-in runtime, at most 2 instances, 1 s timeout; stopped after the test."""
    (tmp_path / "stand-in").write_text(RUNTIME)
    (tmp_path / "stand-in").chmod(0o755)
    runtime = QuietServer(("127.0.0.1", 0), RuntimeApiHandler)
    stack = SimpleNamespace(max_instances=2, instance_ids=itertools.count(1), runtime_instances={},
                            trace_sample_rate=0,
                            runtime_url=f"http://127.0.0.1:{runtime.server_address[1]}", bin_dir=tmp_path,
                            function_log=lambda binary, line: stack.output.append(line), output=[])
    runtime.stack = stack
    threading.Thread(target=runtime.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    pool = FunctionPool(FunctionSpec("StandIn", "stand-in", 1.0, 128, dict(os.environ)), stack)
    yield pool
    stop_processes(pool.close())
    runtime.shutdown()
    runtime.server_close()


def invoke(pool: FunctionPool, wait_limit: float = 20, **event) -> dict:
    return json.loads(pool.invoke(json.dumps(event).encode(), wait_limit=wait_limit))


def test_an_invocation_gets_the_function_answer(pool):
    first, second = invoke(pool, n=1), invoke(pool, n=2)
    assert (first["event"], second["event"]) == ({"n": 1}, {"n": 2})
    assert first["pid"] == second["pid"]  # a warm instance takes the next invocation


def test_a_function_error_fails_the_invocation(pool):
    with pytest.raises(InvocationError, match="function error"):
        invoke(pool, fail=True)
    assert invoke(pool, n=1)["event"] == {"n": 1}


def test_a_crash_fails_the_invocation_and_a_new_instance_takes_the_next(pool):
    with pytest.raises(InvocationError, match="stand-in exited with code 3 during the invocation"):
        invoke(pool, exit=3)
    assert invoke(pool, n=1)["event"] == {"n": 1}


def test_a_function_past_its_timeout_is_killed(pool):
    started = time.monotonic()
    with pytest.raises(InvocationError, match="Task timed out after 1.00 seconds") as error:
        invoke(pool, sleep=30)
    assert not error.value.timed_out and time.monotonic() - started < 10  # a function error, as in Lambda
    assert invoke(pool, n=1)["event"] == {"n": 1}


def test_instances_start_on_demand_up_to_the_limit(pool):
    with ThreadPoolExecutor(4) as workers:
        answers = list(workers.map(lambda n: invoke(pool, n=n, sleep=0.3), range(4)))
    assert sorted(a["event"]["n"] for a in answers) == [0, 1, 2, 3]
    # Two started for the four queued invocations; how many answered depends on how fast they started.
    assert len(pool.instances) == 2 and len({a["pid"] for a in answers}) <= 2


def test_a_closed_pool_refuses_invocations(pool):
    stop_processes(pool.close())
    with pytest.raises(InvocationError, match="shutting down"):
        invoke(pool, n=1)


def test_a_caller_that_stops_waiting_leaves_the_function_running_until_its_timeout(pool):
    # The caller's limit (API Gateway's integration timeout) answered, not the function's own.
    with pytest.raises(InvocationError, match="no answer within 0.3 s") as error:
        invoke(pool, wait_limit=0.3, sleep=30)
    assert error.value.timed_out
    (instance,) = pool.instances.values()
    assert instance.current is not None and instance.alive  # still running the abandoned invocation
    for _ in range(100):  # its own timeout (1 s) still ends it
        if not instance.alive:
            break
        time.sleep(0.05)
    assert not instance.alive
    assert invoke(pool, n=1)["event"] == {"n": 1}


def test_over_its_reserved_concurrency_an_invocation_is_refused_at_once(pool):
    pool.spec.reserved = 1
    with ThreadPoolExecutor(1) as workers:
        busy = workers.submit(invoke, pool, sleep=0.5)
        for _ in range(100):  # until the first one is in flight
            if pool.in_flight():
                break
            time.sleep(0.01)
        with pytest.raises(InvocationError, match="Rate Exceeded"):
            pool.invoke(b"{}", wait_limit=20, refuse_over_reserved=True)
        assert busy.result()["event"] == {"sleep": 0.5}
    assert invoke(pool, n=1)["event"] == {"n": 1}  # event sources wait instead


def test_payloads_over_6_mb_are_refused_both_ways(pool):
    with pytest.raises(InvocationError, match="Request must be smaller than 6291456 bytes"):
        pool.invoke(json.dumps({"pad": "x" * REQUEST_LIMIT}).encode())
    assert pool.instances == {}  # refused before any instance ran
    assert invoke(pool, pad=RESPONSE_LIMIT - 200)["event"]["pad"] == RESPONSE_LIMIT - 200  # just under
    with pytest.raises(InvocationError, match="function error"):
        invoke(pool, pad=RESPONSE_LIMIT)
    for _ in range(100):  # the runtime's output comes through its pipe a moment later
        refused = [json.loads(line) for line in pool.stack.output if line.startswith(b'{"refused"')]
        if refused:
            break
        time.sleep(0.05)
    assert refused == [{"refused": [413, {"errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                                          "errorType": "RequestEntityTooLarge"}]}]
