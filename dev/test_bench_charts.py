"""Unit tests of the benchmark charts (dev/bench_charts.py, drawn by dev/bench_cold.py beside
RESULTS.md): each SVG is well-formed, has one bar per function with its label and value, and the
target lines; --charts-only reads back what the tables write; the committed charts are those of the
committed bench/RESULTS.md. Run by dev/test."""
from __future__ import annotations

import shutil
import tempfile
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import bench_charts
from bench_cold import (Figures, auth_floor_table, charted_results, peer_table, round_trip_table, table,
                        write_charts)
from sim.common import REPO

SVG = "{http://www.w3.org/2000/svg}"


def figures(total: float, rss: float, p50: float, p50_at_latency: float) -> Figures:
    return Figures(init=total / 2, first=total / 2, total=total, p50=p50, p99=p50 * 2, p50_at_latency=p50_at_latency,
                   p99_at_latency=p50_at_latency * 2, rss=rss, zip=2_500_000, calls="", warm_count=100, unexpected=0,
                   connections=2)


# A TLS run as bench_cold measures it: the references, two route functions and the peers.
RESULTS = {
    "hello-world": figures(2.7, 3_100_000, 0.17, 0.17),
    "floor": figures(48.4, 7_300_000, 4.06, 14.86),
    "auth-floor": figures(56.0, 7_500_000, 3.95, 14.60),
    "get-market": figures(59.2, 9_100_000, 8.09, 19.05),
    "list-markets": figures(144.2, 9_700_000, 88.38, 112.14),
    "node-peer": figures(275.0, 76_900_000, 5.80, 15.97),
    "python-peer": figures(318.7, 50_000_000, 6.94, 15.39),
}


def parse(path: Path) -> ET.Element:
    """The SVG at `path` as XML (fails on one that is not well-formed)."""
    return ET.fromstring(path.read_text())


def bars(svg: ET.Element) -> dict[str, str]:
    """Each bar's tooltip ("name: value") and its colour."""
    return {rect.findtext(f"{SVG}title"): rect.get("fill") for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"}


def texts(svg: ET.Element) -> list[str]:
    return [text.text or "" for text in svg.iter(f"{SVG}text")]


class Charts(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="bench-charts-"))
        self.addCleanup(shutil.rmtree, self.directory)
        self.written = write_charts(self.directory / "RESULTS.md", RESULTS, 10.0)

    def test_the_three_charts_are_written_beside_the_results(self) -> None:
        self.assertEqual(sorted(path.name for path in self.written), sorted(bench_charts.CHARTS))
        for path in self.written:
            svg = parse(path)
            self.assertEqual(svg.tag, f"{SVG}svg", path)
            self.assertTrue(svg.findtext(f"{SVG}title"), f"{path.name} has no title")
            self.assertEqual(svg.find(f"{SVG}rect").get("fill"), "#ffffff", f"{path.name}: no white background")

    def test_cold_start_has_each_function_against_the_authenticated_floor(self) -> None:
        svg = parse(self.directory / "cold-start.svg")
        self.assertEqual(bars(svg), {
            "auth-floor: 56.0 ms": bench_charts.REFERENCE, "get-market: 59.2 ms (1.06×)": bench_charts.PASS,
            "list-markets: 144.2 ms (2.57×)": bench_charts.FAIL,
            "auth-floor: 7.5 MB": bench_charts.REFERENCE, "get-market: 9.1 MB (1.21×)": bench_charts.PASS,
            "list-markets: 9.7 MB (1.29×)": bench_charts.FAIL})
        labels = texts(svg)
        for expected in ["auth-floor", "get-market", "list-markets", "59.2 ms (1.06×)", "9.7 MB (1.29×)",
                         "1.2× auth-floor", "1.25× auth-floor", "10 MB", "init + first invocation (ms)", "peak RSS (MB)"]:
            self.assertIn(expected, labels)
        self.assertEqual(len([line for line in svg.iter(f"{SVG}line") if line.get("class") == "target"]), 3)

    def test_peers_are_beside_get_market(self) -> None:
        svg = parse(self.directory / "peers.svg")
        self.assertEqual(set(bars(svg)), {
            "get-market: 59.2 ms", "node-peer: 275.0 ms (4.6×)", "python-peer: 318.7 ms (5.4×)",
            "get-market: 9.1 MB", "node-peer: 76.9 MB (8.5×)", "python-peer: 50.0 MB (5.5×)"})
        self.assertIn("goal: 10× get-market", texts(svg))

    def test_round_trips_of_every_function_with_the_two_round_line(self) -> None:
        svg = parse(self.directory / "round-trips.svg")
        self.assertEqual(bars(svg), {
            "hello-world: 0.0": bench_charts.REFERENCE, "floor: 1.1": bench_charts.REFERENCE,
            "auth-floor: 1.1": bench_charts.REFERENCE, "get-market: 1.1": bench_charts.PASS,
            "list-markets: 2.4": bench_charts.FAIL, "node-peer: 1.0": bench_charts.REFERENCE,
            "python-peer: 0.8": bench_charts.REFERENCE})
        self.assertIn("2 rounds", texts(svg))

    def test_a_run_without_peers_or_latency_leaves_no_older_chart_of_them(self) -> None:
        alone = {name: f for name, f in RESULTS.items() if not name.endswith("-peer")}
        written = write_charts(self.directory / "RESULTS.md", alone, 0.0)
        self.assertEqual([path.name for path in written], ["cold-start.svg"])
        self.assertEqual(sorted(path.name for path in self.directory.iterdir()), ["cold-start.svg"])


class ChartsOnly(unittest.TestCase):
    def test_reads_back_what_the_tables_write(self) -> None:
        # The sections as report() heads them (charted_results finds them by how their heading starts).
        text = "\n".join(["## TLS (like AWS)", "", *table(RESULTS), "", "## Against the authenticated floor", "",
                          *auth_floor_table(RESULTS), "", "## Sequential round trips (TLS, 10 ms per AWS call)", "",
                          *round_trip_table(RESULTS, 10.0), "", "## The peers a user would pick instead (TLS)", "",
                          *peer_table(RESULTS), ""])
        charted, latency_ms = charted_results(text)
        self.assertEqual(latency_ms, 10.0)
        self.assertEqual(list(charted), list(RESULTS))
        for name, f in RESULTS.items():
            got = charted[name]
            self.assertEqual((got.total, got.rss, got.p50, got.p50_at_latency),
                             (f.total, f.rss, f.p50, f.p50_at_latency), name)

    def test_not_a_results_file(self) -> None:
        with self.assertRaises(ValueError):
            charted_results("# Something else\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")

    def test_the_committed_charts_are_those_of_the_committed_results(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="bench-charts-"))
        self.addCleanup(shutil.rmtree, directory)
        (directory / "RESULTS.md").write_text((REPO / "bench/RESULTS.md").read_text())
        charted, latency_ms = charted_results((directory / "RESULTS.md").read_text())
        for path in write_charts(directory / "RESULTS.md", charted, latency_ms):
            committed = REPO / "bench" / path.name
            self.assertTrue(committed.exists(), f"bench/{path.name} is missing: run dev/bench-cold --charts-only")
            self.assertEqual(committed.read_text(), path.read_text(),
                             f"bench/{path.name} is not drawn from bench/RESULTS.md: run dev/bench-cold --charts-only")


if __name__ == "__main__":
    unittest.main()
