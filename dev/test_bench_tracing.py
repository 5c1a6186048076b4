"""Unit tests of RESULTS.md's section on tracing's cost (dev/bench_cold.py): each traced function's
figures against its untraced ones and the in-memory overhead, each judged against issue 21's budget
(init ≤ +1 ms, peak RSS ≤ +1 MB, in-memory warm p99 ≤ +0.1 ms). Run by dev/test."""
from __future__ import annotations

import dataclasses
import unittest

from bench_cold import tracing_section
from test_bench_charts import figures

UNTRACED = figures(59.2, 9_100_000, 8.09, 19.05)


def traced(**changes: float) -> dict[str, dict]:
    """get-market's results, untraced and traced with `changes` (and one document per invocation)."""
    return {"TLS": {"get-market": UNTRACED},
            "traced": {"get-market": dataclasses.replace(UNTRACED, documents=1.0, **changes)}}


def row(lines: list[str], first_cell: str) -> str:
    return next(line for line in lines if line.startswith(f"| {first_cell} |"))


class TracingSectionTest(unittest.TestCase):
    def test_within_budget_passes_and_shows_each_change(self) -> None:
        lines = tracing_section(traced(init=UNTRACED.init + 0.4, rss=UNTRACED.rss + 200_000), {})
        cells = row(lines, "get-market")
        self.assertIn("29.6 → 30.0 ms (+0.4)", cells)
        self.assertIn("9.10 → 9.30 MB (+0.20)", cells)
        self.assertIn("| 1.00 |", cells)
        self.assertTrue(cells.endswith("| pass |"), cells)

    def test_more_init_or_memory_than_the_budget_fails(self) -> None:
        cells = row(tracing_section(traced(init=UNTRACED.init + 1.5), {}), "get-market")
        self.assertIn("FAIL (init +1.5 ms)", cells)
        cells = row(tracing_section(traced(rss=UNTRACED.rss + 1_200_000), {}), "get-market")
        self.assertIn("FAIL (RSS +1.20 MB)", cells)

    def test_in_memory_overhead_is_judged_on_p99(self) -> None:
        lines = tracing_section({"TLS": {}}, {"get-market": {"untraced": (0.02, 0.05), "traced": (0.03, 0.12)},
                                              "list-markets": {"untraced": (0.03, 0.08), "traced": (0.04, 0.30)}})
        self.assertTrue(row(lines, "get-market").endswith("| +0.070 ms | pass |"), row(lines, "get-market"))
        self.assertTrue(row(lines, "list-markets").endswith("| +0.220 ms | FAIL |"), row(lines, "list-markets"))


if __name__ == "__main__":
    unittest.main()
