"""IAM as AWS evaluates an identity's policies, for the requests our functions make: what (action,
resource) pairs a request needs, with the action names of AWS's service authorization reference, and
whether a set of policy documents allows each one (wildcards in Action and Resource, NotAction and
NotResource, an explicit Deny wins, nothing allowed means denied).

Used by dev/moto_server.py, which refuses a function's call that its role does not allow: moto's own
IAM evaluates every DynamoDB request against resource `*`, so it would miss a grant on the wrong
table or a missing index ARN."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .common import ACCOUNT, REGION

# Actions inside TransactWriteItems, each authorized on its own table (there is no IAM action for the
# transaction itself); TransactGetItems' Gets need GetItem.
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
# SQS batch calls are authorized as their single-message action.
SQS_BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                     "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


@dataclass(frozen=True)
class Request:
    """What IAM needs of one HTTP request to an AWS API."""
    service: str      # the signing name of the credential scope (dynamodb, sqs, s3vectors, bedrock...)
    target: str       # X-Amz-Target, for JSON protocols
    path: str
    body: bytes


def table_arn(name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def stream_needs(operation: str, body: dict) -> list[tuple[str, str]]:
    """DynamoDB Streams (signed as dynamodb): on the stream's ARN, which GetRecords names only through
    its shard iterator (moto's iterators start with the stream's ARN and a `|`; AWS's are opaque to
    the caller but IAM checks the same ARN)."""
    arn = body.get("StreamArn") or str(body.get("ShardIterator", "")).split("|", 1)[0]
    return [(f"dynamodb:{operation}", arn or "*")]


def dynamodb_needs(operation: str, body: dict) -> list[tuple[str, str]]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        needs = []
        for item in body.get("TransactItems") or []:
            for kind, spec in item.items():
                needs.append((f"dynamodb:{TRANSACT_ACTIONS[kind]}", table_arn(spec.get("TableName", ""))))
        return needs
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{operation}", table_arn(name)) for name in body.get("RequestItems") or {}]
    if "TableName" not in body:
        return [(f"dynamodb:{operation}", "*")]  # DescribeEndpoints, ListTables: no resource
    arn = table_arn(body["TableName"])
    return [(f"dynamodb:{operation}", f"{arn}/index/{body['IndexName']}" if body.get("IndexName") else arn)]


def queue_arn(url_or_name: str) -> str:
    name = urlsplit(url_or_name).path.rstrip("/").rsplit("/", 1)[-1]
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def sqs_needs(target: str, body: bytes) -> list[tuple[str, str]]:
    if target:  # the JSON protocol
        operation, params = target.rsplit(".", 1)[-1], json.loads(body or b"{}")
    else:       # the query protocol
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        operation, params = form.get("Action", ""), form
    action = f"sqs:{SQS_BATCH_ACTIONS.get(operation, operation)}"
    queue = params.get("QueueUrl") or params.get("QueueName")
    return [(action, queue_arn(queue) if queue else "*")]


def s3vectors_needs(path: str, body: dict) -> list[tuple[str, str]]:
    operation = path.strip("/").split("/")[-1]
    if body.get("indexArn"):
        resource = body["indexArn"]
    else:
        bucket_arn = body.get("vectorBucketArn") or f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{body.get('vectorBucketName', '')}"
        resource = f"{bucket_arn}/index/{body['indexName']}" if body.get("indexName") else bucket_arn
    needs = [(f"s3vectors:{operation}", resource)]
    # A query that filters on metadata or returns it reads the vectors' metadata: GetVectors too.
    if operation == "QueryVectors" and (body.get("returnMetadata") or body.get("filter")):
        needs.append(("s3vectors:GetVectors", resource))
    return needs


def bedrock_needs(path: str) -> list[tuple[str, str]]:
    match = re.fullmatch(r"/model/(.+)/(invoke|invoke-with-response-stream|converse|converse-stream)", path)
    if not match:
        return [("bedrock:Unknown", "*")]
    model = unquote(match.group(1))
    action = {"invoke": "InvokeModel", "converse": "InvokeModel"}.get(match.group(2), "InvokeModelWithResponseStream")
    arn = model if model.startswith("arn:") else f"arn:aws:bedrock:{REGION}::foundation-model/{model}"
    return [(f"bedrock:{action}", arn)]


def needs(request: Request, secret_arn: Callable[[str], str]) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM checks for the request; secret_arn turns a secret's name
    (or ARN) into its ARN."""
    service, target = request.service, request.target
    if service == "dynamodb":
        needs_of = stream_needs if target.startswith("DynamoDBStreams_") else dynamodb_needs
        return needs_of(target.rsplit(".", 1)[-1], json.loads(request.body or b"{}"))
    if service == "sqs":
        return sqs_needs(target, request.body)
    if service == "secretsmanager":
        body = json.loads(request.body or b"{}")
        secret = body.get("SecretId")
        return [(f"secretsmanager:{target.rsplit('.', 1)[-1]}", secret_arn(secret) if secret else "*")]
    if service == "s3vectors":
        return s3vectors_needs(request.path, json.loads(request.body or b"{}"))
    if service == "bedrock":
        return bedrock_needs(request.path)
    operation = target.rsplit(".", 1)[-1] if target else parse_qs(request.body.decode(errors="replace")).get(
        "Action", ["Unknown"])[0]
    return [(f"{service}:{operation}", "*")]


@functools.lru_cache(maxsize=4096)
def pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: * any run of characters, ? any one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(regex, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def statement_matches(statement: dict, action: str, resource: str) -> bool:
    if "Action" in statement:
        action_ok = any(pattern(a, True).fullmatch(action) for a in as_list(statement["Action"]))
    else:
        action_ok = not any(pattern(a, True).fullmatch(action) for a in as_list(statement.get("NotAction", [])))
    if "Resource" in statement:
        resource_ok = any(pattern(r, False).fullmatch(resource) for r in as_list(statement["Resource"]))
    else:
        resource_ok = not any(pattern(r, False).fullmatch(resource) for r in as_list(statement.get("NotResource", [])))
    return action_ok and resource_ok


@dataclass(frozen=True)
class Grant:
    """One statement of one of an identity's policies."""
    policy: str
    index: int
    statement: dict


def grants(policies: dict[str, str | dict]) -> list[Grant]:
    """Every statement of the named policy documents (JSON text or parsed)."""
    found = []
    for name, document in policies.items():
        parsed = json.loads(document) if isinstance(document, str) else document
        for index, statement in enumerate(as_list(parsed.get("Statement", []))):
            found.append(Grant(name, index, statement))
    return found


def decide(all_grants: list[Grant], action: str, resource: str) -> tuple[bool, Grant | None]:
    """(allowed, the statement that decided): an explicit Deny wins over any Allow; no Allow is a
    deny (with no statement). A statement with a Condition is not evaluated: it never allows, and a
    Deny with one always denies (our policies have none; this keeps an unknown one on the safe side)."""
    allow = None
    for grant in all_grants:
        statement = grant.statement
        if not statement_matches(statement, action, resource):
            continue
        if statement.get("Effect") == "Deny":
            return False, grant
        if statement.get("Effect") == "Allow" and "Condition" not in statement and allow is None:
            allow = grant
    return allow is not None, allow
