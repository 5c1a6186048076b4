"""SQS event sources: the batch event, and which messages a batch deletes (partial failures)."""
import json
import threading
from types import SimpleNamespace

from sim.functions import SqsSource
from sim.pool import InvocationError
from sim.sqs import SqsPoller, failed_message_ids, sqs_record
from sim.template import Resolver

ARN = "arn:aws:sqs:us-east-1:123456789012:t-Jobs"


def message(n: int, **extra) -> dict:
    return {"MessageId": f"m{n}", "ReceiptHandle": f"h{n}", "Body": f"body {n}", "MD5OfBody": "md5", **extra}


def test_sqs_record():
    record = sqs_record(message(1, Attributes={"ApproximateReceiveCount": "2"}, MD5OfMessageAttributes="md5a",
                                MessageAttributes={"kind": {"DataType": "String", "StringValue": "index"},
                                                   "blob": {"DataType": "Binary", "BinaryValue": b"\x01"}}), ARN)
    assert record == {
        "messageId": "m1", "receiptHandle": "h1", "body": "body 1", "attributes": {"ApproximateReceiveCount": "2"},
        "messageAttributes": {
            "kind": {"stringListValues": [], "binaryListValues": [], "dataType": "String", "stringValue": "index"},
            "blob": {"stringListValues": [], "binaryListValues": [], "dataType": "Binary", "binaryValue": "AQ=="}},
        "md5OfBody": "md5", "eventSource": "aws:sqs", "eventSourceARN": ARN, "awsRegion": "us-east-1",
        "md5OfMessageAttributes": "md5a"}
    assert "md5OfMessageAttributes" not in sqs_record(message(2), ARN)


IDS = ["m1", "m2", "m3"]


def test_no_failures_keeps_nothing():
    for answer in (b"", b"null", b"{}", b'{"batchItemFailures": []}', b'{"batchItemFailures": null}'):
        assert failed_message_ids(answer, IDS) == set(), answer


def test_reported_failures_are_kept():
    answer = json.dumps({"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}).encode()
    assert failed_message_ids(answer, IDS) == {"m2", "m3"}


def test_a_malformed_answer_keeps_the_whole_batch():
    for answer in (b"not json", b'{"batchItemFailures": [{"itemIdentifier": "unknown"}]}',
                   b'{"batchItemFailures": [{"id": "m1"}]}', b'{"batchItemFailures": "m1"}',
                   b'{"batchItemFailures": ["m1"]}', b"[1]", b'"text"'):
        assert failed_message_ids(answer, IDS) == set(IDS), answer


class FakeSqs:
    def __init__(self):
        self.deleted: list[list[dict]] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict]) -> None:
        assert QueueUrl == "http://moto/t-Jobs"
        self.deleted.append(Entries)


class FakePool:
    def __init__(self, answer: bytes | Exception):
        self.answer, self.events = answer, []

    def invoke(self, payload: bytes) -> bytes:
        self.events.append(json.loads(payload))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def poll(answer: bytes | Exception, count: int = 3, report_failures: bool = True) -> tuple[FakeSqs, FakePool]:
    """One batch of `count` messages through a poller whose function answers `answer`."""
    resolver = Resolver({"Resources": {"Jobs": {"Type": "AWS::SQS::Queue"}}}, {}, "t")
    resolver.queue_urls["Jobs"] = "http://moto/t-Jobs"
    sqs, pool = FakeSqs(), FakePool(answer)
    stack = SimpleNamespace(resolver=resolver, client=lambda service, credentials: sqs, stopping=threading.Event())
    fn = SimpleNamespace(pool=pool, binary="index-worker", credentials={})
    SqsPoller(stack, fn, SqsSource("Jobs", 10, report_failures)).process([message(n) for n in range(1, count + 1)])
    return sqs, pool


def deleted_handles(sqs: FakeSqs) -> list[str]:
    return [entry["ReceiptHandle"] for batch in sqs.deleted for entry in batch]


def test_the_function_gets_the_batch_as_one_event():
    _, pool = poll(b"")
    assert [r["messageId"] for r in pool.events[0]["Records"]] == IDS
    assert pool.events[0]["Records"][0]["eventSourceARN"] == ARN


def test_a_successful_batch_is_deleted():
    assert deleted_handles(poll(b"")[0]) == ["h1", "h2", "h3"]


def test_partial_failures_stay_on_the_queue():
    sqs, _ = poll(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}')
    assert deleted_handles(sqs) == ["h1", "h3"]
    assert [entry["Id"] for entry in sqs.deleted[0]] == ["0", "1"]


def test_a_malformed_answer_deletes_nothing():
    assert deleted_handles(poll(b'{"batchItemFailures": [{"itemIdentifier": "nope"}]}')[0]) == []


def test_without_report_batch_item_failures_the_answer_is_ignored():
    sqs, _ = poll(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}', report_failures=False)
    assert deleted_handles(sqs) == ["h1", "h2", "h3"]


def test_a_failed_invocation_deletes_nothing():
    assert poll(InvocationError("function error"))[0].deleted == []


def test_deletes_go_in_batches_of_ten():
    sqs, _ = poll(b"", count=12)
    assert [len(batch) for batch in sqs.deleted] == [10, 2]
