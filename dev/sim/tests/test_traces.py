"""The local X-Ray daemon and dev/traces: what a function sends over UDP is stored, and printed as a
tree across documents (a job's segment under the request's SQS call)."""
import json
import socket
import time

from sim.traces import TraceReceiver, mint_header, read_documents, trace_nodes, tree

TRACE = "1-6b12ede9-814ce0c7d25b48b39417a534"


def test_a_minted_header_takes_the_http_requests_trace_and_the_sampling_rate():
    payload = json.dumps({"headers": {"x-amzn-trace-id": f"Root={TRACE}"}}).encode()
    assert mint_header(1, payload).startswith(f"Root={TRACE};Parent=")
    assert mint_header(1, payload).endswith(";Sampled=1")
    assert mint_header(0).endswith(";Sampled=0") and not mint_header(0).startswith(f"Root={TRACE}")


def test_documents_sent_to_the_daemon_are_stored_and_print_as_one_tree(tmp_path):
    receiver = TraceReceiver(tmp_path / "traces.jsonl")
    receiver.start()
    request = {"trace_id": TRACE, "id": "a" * 16, "parent_id": "f" * 16, "type": "subsegment", "name": "request",
               "start_time": 1.0, "end_time": 1.05,
               "subsegments": [{"id": "b" * 16, "name": "SQS", "start_time": 1.01, "end_time": 1.02,
                                "aws": {"operation": "SendMessageBatch"}}]}
    job = {"trace_id": TRACE, "id": "c" * 16, "parent_id": "b" * 16, "name": "index-worker",
           "origin": "AWS::Lambda::Function", "start_time": 1.1, "end_time": 1.2}
    host, port = receiver.address.split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for document in (request, job):
            sender.sendto(b'{"format": "json", "version": 1}\n' + json.dumps(document).encode(), (host, int(port)))
        sender.sendto(b"not a segment", (host, int(port)))
    deadline = time.monotonic() + 5
    while len(read_documents(receiver.path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.close()
    lines = tree(trace_nodes(read_documents(receiver.path), TRACE))
    shape = [((len(line) - len(line.lstrip())) // 2, line.split()[0]) for line in lines]
    assert shape == [(0, "request"), (1, "SQS"), (2, "index-worker")], lines
    assert lines[2].strip().startswith("index-worker [segment] 100.0 ms"), lines
