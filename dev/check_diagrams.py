"""Fails when a Mermaid diagram in README.md or docs/*.md draws a function, table, queue or any other
resource that template.yaml no longer has.

The convention that makes it checkable (follow it in every ```mermaid block):
- A diagram opens with front matter that gives its title (`---`, `title: ...`, `---`).
- A node of a flowchart (`Id[label]`, `Id[(label)]`, `Id[[label]]`, `Id{{label}}`, ..., or a
  subgraph `subgraph Id [label]`) or a participant of a sequence diagram (`participant Id as label`)
  whose id begins with an upper-case letter IS a resource of template.yaml: its id is the resource's
  logical id (`CreateMarketFunction`, `OutboxTable`, `IndexQueue`). Ids that begin with a lower-case
  letter are everything else (the client, a step, a shard) and are not checked.
- A function's node shows the function's name, its binary (`BuildProperties.Binary`, e.g.
  `create-market`), in its label: `CreateMarketFunction["create-market"]`.
- Flowchart edges carry their text as `-->|text|`; labels and edge texts are never read as ids.

Checked: flowcharts (`flowchart`, `graph`) and sequence diagrams; any other kind of diagram fails, so
that nothing goes unchecked. Usage: dev/.venv/bin/python dev/check_diagrams.py [DOCUMENT...]
(default: README.md and docs/*.md); exit 1 with one line per problem, `file:line: ...`. Run by dev/test.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from check_links import documents_to_check
from sim.common import FUNCTION, REPO
from sim.template import function_binary, load_template

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
OPENERS, CLOSERS = "[({>/\\", "])}/\\"
# The first words of the lines of a flowchart that declare no node.
FLOWCHART_KEYWORDS = {"direction", "classDef", "class", "style", "linkStyle", "click", "end"}
# The first words of the lines of a sequence diagram that name no participant, or only in free text.
SEQUENCE_BLOCKS = {"loop", "alt", "else", "opt", "par", "and", "critical", "option", "break", "rect", "end",
                   "autonumber", "box", "title"}
SEQUENCE_ARROW = re.compile(r"\s*(?:<<)?-{1,2}(?:>>|>|x|\))[+-]?\s*")


@dataclass
class Diagram:
    """One ```mermaid block: where it starts, its title, and its nodes (id -> (line, label))."""

    document: str
    line: int
    body: list[tuple[int, str]]
    title: str | None = None
    nodes: dict[str, tuple[int, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def node(self, line: int, node_id: str, label: str = "") -> None:
        known_line, known_label = self.nodes.get(node_id, (line, ""))
        self.nodes[node_id] = (known_line, f"{known_label} {label}".strip())

    def problem(self, line: int, text: str) -> None:
        self.problems.append(f"{self.document}:{line}: diagram {self.title or '(untitled)'!r}: {text}")


def diagrams(path: Path, name: str) -> list[Diagram]:
    """The Mermaid blocks of a Markdown file."""
    found, current = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if current is None:
            if re.match(r"^```+\s*mermaid\s*$", stripped):
                current = Diagram(name, number, [])
        elif re.match(r"^```+\s*$", stripped):
            found.append(current)
            current = None
        else:
            current.body.append((number, line))
    return found


def read_label(line: str, at: int) -> tuple[str, int]:
    """The label of a node shape starting at `at` (an opener), and where the shape ends."""
    end = at
    while end < len(line) and line[end] in OPENERS and end - at < 2:
        end += 1
    if end < len(line) and line[end] == '"':
        close = line.find('"', end + 1)
        close = len(line) if close < 0 else close
        label, end = line[end + 1:close], close + 1
    else:
        start = end
        while end < len(line) and line[end] not in CLOSERS:
            end += 1
        label = line[start:end]
    closing = end
    while end < len(line) and line[end] in CLOSERS and end - closing < 2:
        end += 1
    return label, end


