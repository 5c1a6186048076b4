"""The API Gateway HTTP API payload format 2.0: the event a request becomes, the HTTP response a
function's answer becomes, and the gateway's own errors in the contract's JSON shape."""
from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .common import ACCOUNT
from .pool import InvocationError
from .template import env_str

if TYPE_CHECKING:
    from .gateway import GatewayHandler
    from .router import Route

JSON_HEADERS = [("content-type", "application/json")]


def build_event(h: "GatewayHandler", route: Route, params: dict[str, str], path: str, query: str,
                body: bytes | None, request_id: str) -> dict:
    """The API Gateway HTTP API payload format 2.0 event for this request."""
    peer = h.client_address[0]
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
    domain = (headers.get("host") or h.server.server_address[0]).rsplit(":", 1)[0].strip("[]")
    return v2_event(h.command, route.key, route.stage, path, query, headers, body, params, request_id, peer,
                    domain, protocol=h.request_version, cookies=cookies)


def v2_event(method: str, route_key: str, stage: str, path: str, query: str, headers: dict[str, str],
             body: bytes | None, params: dict[str, str] | None, request_id: str, source_ip: str, domain: str,
             protocol: str = "HTTP/1.1", cookies: list[str] | None = None, api_id: str = "local") -> dict:
    """A payload format 2.0 event from the request's parts (`headers` lower-cased, cookies apart),
    as the gateway and dev/bench_cold.py make them."""
    now = time.time()
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}")
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": query}
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
    event["requestContext"] = {
        "accountId": ACCOUNT, "apiId": api_id, "domainName": domain, "domainPrefix": domain.split(".")[0],
        "http": {"method": method, "path": path, "protocol": protocol,
                 "sourceIp": source_ip, "userAgent": headers.get("user-agent", "")},
        "requestId": request_id, "routeKey": route_key, "stage": stage,
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


# API Gateway's own answers, which are not the contract's envelope: {"message": <reason>} and its
# apigw-requestid header (added by the gateway to every answer), no x-request-id.
AWS_REASONS = {413: "Request Entity Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
               503: "Service Unavailable"}


def aws_error(status: int) -> tuple[int, list[tuple[str, str]], bytes]:
    """An answer API Gateway gives itself, as an HTTP API does."""
    return status, JSON_HEADERS, json.dumps({"message": AWS_REASONS[status]}, separators=(",", ":")).encode()


def gateway_error(status: int, message: str, code: str, request_id: str,
                  allow: list[str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """The gateway's own error, in the contract's shape; `allow` lists each method once."""
    body = {"success": False, "error": message, "code": code, "requestId": request_id}
    headers = [*JSON_HEADERS, ("x-request-id", request_id)]
    if allow:
        headers.append(("allow", ", ".join(dict.fromkeys(allow))))
    return status, headers, json.dumps(body, separators=(",", ":")).encode()
