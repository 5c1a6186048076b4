"""SQS event sources, as Lambda's event source mapping runs them: receive a batch, invoke the
function with it, delete what succeeded (all of it, or what ReportBatchItemFailures leaves)."""
from __future__ import annotations

import base64
import json
import threading
from typing import TYPE_CHECKING, Any

from .common import REGION, log
from .pool import InvocationError

if TYPE_CHECKING:
    from .functions import FunctionSpec, SqsSource
    from .stack import Stack


def sqs_record(msg: dict, arn: str) -> dict:
    attributes = {}
    for name, a in (msg.get("MessageAttributes") or {}).items():
        attr: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": a["DataType"]}
        if "StringValue" in a:
            attr["stringValue"] = a["StringValue"]
        if "BinaryValue" in a:
            attr["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode()
        attributes[name] = attr
    record = {"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"], "body": msg.get("Body", ""),
              "attributes": msg.get("Attributes") or {}, "messageAttributes": attributes,
              "md5OfBody": msg.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn,
              "awsRegion": REGION}
    if "MD5OfMessageAttributes" in msg:
        record["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
    return record


def failed_message_ids(raw: bytes, ids: list[str]) -> set[str]:
    """ReportBatchItemFailures semantics: which messages to keep (all of them if the answer is bad)."""
    try:
        value = json.loads(raw) if raw.strip() else None
    except ValueError:
        return set(ids)
    if value is None or (isinstance(value, dict) and not value.get("batchItemFailures")):
        return set()
    items = value.get("batchItemFailures") if isinstance(value, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("itemIdentifier") in ids for i in items):
        return set(ids)
    return {i["itemIdentifier"] for i in items}


class SqsPoller(threading.Thread):
    """Lambda's event source mapping for one function and queue: receive, invoke, delete."""

    def __init__(self, stack: "Stack", fn: FunctionSpec, source: SqsSource):
        super().__init__(name=f"sqs-{source.queue}", daemon=True)
        self.stack, self.fn, self.source = stack, fn, source
        self.url = stack.resolver.queue_urls[source.queue]
        self.arn = stack.resolver.queue_arn(source.queue)
        # One client per thread, with the function's role: Lambda's event source mapping polls as it.
        self.sqs = stack.client("sqs", fn.credentials)

    def run(self) -> None:
        while not self.stack.stopping.is_set():
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.url, MaxNumberOfMessages=max(1, min(self.source.batch_size, 10)),
                    WaitTimeSeconds=1, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
                if messages:
                    self.process(messages)
            except Exception as e:  # keep polling: moto restarting, throttling...
                if not self.stack.stopping.is_set():
                    log(f"SQS poller {self.source.queue}: {e}")
                    self.stack.stopping.wait(1)

    def process(self, messages: list[dict]) -> None:
        event = {"Records": [sqs_record(m, self.arn) for m in messages]}
        try:
            raw = self.fn.pool.invoke(json.dumps(event).encode())
        except InvocationError as e:
            if self.stack.stopping.is_set():
                return
            log(f"{self.fn.binary}: batch of {len(messages)} from {self.source.queue} failed ({e}); "
                "it will be retried after the visibility timeout")
            return
        keep = failed_message_ids(raw, [m["MessageId"] for m in messages]) if self.source.report_failures else set()
        done = [m for m in messages if m["MessageId"] not in keep]
        for i in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + 10])])