def flowchart_nodes(diagram: Diagram, body: list[tuple[int, str]]) -> None:
    for number, line in body:
        text = line.strip()
        if not text or text.startswith("%%") or text.split()[0] in FLOWCHART_KEYWORDS:
            continue
        if text.startswith("subgraph"):
            rest = text[len("subgraph"):].strip()
            match = IDENTIFIER.match(rest)
            if match and (match.end() == len(rest) or rest[match.end():].lstrip().startswith("[")):
                after = rest[match.end():].lstrip()
                label = read_label(after, 0)[0] if after else ""
                diagram.node(number, match.group(0), label)
            continue
        at = 0
        while at < len(text):
            char = text[at]
            if char == "|":  # an edge's text
                close = text.find("|", at + 1)
                at = len(text) if close < 0 else close + 1
            elif char == '"':
                close = text.find('"', at + 1)
                at = len(text) if close < 0 else close + 1
            elif text.startswith(":::", at):  # a class name
                at = IDENTIFIER.match(text, at + 3).end() if IDENTIFIER.match(text, at + 3) else at + 3
            elif IDENTIFIER.match(text, at) and (at == 0 or not text[at - 1].isalnum()):
                match = IDENTIFIER.match(text, at)
                node_id, at = match.group(0), match.end()
                label = ""
                if at < len(text) and text[at] in OPENERS:
                    label, at = read_label(text, at)
                diagram.node(number, node_id, label)
            elif char in "-=.<":  # an arrow, perhaps ending in o or x
                while at < len(text) and text[at] in "-=.<>":
                    at += 1
                if at < len(text) and text[at] in "ox" and (at + 1 == len(text) or not text[at + 1].isalnum()):
                    at += 1
            else:
                at += 1


def sequence_nodes(diagram: Diagram, body: list[tuple[int, str]]) -> None:
    for number, line in body:
        text = line.strip()
        declared = re.match(r"^(?:participant|actor)\s+(\w+)(?:\s+as\s+(.*))?$", text)
        if declared:
            diagram.node(number, declared.group(1), declared.group(2) or declared.group(1))
            continue
        note = re.match(r"^note\s+(?:over|left of|right of)\s+([^:]+):", text, re.I)
        if note:
            for node_id in note.group(1).split(","):
                diagram.node(number, node_id.strip())
            continue
        activation = re.match(r"^(?:activate|deactivate)\s+(\w+)$", text)
        if activation:
            diagram.node(number, activation.group(1))
            continue
        if not text or text.startswith("%%") or text.split()[0] in SEQUENCE_BLOCKS:
            continue
        message = text.split(":", 1)[0]
        for node_id in SEQUENCE_ARROW.split(message):
            if IDENTIFIER.fullmatch(node_id.strip()):
                diagram.node(number, node_id.strip())


def parse(diagram: Diagram) -> None:
    """Reads the title and the nodes of `diagram`."""
    body = diagram.body
    if body and body[0][1].strip() == "---":
        end = next((i for i, (_, line) in enumerate(body[1:], 1) if line.strip() == "---"), None)
        if end is not None:
            try:
                front_matter = yaml.safe_load("\n".join(line for _, line in body[1:end])) or {}
            except yaml.YAMLError as error:
                front_matter = {}
                diagram.problem(body[0][0], f"front matter is not YAML: {error}")
            title = front_matter.get("title") if isinstance(front_matter, dict) else None
            diagram.title = str(title) if title else None
            body = body[end + 1:]
    if diagram.title is None:
        diagram.problem(diagram.line, "no title: open the block with front matter (---, title: ..., ---)")
    body = [(number, line) for number, line in body if line.strip()]
    if not body:
        diagram.problem(diagram.line, "an empty diagram")
        return
    kind = body[0][1].split()[0]
    if kind in ("flowchart", "graph"):
        flowchart_nodes(diagram, body[1:])
    elif kind == "sequenceDiagram":
        sequence_nodes(diagram, body[1:])
    else:
        diagram.problem(body[0][0], f"{kind}: this check reads flowcharts and sequence diagrams only")


def check(documents: list[Path], template: Path, repo: Path = REPO) -> list[str]:
    """One line per problem of the Mermaid diagrams in `documents` against `template`."""
    resources = load_template(template)["Resources"]
    problems = []
    for path in documents:
        path = path.resolve()
        name = str(path.relative_to(repo.resolve())) if path.is_relative_to(repo.resolve()) else str(path)
        for diagram in diagrams(path, name):
            parse(diagram)
            for node_id, (line, label) in diagram.nodes.items():
                if not node_id[0].isupper():
                    continue
                resource = resources.get(node_id)
                if resource is None:
                    diagram.problem(line, f"{node_id} is not a resource of {template.name} (an id that begins "
                                          "with a capital letter is a template logical id)")
                elif resource.get("Type") == FUNCTION:
                    binary = function_binary(node_id, resource)
                    if not re.search(rf"(?<![\w-]){re.escape(binary)}(?![\w-])", label):
                        diagram.problem(line, f"{node_id}'s label {label!r} does not name its function, {binary}")
            problems.extend(diagram.problems)
    return problems


def main(arguments: list[str]) -> int:
    documents = documents_to_check(arguments)
    problems = check(documents, REPO / "template.yaml")
    for problem in problems:
        print(problem, file=sys.stderr)
    count = sum(len(diagrams(path.resolve(), str(path))) for path in documents)
    print(f"check_diagrams: {count} diagrams in {len(documents)} documents, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
