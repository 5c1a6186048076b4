#!/usr/bin/env python3
"""moto's server, made as atomic as DynamoDB, with S3 Vectors' QueryVectors.

moto handles requests on parallel threads, so two conditional writes to one item can both pass their
condition (DynamoDB never lets that happen). Here DynamoDB requests run one at a time; SQS requests
stay parallel, since a long poll holds its request open for seconds. TransactWriteItems keeps its
ClientRequestToken promise: a retried transaction that already succeeded is not applied twice.

moto has S3 Vectors' buckets, indexes and Put/Get/List/DeleteVectors but no QueryVectors: this adds
an exact one (every vector of the index scored, so it finds what an approximate index may miss).

moto answers a Query by reading and sorting every item of the table, comparing attribute values
through a generic cast on every comparison: with tens of thousands of markets (dev/scale-check) a
list page's Queries would outlast the functions' timeouts. Scalar values are cast directly, and
index items are sorted on their keys cast once per item (same results, several times faster).

moto keeps a SendMessage's MessageSystemAttributes (AWSTraceHeader) but drops SendMessageBatch's:
here a batch entry's are kept too, as SQS does.

moto keeps every model object it ever made (`instances_tracked`, read only by its dashboard), the
copies of whole tables each TransactWriteItems makes for its rollback included: a long run's memory
grew with the square of its writes (18 GB after about 7,000 creates in dev/bench-cold, with GC pauses
long enough to time calls out). Here they are not tracked, so what moto no longer uses is freed. And
a table's copy shares its stream's records (written once, never changed) instead of copying each:
a transaction on the outbox table then costs a third as much by the 1,000th job.

    python dev/moto_server.py [--host 127.0.0.1] [--port 4566] [--exit-with-stdin]

--exit-with-stdin: exit when stdin closes, so a parent that dies (even by SIGKILL) never leaves
this server behind.
--iam-log FILE: append every IAM decision on a function's call (and each role's statements) to FILE
as JSON lines, for dev/iam_report.py.

IAM: a call signed with a function's credentials (an assumed role's ASIA... key, which the local stack
gets from STS for each function's role) is allowed only if the role's policies allow every (action,
resource) it needs (sim/iam_policy.py); a refused call answers AccessDeniedException as AWS does
and prints `IAM DENIED function=... action=... resource=...` on stderr. Calls signed with other keys
(the tests' and the local stack's `test`) are not checked.
"""
from __future__ import annotations

import argparse
import copy
import heapq
import io
import json
import math
import operator
import os
import re
import sys
import threading
import time
from typing import Any, Callable, Iterable

from decimal import Decimal

from moto.core.common_models import BaseModel
from moto.core.config import default_user_config
from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import StreamShard, Table
from moto.iam.models import iam_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3vectors import urls as s3vectors_urls
from moto.s3vectors.exceptions import ValidationError
from moto.s3vectors.responses import S3VectorsResponse
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import SQSBackend
from moto.sts.models import sts_backends
from werkzeug.serving import run_simple

from sim.common import ACCOUNT, REGION
from sim.iam_policy import Grant, Request, decide, grants, needs

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")


