"""DynamoDB stream event sources, as Lambda's event source mapping runs them (with moto's DynamoDB
Streams API: DescribeStream, GetShardIterator, GetRecords, as the function's role): each shard read
in order, a batch invoked until it is done, and only then the next. A batch is done when the
function succeeds, or reports (ReportBatchItemFailures) the record to go on from, which comes back
with the rest of the batch after it; a function error splits the batch in two
(BisectBatchOnFunctionError); after MaximumRetryAttempts the batch's records are skipped."""
from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .common import REGION, log
from .pool import InvocationError

if TYPE_CHECKING:
    from .functions import FunctionSpec, StreamSource
    from .stack import Stack

# Lambda waits about this long before it retries a failed batch; it reads a shard 4 times a second.
RETRY_SECONDS, POLL_SECONDS = 1.0, 0.25


def stream_record(record: dict, arn: str) -> dict:
    """A GetRecords record as Lambda's event has it: its source's ARN, the time in epoch seconds."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {"eventID": record.get("eventID", ""), "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"), "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", REGION), "dynamodb": change, "eventSourceARN": arn}


def retry_from(raw: bytes, sequence_numbers: list[str]) -> int | None:
    """ReportBatchItemFailures semantics for streams: the index of the record to go on from (the
    earliest one reported), None when the batch is done, 0 (all of it) if the answer is bad."""
    try:
        value = json.loads(raw) if raw.strip() else None
    except ValueError:
        return 0
    if value is None or (isinstance(value, dict) and not value.get("batchItemFailures")):
        return None
    items = value.get("batchItemFailures") if isinstance(value, dict) else None
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and i.get("itemIdentifier") in sequence_numbers for i in items):
        return 0
    return min(sequence_numbers.index(i["itemIdentifier"]) for i in items)


class StreamPoller(threading.Thread):
    """Lambda's event source mapping for one function and a table's stream."""

    def __init__(self, stack: "Stack", fn: FunctionSpec, source: StreamSource):
        super().__init__(name=f"stream-{source.table}", daemon=True)
        self.stack, self.fn, self.source = stack, fn, source
        self.arn = stack.resolver.get_att(source.table, "StreamArn")
        # With the function's role, as Lambda reads the stream.
        self.streams = stack.client("dynamodbstreams", fn.credentials)

    def run(self) -> None:
        iterators: dict[str, str] = {}
        while not self.stack.stopping.is_set():
            try:
                if not iterators:
                    shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
                    iterators = {shard["ShardId"]: self.streams.get_shard_iterator(
                        StreamArn=self.arn, ShardId=shard["ShardId"],
                        ShardIteratorType=self.source.starting_position)["ShardIterator"] for shard in shards}
                read = 0
                for shard, iterator in list(iterators.items()):
                    answer = self.streams.get_records(ShardIterator=iterator, Limit=max(1, self.source.batch_size))
                    iterators[shard] = answer["NextShardIterator"]
                    records = [stream_record(r, self.arn) for r in answer.get("Records", [])]
                    read += len(records)
                    if records:
                        self.deliver(records, self.source.max_retries)
                if not read:
                    self.stack.stopping.wait(POLL_SECONDS)
            except Exception as e:  # keep polling: moto restarting, the role refused...
                if not self.stack.stopping.is_set():
                    log(f"stream poller {self.source.table}: {e}")
                    self.stack.stopping.wait(RETRY_SECONDS)

    def deliver(self, records: list[dict], retries_left: int) -> int:
        """Invokes the function until `records` are done or their retries are spent (then they are
        skipped, as Lambda does); returns the retries left."""
        while records and not self.stack.stopping.is_set():
            sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
            try:
                raw = self.fn.pool.invoke(json.dumps({"Records": records}).encode())
                failed = retry_from(raw, sequence_numbers) if self.source.report_failures else None
                if failed is None:
                    return retries_left
                records = records[failed:]
            except InvocationError as e:
                if self.stack.stopping.is_set():
                    return retries_left
                log(f"{self.fn.binary}: batch of {len(records)} from the stream of {self.source.table} failed ({e})")
                if self.source.bisect and len(records) > 1:
                    half = len(records) // 2
                    return self.deliver(records[half:], self.deliver(records[:half], retries_left))
            if retries_left == 0:
                log(f"{self.fn.binary}: {len(records)} records of the stream of {self.source.table} skipped "
                    f"after MaximumRetryAttempts ({sequence_numbers[-len(records)]} to {sequence_numbers[-1]})")
                return retries_left
            retries_left -= 1
            self.stack.stopping.wait(RETRY_SECONDS)
        return retries_left
