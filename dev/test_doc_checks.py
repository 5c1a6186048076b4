"""Unit tests of the documentation checks (dev/check_links.py, dev/check_diagrams.py) on tiny
repositories in a temporary directory, and of the repository's own documents. Run by dev/test
(dev/.venv: the diagram check reads template.yaml with the local stack's loader)."""
from __future__ import annotations

import tempfile
import textwrap
import unittest
from pathlib import Path

import check_diagrams
import check_links
from sim.common import REPO

TEMPLATE = """\
Resources:
  OutboxTable:
    Type: AWS::DynamoDB::Table
  IndexQueue:
    Type: AWS::SQS::Queue
  OutboxRelayFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties: { Binary: outbox-relay }
"""

WRITE_PATH = """\
```mermaid
---
title: A job's way
---
flowchart LR
    client(["client"]) -->|"TransactWriteItems, ListTables"| OutboxTable[("OutboxTable")]
    OutboxTable -->|"stream"| OutboxRelayFunction["outbox-relay"]
    OutboxRelayFunction -->|"SendMessageBatch"| IndexQueue[["IndexQueue"]]
```
"""


class TemporaryRepository(unittest.TestCase):
    def setUp(self) -> None:
        temporary = tempfile.TemporaryDirectory()
        self.addCleanup(temporary.cleanup)
        self.repo = Path(temporary.name) / "repo"
        (self.repo / "docs").mkdir(parents=True)

    def write(self, name: str, text: str) -> Path:
        path = self.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path


class Slugs(unittest.TestCase):
    def test_slugs_follow_githubs_rules(self) -> None:
        cases = {
            "The contract's checks": "the-contracts-checks",
            "At 20,000 markets": "at-20000-markets",
            "Before the function: what API Gateway and Lambda answer themselves":
                "before-the-function-what-api-gateway-and-lambda-answer-themselves",
            "`dev/up` and `dev/test`": "devup-and-devtest",
            "Markets API — a serverless REST backend in Rust": "markets-api--a-serverless-rest-backend-in-rust",
            "The shared cache: EnableCache": "the-shared-cache-enablecache",
            "A [linked](other.md) word_with_underscores": "a-linked-word_with_underscores",
        }
        for heading, slug in cases.items():
            self.assertEqual(check_links.slug(heading), slug, heading)


class Links(TemporaryRepository):
    def check(self, *documents: Path) -> list[str]:
        return check_links.check(list(documents), self.repo)

    def test_links_to_files_and_headings_that_exist_pass(self) -> None:
        self.write("docs/other.md", "# Other\n\n## Setup\n\n## Setup\n\n## At 20,000 markets\n")
        self.write("tests/cache.rs", "async fn a_lost_refresh_never_serves_the_past() {}\n")
        readme = self.write("README.md", """\
            # Title
            See [other](docs/other.md), [its second setup](docs/other.md#setup-1),
            [scale](docs/other.md#at-20000-markets), [the top](#title), [a folder](docs/),
            [AWS](https://aws.amazon.com/#nothing-checked) and `tests/cache.rs::a_lost_refresh_never_serves_the_past`.

            [ref]: docs/other.md#setup
            """)
        self.assertEqual(self.check(readme), [])

    def test_a_link_to_a_missing_file_fails_with_its_line(self) -> None:
        readme = self.write("README.md", "# Title\n\nSee [operations](docs/operation.md).\n")
        self.assertEqual(self.check(readme),
                         ["README.md:3: docs/operation.md: no such file or directory (docs/operation.md)"])

    def test_a_missing_anchor_fails_and_lists_the_anchors_there_are(self) -> None:
        self.write("docs/other.md", "# Other\n\n## The shared cache: EnableCache\n")
        readme = self.write("README.md", "# Title\n\n[cache](docs/other.md#the-shared-cache)\n[top](#titel)\n")
        self.assertEqual(self.check(readme), [
            "README.md:3: docs/other.md#the-shared-cache: no heading of docs/other.md has the anchor "
            "#the-shared-cache (it has: other, the-shared-cache-enablecache)",
            "README.md:4: #titel: no heading of README.md has the anchor #titel (it has: title)",
        ])

    def test_links_in_code_are_not_links(self) -> None:
        readme = self.write("README.md", """\
            # Title
            `[not a link](nowhere.md)`

            ```md
            [not a link either](nowhere.md)
            # not a heading
            ```
            [a real one](#not-a-heading)
            """)
        self.assertEqual(len(self.check(readme)), 1, "the heading in the code block is no anchor")

    def test_a_link_out_of_the_repository_fails(self) -> None:
        (self.repo.parent / "shared").mkdir()
        (self.repo.parent / "shared" / "API.md").write_text("# API\n")
        readme = self.write("README.md", "[the contract](../shared/API.md)\n")
        self.assertEqual(self.check(readme),
                         ["README.md:1: ../shared/API.md: leaves the repository (GitHub cannot show it)"])

    def test_a_test_reference_to_a_renamed_test_fails(self) -> None:
        self.write("tests/cache.rs", "async fn no_stale_reads() {}\n")
        doc = self.write("docs/security.md", "`tests/cache.rs::a_lost_refresh_never_serves_the_past`\n")
        self.assertEqual(self.check(doc), [
            "docs/security.md:1: tests/cache.rs::a_lost_refresh_never_serves_the_past: "
            "tests/cache.rs has no fn a_lost_refresh_never_serves_the_past"])