class OneDynamoDBRequestAtATime:
    """WSGI middleware: DynamoDB's item-level atomicity, the simple way (a global lock); and
    TransactWriteItems' ClientRequestToken, which moto ignores. As on DynamoDB, a transaction that
    succeeded and comes again with the same token within 10 minutes (the SDK retrying after its
    answer was lost) is answered again without being applied again; the same token with other
    parameters is an IdempotentParameterMismatchException."""

    TOKEN_LIFETIME_SECONDS = 600

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()
        self.transactions: dict[str, tuple[float, bytes, str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB"):
            return self.app(environ, start_response)
        with self.lock:
            if target.endswith(".TransactWriteItems"):
                return self.transact(environ, start_response)
            return list(self.app(environ, start_response))  # the whole response, inside the lock

    def transact(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        token = json.loads(body or b"{}").get("ClientRequestToken")
        now = time.monotonic()
        # Tokens are kept in the order they came, so the expired ones are the first ones.
        while self.transactions and now - next(iter(self.transactions.values()))[0] >= self.TOKEN_LIFETIME_SECONDS:
            del self.transactions[next(iter(self.transactions))]
        if token in self.transactions:
            _, first_body, status, headers, answer = self.transactions[token]
            if first_body != body:
                mismatch = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                                       "message": "the ClientRequestToken was used with other parameters"}).encode()
                start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"),
                                                   ("Content-Length", str(len(mismatch)))])
                return [mismatch]
            start_response(status, headers)
            return [answer]
        answered: list[tuple[str, list[tuple[str, str]]]] = []

        def start_and_keep(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            answered.append((status, headers))
            return start_response(status, headers, *exc_info)

        answer = b"".join(self.app(environ, start_and_keep))
        status, headers = answered[-1]
        if token and status.startswith("200"):
            self.transactions[token] = (now, body, status, list(headers), answer)
        return [answer]


class EnforceIam:
    """WSGI middleware: a call signed with a function's assumed-role key is refused unless the role's
    policies (inline and attached, as moto's IAM holds them) allow every (action, resource) the call
    needs, as AWS's IAM would. moto's IAM and STS backends are not thread-safe (a request iterates
    the roles while another stack's adds one: "dictionary changed size during iteration"), so their
    calls and these reads of them take one lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]], log_path: str | None):
        self.app = app
        self.log = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None
        self.log_lock = threading.Lock()
        self.iam_lock = threading.Lock()
        self.logged_roles: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        credential = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        key, service = credential.groups() if credential else ("", "")
        if service in ("iam", "sts"):
            with self.iam_lock:
                return list(self.app(environ, start_response))  # the whole response, inside the lock
        if not key.startswith("ASIA"):
            return self.app(environ, start_response)  # not a function's role: the tests, the local stack
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        with self.iam_lock:
            assumed = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(key)
            if assumed is None:
                return self.refuse(start_response, service, f"The security token included in the request is invalid ({key})")
            role = iam_backends[ACCOUNT]["aws"].get_role(assumed.role_arn.rsplit("/", 1)[-1])
            documents: dict[str, str | dict] = dict(role.policies)
            for policy in role.managed_policies.values():
                documents[policy.name] = next(v.document for v in policy.versions if v.is_default)
        role_grants = grants(documents)
        self.log_role(role, assumed.session_name, role_grants)
        request = Request(service, environ.get("HTTP_X_AMZ_TARGET", ""), environ.get("PATH_INFO", ""), body)
        for action, resource in needs(request, secret_arn):
            allowed, grant = decide(role_grants, action, resource)
            self.log_decision(role, assumed.session_name, action, resource, allowed, grant)
            if not allowed:
                on_purpose = {t["Key"]: t["Value"] for t in role.tags or []}.get("local:without-permission")
                sys.stderr.write(f"IAM DENIED function={assumed.session_name} action={action} resource={resource} "
                                 f"role={role.name}{f' (on purpose: the role was started without {on_purpose})' if on_purpose else ''}\n")
                sys.stderr.flush()
                return self.refuse(start_response, service,
                                   f"User: {assumed.arn} is not authorized to perform: {action} on resource: "
                                   f"{resource} because no identity-based policy allows the {action} action")
        return self.app(environ, start_response)

    @staticmethod
    def refuse(start_response: Callable[..., Any], service: str, message: str) -> list[bytes]:
        """AccessDeniedException as the service answers it: 400 from the JSON protocols (DynamoDB,
        SQS, Secrets Manager), 403 from the REST ones (S3 Vectors, Bedrock)."""
        rest = service in ("s3vectors", "bedrock")
        answer = json.dumps({"__type": "AccessDeniedException", "message": message, "Message": message}).encode()
        start_response("403 Forbidden" if rest else "400 Bad Request", [
            ("Content-Type", "application/json" if rest else "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", "AccessDeniedException"), ("x-amzn-query-error", "AccessDenied;Sender"),
            ("Content-Length", str(len(answer)))])
        return [answer]

    def log_role(self, role: Any, function: str, role_grants: list[Grant]) -> None:
        if not self.log or role.name in self.logged_roles:
            return
        tags = {t["Key"]: t["Value"] for t in role.tags or []}
        record = {"kind": "role", "role": role.name, "function": function, "tags": tags,
                  "grants": [{"policy": g.policy, "index": g.index, "statement": g.statement} for g in role_grants]}
        with self.log_lock:
            self.logged_roles.add(role.name)
            self.log.write(json.dumps(record) + "\n")

    def log_decision(self, role: Any, function: str, action: str, resource: str, allowed: bool,
                     grant: Grant | None) -> None:
        if not self.log:
            return
        record = {"kind": "decision", "role": role.name, "function": function, "action": action,
                  "resource": resource, "allowed": allowed,
                  "grant": [grant.policy, grant.index] if grant else None}
        with self.log_lock:
            self.log.write(json.dumps(record) + "\n")


def secret_arn(secret_id: str) -> str:
    """The ARN IAM checks for a secret named by its name or ARN (the id itself if there is no such secret)."""
    secret = secretsmanager_backends[ACCOUNT][REGION].secrets.get(secret_id)
    return secret.arn if secret else secret_id


def norm(vector: Any) -> float:
    """A stored vector's length, computed once (a put replaces the Vector object)."""
    if not hasattr(vector, "norm"):
        vector.norm = math.sqrt(sum(map(operator.mul, vector.data["float32"], vector.data["float32"])))
    return vector.norm


def distance(metric: str, query: list[float], query_norm: float, vector: Any) -> float:
    """S3 Vectors' distances: cosine distance is 1 - cosine similarity."""
    data = vector.data["float32"]
    if metric == "euclidean":
        return math.dist(query, data)
    norms = query_norm * norm(vector)
    return 1.0 - (sum(map(operator.mul, query, data)) / norms if norms else 0.0)


def matches(metadata: dict[str, Any], condition: dict[str, Any]) -> bool:
    """S3 Vectors' metadata filter language: $and/$or, and per key a value or $eq, $ne, $in, $nin,
    $exists, $gt, $gte, $lt, $lte."""
    compare = {"$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt, "$gte": operator.ge,
               "$lt": operator.lt, "$lte": operator.le,
               "$in": lambda value, allowed: value in allowed, "$nin": lambda value, allowed: value not in allowed}
    for key, wanted in condition.items():
        if key == "$and":
            ok = all(matches(metadata, part) for part in wanted)
        elif key == "$or":
            ok = any(matches(metadata, part) for part in wanted)
        elif not isinstance(wanted, dict):
            ok = metadata.get(key) == wanted
        else:
            ok = True
            for op, operand in wanted.items():
                if op == "$exists":
                    ok = ok and (key in metadata) == operand
                elif op in compare:
                    ok = ok and key in metadata and compare[op](metadata[key], operand)
                else:
                    raise ValidationError(f"Unsupported filter operator: {op}")
        if not ok:
            return False
    return True


def query_vectors(self: S3VectorsResponse) -> ActionResult:
    """QueryVectors: the topK nearest vectors of the index, nearest first, optionally filtered."""
    index = self.s3vectors_backend.get_index(self._get_param("vectorBucketName"), self._get_param("indexName"),
                                             self._get_param("indexArn"))
    query = (self._get_param("queryVector") or {}).get("float32") or []
    if len(query) != index.dimension:
        raise ValidationError(f"Query vector has {len(query)} dimensions; the index has {index.dimension}")
    top_k = self._get_param("topK")
    if not isinstance(top_k, int) or not 1 <= top_k <= 100:
        raise ValidationError("topK must be between 1 and 100")
    condition = self._get_param("filter")
    return_distance = self._get_bool_param("returnDistance", False)
    return_metadata = self._get_bool_param("returnMetadata", False)
    candidates = [v for v in list(index.vectors.values()) if not condition or matches(v.metadata or {}, condition)]
    query_norm = math.sqrt(sum(map(operator.mul, query, query)))
    if index.distance_metric == "cosine" and not query_norm:
        raise ValidationError("A cosine index takes no all-zero query vector")
    nearest = heapq.nsmallest(top_k, ((distance(index.distance_metric, query, query_norm, v), v.key, v)
                                     for v in candidates))
    vectors = [{"key": key, **({"distance": d} if return_distance else {}),
                **({"metadata": v.metadata} if return_metadata else {})} for d, key, v in nearest]
    return ActionResult({"vectors": vectors, "distanceMetric": index.distance_metric})


def refuse_zero_vectors(put_vectors: Callable[[S3VectorsResponse], ActionResult]) -> Callable[..., ActionResult]:
    """PutVectors as AWS does it: a cosine index refuses an all-zero vector (moto stores it)."""
    def checked(self: S3VectorsResponse) -> ActionResult:
        for vector in self._get_param("vectors") or []:
            if not any((vector.get("data") or {}).get("float32") or []):
                raise ValidationError(f"Vector {vector.get('key')} is all zeros: a cosine index refuses it")
        return put_vectors(self)
    return checked


def add_query_vectors() -> None:
    S3VectorsResponse.query_vectors = query_vectors
    S3VectorsResponse.put_vectors = refuse_zero_vectors(S3VectorsResponse.put_vectors)
    s3vectors_urls.url_paths["{0}/QueryVectors$"] = S3VectorsResponse.dispatch


def speed_up_dynamodb_queries() -> None:
    generic_cast = DynamoType.cast_value.fget

    def cast_value(self: DynamoType) -> Any:
        if self.type in ("S", "B"):
            return self.value
        if self.type == "N":
            return Decimal(self.value)
        return generic_cast(self)

    def sorted_items(self: Table, hash_key_attrs: list[str], range_key_attrs: list[str | None],
                     items: list[Any]) -> list[Any]:
        attrs = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda item: tuple(item.attrs[key].cast_value for key in attrs))
        return items

    DynamoType.cast_value = property(cast_value)
    Table.sorted_items = sorted_items


