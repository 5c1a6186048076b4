"""DynamoDB stream event sources: the record Lambda's event carries, and where a batch goes on from
(partial failures, bisection, retries spent)."""
import json
import threading
from datetime import datetime, timezone
from types import SimpleNamespace

from sim.functions import StreamSource
from sim.pool import InvocationError
from sim.streams import StreamPoller, retry_from, stream_record

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t-Outbox/stream/label"
SEQUENCE = ["11", "12", "13"]


def test_stream_record():
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    record = stream_record({"eventID": "e", "eventName": "INSERT", "eventVersion": "1.0", "awsRegion": "us-east-1",
                            "dynamodb": {"ApproximateCreationDateTime": created, "SequenceNumber": "11",
                                         "Keys": {"id": {"S": "j"}}, "NewImage": {"id": {"S": "j"}}}}, ARN)
    assert record == {"eventID": "e", "eventName": "INSERT", "eventVersion": "1.0", "eventSource": "aws:dynamodb",
                      "awsRegion": "us-east-1", "eventSourceARN": ARN,
                      "dynamodb": {"ApproximateCreationDateTime": created.timestamp(), "SequenceNumber": "11",
                                   "Keys": {"id": {"S": "j"}}, "NewImage": {"id": {"S": "j"}}}}


def test_a_batch_goes_on_from_the_earliest_reported_record():
    for answer in (b"", b"null", b"{}", b'{"batchItemFailures": []}'):
        assert retry_from(answer, SEQUENCE) is None, answer
    answer = json.dumps({"batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "12"}]}).encode()
    assert retry_from(answer, SEQUENCE) == 1
    for answer in (b"not json", b'{"batchItemFailures": [{"itemIdentifier": "99"}]}', b'{"batchItemFailures": "11"}'):
        assert retry_from(answer, SEQUENCE) == 0, answer


def poller(answers: list, **source) -> tuple[StreamPoller, list[list[str]]]:
    """A poller whose function answers `answers` in turn (an exception is raised), recording batches."""
    invoked: list[list[str]] = []

    def invoke(payload: bytes) -> bytes:
        invoked.append([r["dynamodb"]["SequenceNumber"] for r in json.loads(payload)["Records"]])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    settings = {"report_failures": True, "bisect": False, "max_retries": 2, **source}
    fn = SimpleNamespace(binary="relay", pool=SimpleNamespace(invoke=invoke))
    stack = SimpleNamespace(stopping=SimpleNamespace(is_set=lambda: False, wait=lambda _: None))
    p = StreamPoller.__new__(StreamPoller)
    threading.Thread.__init__(p)
    p.stack, p.fn, p.arn = stack, fn, ARN
    p.source = StreamSource("Outbox", 10, settings["report_failures"], settings["bisect"], settings["max_retries"],
                            "TRIM_HORIZON")
    return p, invoked


def records() -> list[dict]:
    return [{"dynamodb": {"SequenceNumber": n}} for n in SEQUENCE]


def test_a_reported_failure_comes_back_from_that_record_until_done():
    p, invoked = poller([b'{"batchItemFailures": [{"itemIdentifier": "12"}]}', b""])
    assert p.deliver(records(), 2) == 1
    assert invoked == [SEQUENCE, ["12", "13"]]


def test_a_function_error_is_bisected_and_retries_run_out():
    errors = [InvocationError("x"), b"", InvocationError("y"), InvocationError("z"), InvocationError("z"), b""]
    p, invoked = poller(errors, bisect=True, max_retries=1)
    assert p.deliver(records(), 1) == 0
    # Split in two: the first half goes through; the second fails, is split again, and its first
    # record fails until the one retry is spent (skipped); the last record goes through.
    assert invoked == [SEQUENCE, ["11"], ["12", "13"], ["12"], ["12"], ["13"]]
