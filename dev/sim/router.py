"""API Gateway HTTP API route selection: a route's key and rank, path matching with {param} and
{proxy+}, stage prefixes, and the most specific match winning; and each route's own settings, its
integration timeout and its throttling."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from .functions import FunctionSpec


class TokenBucket:
    """API Gateway's throttling of one route: `burst` requests at once, refilled at `rate` a second
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html)."""

    def __init__(self, burst: int, rate: float):
        self.burst, self.rate = burst, rate
        self.tokens, self.refilled = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        """Whether a request may pass now (taking a token)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
            self.refilled = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


@dataclass
class Route:
    method: str             # upper-case, or ANY
    path: str               # template path such as /api/markets/{id}; "$default" = catch-all
    function: "FunctionSpec"
    stage: str = "$default"
    segments: list[str] = field(default_factory=list)   # stage-prefixed path template segments
    timeout: float = 30.0   # the integration's timeoutInMillis, in seconds (HTTP APIs' default and most)
    throttle: TokenBucket | None = None   # the stage's DefaultRouteSettings or its RouteSettings for this route

    @property
    def key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def rank(self) -> tuple:
        """Sort key, most specific first: literal < {x} < {x+} per segment, then method < ANY."""
        kinds = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)
        return (self.path == "$default", kinds, self.method == "ANY")


def split_path(path: str) -> list[str]:
    return path[1:].split("/") if path not in ("", "/") else []


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
