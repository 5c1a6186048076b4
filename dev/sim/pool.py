"""Lambda instances: the invocation queue of one function, its instances (child processes started
on demand up to --max-instances), init and invocation timeouts, and the Runtime API's side of it
(next invocation, response, error)."""
from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .common import REPO, log
from .processes import kill_group

if TYPE_CHECKING:
    from .functions import FunctionSpec
    from .stack import Stack

INIT_TIMEOUT = 10.0      # Lambda's limit for a runtime to reach its first /next.
GRACE = 0.5              # Slack past the function timeout before the instance is killed.
# Lambda's synchronous invocation payload limits: an Invoke over the first is refused, a response over
# the second is refused to the runtime (6 MB each; "Invocation payload (request and response)" in
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
REQUEST_LIMIT = 6 * 1024 * 1024
RESPONSE_LIMIT = 6 * 1024 * 1024 + 100   # Lambda's own figure: "maximum allowed payload size (6291556 bytes)"


class InvocationError(Exception):
    """The invocation failed: refused (throttled, payload too large), function error, crash, the
    function's timeout, the caller's wait limit or shutdown."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        # The caller's wait limit (API Gateway's integration timeout) passed first; the function's own
        # timeout is a function error, as Lambda reports it.
        self.timed_out = timed_out


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


class FunctionPool:
    """The instances of one function. Invocations wait in a FIFO queue; instances pull from it
    in /next, as in Lambda, and a new instance starts when no idle or starting one can take it."""

    def __init__(self, spec: FunctionSpec, stack: "Stack"):
        self.spec, self.stack = spec, stack
        self.cond = threading.Condition()
        self.queue: deque[Invocation] = deque()
        self.instances: dict[str, Instance] = {}
        self.closed = False

    def invoke(self, payload: bytes, wait_limit: float | None = None, refuse_over_reserved: bool = False) -> bytes:
        """Run one invocation to completion, or give up on it after `wait_limit` seconds (the function
        runs on; its answer is dropped); raises InvocationError. With `refuse_over_reserved`, as
        Lambda's Invoke does, an invocation is refused at once while the function's reserved
        concurrency is all in use (event sources and schedules wait: Lambda retries those itself)."""
        if len(payload) > REQUEST_LIMIT:
            raise InvocationError(f"Request must be smaller than {REQUEST_LIMIT} bytes for the InvokeFunction "
                                  f"operation (RequestTooLargeException: {len(payload)} bytes)")
        inv, queued_at = Invocation(payload), time.monotonic()
        with self.cond:
            if self.closed:
                raise InvocationError("the local stack is shutting down")
            if refuse_over_reserved and self.spec.reserved and self.in_flight() >= self.spec.reserved:
                raise InvocationError(f"Rate Exceeded. (TooManyRequestsException: ReservedFunctionConcurrentInvocation"
                                      f"LimitExceeded, {self.spec.reserved} reserved)")
            self.queue.append(inv)
            self._scale()
            self.cond.notify_all()
        while True:
            with self.cond:
                now = time.monotonic()
                if inv.done.is_set():
                    break
                if inv.instance and now > inv.deadline + GRACE:
                    self._kill(inv.instance, f"{inv.id} Task timed out after {self.spec.timeout:.2f} seconds")
                elif wait_limit and now - queued_at > wait_limit:
                    if inv.instance is None:
                        self.queue.remove(inv)
                    else:  # it runs on: its timeout still ends it
                        ender = threading.Timer(inv.deadline + GRACE - now, self._end_if_running, (inv.instance, inv))
                        ender.daemon = True
                        ender.start()
                    inv.timed_out = True
                    inv.finish(error=f"no answer within {wait_limit:g} s")
                for inst in list(self.instances.values()):
                    if inst.state == "starting" and inst.alive and now - inst.started > INIT_TIMEOUT:
                        self._kill(inst, f"init did not finish within {INIT_TIMEOUT:.0f} s")
                wait = inv.deadline + GRACE - now if inv.instance else 0.5
                if wait_limit:
                    wait = min(wait, queued_at + wait_limit - now)
            inv.done.wait(max(0.01, wait))
        if inv.error is not None:
            raise InvocationError(inv.error, inv.timed_out)
        return inv.result or b""

    def in_flight(self) -> int:
        """Invocations queued or running (locked): the function's concurrency, as Lambda counts it."""
        running = sum(1 for i in self.instances.values() if i.current and not i.current.done.is_set())
        return len(self.queue) + running

    def _scale(self) -> None:
        """Start instances while queued invocations outnumber idle and starting ones (locked)."""
        available = sum(1 for i in self.instances.values() if i.alive and i.state != "busy")
        # At most --max-instances, and no more than the function's reserved concurrency.
        limit = min(self.stack.max_instances, self.spec.reserved or self.stack.max_instances)
        while len(self.queue) > available and len(self.instances) < limit:
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

    def _end_if_running(self, inst: Instance, inv: Invocation) -> None:
        """Kills an instance still running `inv` past its timeout (an invocation its caller gave up on)."""
        with self.cond:
            if inst.alive and inst.current is inv:
                self._kill(inst, f"{inv.id} Task timed out after {self.spec.timeout:.2f} seconds")

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
