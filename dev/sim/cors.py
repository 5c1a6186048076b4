"""CORS as API Gateway HTTP APIs apply an HttpApi's CorsConfiguration."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .common import HTTP_API
from .template import Resolver


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
