"""Unit tests of what the benchmarks compute (dev/bench_common.py): the round trips a latency
implies, the calls per request from the log lines, the targets against the authenticated floor and
the goal against the peers. Run by dev/test."""
from __future__ import annotations

import json
import unittest

from bench_common import (AUTH_FLOOR_TARGETS, answers_differ, calls_per_request, logged_round_trips, parse_latency,
                          peer_goal, round_trips)
from sim.harness import request_lines

TARGETS = {target.field: target for target in AUTH_FLOOR_TARGETS}


class RoundTrips(unittest.TestCase):
    def test_the_added_time_over_the_latency_is_the_sequential_calls(self) -> None:
        # Two calls one after the other at 10 ms each: 20 ms more than at no added latency.
        self.assertAlmostEqual(round_trips(25.0, 5.0, 10.0), 2.0)
        # Calls made at the same time add one latency, not one each.
        self.assertAlmostEqual(round_trips(16.0, 6.0, 10.0), 1.0)

    def test_no_latency_gives_no_figure(self) -> None:
        with self.assertRaises(ValueError):
            round_trips(5.0, 5.0, 0.0)

    def test_latency_option(self) -> None:
        self.assertEqual(parse_latency("10ms"), 10.0)
        self.assertEqual(parse_latency("0.02s"), 20.0)
        self.assertEqual(parse_latency("7"), 7.0)
        with self.assertRaises(ValueError):
            parse_latency("10 minutes")


class CallsPerRequest(unittest.TestCase):
    def test_median_count_and_most_common_operations_from_the_request_lines(self) -> None:
        output = [json.dumps({"message": "request", "dynamodb_calls": calls, "dynamodb_ops": ops}).encode()
                  for calls, ops in [(2, "UpdateItem,GetItem"), (2, "UpdateItem,GetItem"), (3, "UpdateItem,GetItem,Query")]]
        output += [b"not json", json.dumps({"message": "started"}).encode()]
        lines = request_lines(output)
        self.assertEqual(len(lines), 3)
        self.assertEqual(calls_per_request(lines), "2 (UpdateItem, GetItem)")
        self.assertEqual(calls_per_request([]), "")

    def test_the_logged_round_trips_are_the_median_and_the_usual_rounds(self) -> None:
        usual = {"aws_round_trips": 2, "aws_rounds": "UpdateItem,GetItem | TransactWriteItems"}
        retried = {"aws_round_trips": 3, "aws_rounds": "UpdateItem,GetItem | TransactWriteItems | TransactWriteItems"}
        self.assertEqual(logged_round_trips([usual, retried, usual]), r"2 (UpdateItem,GetItem \| TransactWriteItems)")
        self.assertEqual(logged_round_trips([{"aws_round_trips": 0, "aws_rounds": ""}]), "0 (none)")
        self.assertEqual(logged_round_trips([]), "")


class AuthFloorTargets(unittest.TestCase):
    def test_init_and_first_within_1_2_times(self) -> None:
        self.assertEqual(TARGETS["total"].check(12.0, 10.0), (True, "pass"))
        self.assertEqual(TARGETS["total"].check(12.1, 10.0), (False, "FAIL (1.21× > 1.2×)"))

    def test_peak_rss_within_1_25_times_and_10_mb(self) -> None:
        self.assertTrue(TARGETS["rss"].check(9_900_000, 8_000_000)[0])
        self.assertEqual(TARGETS["rss"].check(10_500_000, 9_000_000), (False, "FAIL (> 10 MB)"))
        self.assertEqual(TARGETS["rss"].check(9_000_000, 7_000_000), (False, "FAIL (1.29× > 1.25×)"))

    def test_zip_within_1_25_times_and_3_mb(self) -> None:
        self.assertTrue(TARGETS["zip"].check(2_900_000, 2_400_000)[0])
        self.assertEqual(TARGETS["zip"].check(3_240_000, 2_300_000), (False, "FAIL (1.41× > 1.25×, > 3 MB)"))


class PeerAnswers(unittest.TestCase):
    OURS = [(200, b'{"success": true, "data": {"id": "M1", "volume": 2.5}}'),
            (401, b'{"success": false, "code": "UNAUTHORIZED", "requestId": "a"}')]

    def test_same_status_and_body_but_the_request_id_match(self) -> None:
        peer = [(200, b'{"data":{"volume":2.5,"id":"M1"},"success":true}'),
                (401, b'{"success":false,"code":"UNAUTHORIZED","requestId":"b"}')]
        self.assertEqual(answers_differ(self.OURS, peer), [])

    def test_another_status_or_field_is_named(self) -> None:
        peer = [(200, b'{"success": true, "data": {"id": "M1", "volume": "2.5"}}'),
                (404, b'{"success": false, "code": "NOT_FOUND"}')]
        self.assertEqual(answers_differ(self.OURS, peer), [
            "answer 1: {'success': True, 'data': {'id': 'M1', 'volume': '2.5'}}, "
            "ours {'success': True, 'data': {'id': 'M1', 'volume': 2.5}}",
            "answer 2: HTTP 404, ours 401"])


class PeerGoal(unittest.TestCase):
    def test_the_peer_must_take_ten_times_ours(self) -> None:
        self.assertEqual(peer_goal(10.0, 100.0), (True, "pass (10.0× ours, goal ≥ 10×)"))
        self.assertFalse(peer_goal(10.0, 99.0)[0])


if __name__ == "__main__":
    unittest.main()