def keep_batch_system_attributes() -> None:
    send_message_batch = SQSBackend.send_message_batch

    def with_system_attributes(self: SQSBackend, queue_name: str,
                               entries: dict[str, dict[str, Any]]) -> tuple[list[Any], list[dict[str, Any]]]:
        messages, failed = send_message_batch(self, queue_name, entries)
        by_id = {entry["Id"]: entry.get("MessageSystemAttributes") or {} for entry in entries.values()}
        for message in messages:
            message.system_attributes = by_id.get(message.user_id, {})
        return messages, failed

    SQSBackend.send_message_batch = with_system_attributes


def forget_model_objects() -> None:
    def untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
        return super(BaseModel, cls).__new__(cls)

    BaseModel.__new__ = staticmethod(untracked)  # type: ignore[method-assign, assignment]


def copy_streams_shallowly() -> None:
    def copied(self: StreamShard, memo: dict[int, Any]) -> StreamShard:
        shard = StreamShard.__new__(StreamShard)
        memo[id(self)] = shard
        shard.__dict__.update(self.__dict__)
        shard.table = copy.deepcopy(self.table, memo)
        shard.items = list(self.items)
        return shard

    StreamShard.__deepcopy__ = copied  # type: ignore[attr-defined]


def exit_when_stdin_closes() -> None:
    while os.read(0, 65536):
        pass
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--exit-with-stdin", action="store_true")
    parser.add_argument("--iam-log", help="append IAM decisions on the functions' calls to this file (JSON lines)")
    args = parser.parse_args()
    if args.exit_with_stdin:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # The roles SAM makes attach AWS managed policies (AWSLambdaBasicExecutionRole...): moto has them.
    default_user_config["iam"]["load_aws_managed_policies"] = True
    add_query_vectors()
    speed_up_dynamodb_queries()
    keep_batch_system_attributes()
    forget_model_objects()
    copy_streams_shallowly()
    app = EnforceIam(OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app)), args.iam_log)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    sys.exit(main())
