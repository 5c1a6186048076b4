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

    python dev/moto_server.py [--host 127.0.0.1] [--port 4566] [--exit-with-stdin]

--exit-with-stdin: exit when stdin closes, so a parent that dies (even by SIGKILL) never leaves
this server behind.
"""
from __future__ import annotations

import argparse
import heapq
import io
import json
import math
import operator
import os
import sys
import threading
import time
from typing import Any, Callable, Iterable

from decimal import Decimal

from moto.core.responses import ActionResult
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3vectors import urls as s3vectors_urls
from moto.s3vectors.exceptions import ValidationError
from moto.s3vectors.responses import S3VectorsResponse
from werkzeug.serving import run_simple


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


def exit_when_stdin_closes() -> None:
    while os.read(0, 65536):
        pass
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--exit-with-stdin", action="store_true")
    args = parser.parse_args()
    if args.exit_with_stdin:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    add_query_vectors()
    speed_up_dynamodb_queries()
    app = OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    sys.exit(main())
