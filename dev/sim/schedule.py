"""EventBridge schedules: `rate(...)` expressions, and the thread that invokes a function on one."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING

from .common import ACCOUNT, REGION, StartupError, log
from .pool import InvocationError

if TYPE_CHECKING:
    from .functions import FunctionSpec
    from .stack import Stack


def rate_seconds(expression: str) -> float:
    """`rate(5 minutes)` in seconds; cron expressions are not run locally."""
    m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not m:
        raise StartupError(f"unsupported Schedule {expression!r}: use rate(N minutes|hours|days)")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[m.group(2).rstrip("s")]
    return float(m.group(1)) * unit


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
