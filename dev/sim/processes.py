"""Child processes: stopping process groups, dying with the parent, ports to listen on and wait for."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time


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