class Diagrams(TemporaryRepository):
    def check(self, document: Path, template: str = TEMPLATE) -> list[str]:
        path = self.write("template.yaml", template)
        return check_diagrams.check([document], path, self.repo)

    def test_a_diagram_of_template_resources_passes_and_labels_are_not_ids(self) -> None:
        self.assertEqual(self.check(self.write("docs/a.md", WRITE_PATH)), [])

    def test_a_renamed_table_fails(self) -> None:
        doc = self.write("docs/a.md", WRITE_PATH)
        problems = self.check(doc, TEMPLATE.replace("OutboxTable:", "JobOutboxTable:"))
        self.assertEqual(problems, [
            "docs/a.md:6: diagram \"A job's way\": OutboxTable is not a resource of template.yaml "
            "(an id that begins with a capital letter is a template logical id)"])

    def test_a_renamed_function_binary_fails(self) -> None:
        doc = self.write("docs/a.md", WRITE_PATH)
        problems = self.check(doc, TEMPLATE.replace("Binary: outbox-relay", "Binary: job-relay"))
        self.assertEqual(problems, [
            "docs/a.md:7: diagram \"A job's way\": OutboxRelayFunction's label 'outbox-relay' does not name "
            "its function, job-relay"])

    def test_a_renamed_queue_in_a_sequence_diagram_fails(self) -> None:
        doc = self.write("docs/b.md", """\
            ```mermaid
            ---
            title: Relaying
            ---
            sequenceDiagram
                participant OutboxRelayFunction as outbox-relay
                par every shard
                    OutboxRelayFunction->>IndexQueue: SendMessageBatch
                and
                    OutboxRelayFunction->>+OutboxTable: BatchWriteItem
                end
                Note over OutboxTable,IndexQueue: NotAnId in a note's text
            ```
            """)
        self.assertEqual(self.check(doc), [])
        problems = self.check(doc, TEMPLATE.replace("IndexQueue:", "JobQueue:"))
        self.assertEqual(problems, [
            "docs/b.md:8: diagram 'Relaying': IndexQueue is not a resource of template.yaml "
            "(an id that begins with a capital letter is a template logical id)"])

    def test_a_diagram_without_a_title_or_of_another_kind_fails(self) -> None:
        doc = self.write("docs/c.md", "```mermaid\nflowchart LR\n    a --> b\n```\n\n"
                                      "```mermaid\n---\ntitle: Pie\n---\npie\n    \"a\" : 1\n```\n")
        self.assertEqual(self.check(doc), [
            "docs/c.md:1: diagram '(untitled)': no title: open the block with front matter (---, title: ..., ---)",
            "docs/c.md:10: diagram 'Pie': pie: this check reads flowcharts and sequence diagrams only"])


class TheRepository(unittest.TestCase):
    """The checks dev/test runs, on this repository's own README.md and docs/."""

    DOCUMENTS = check_links.documents_to_check([])

    def test_its_links_resolve(self) -> None:
        self.assertEqual(check_links.check(self.DOCUMENTS, REPO), [])

    def test_its_diagrams_draw_resources_template_yaml_has(self) -> None:
        self.assertEqual(check_diagrams.check(self.DOCUMENTS, REPO / "template.yaml", REPO), [])
        titles = [diagram for path in self.DOCUMENTS for diagram in check_diagrams.diagrams(path, path.name)]
        self.assertGreaterEqual(len(titles), 5)


if __name__ == "__main__":
    unittest.main()
