"""Fails on a broken relative link or anchor in README.md and docs/*.md, as GitHub renders them.

What is checked, outside fenced code blocks and inline code:
- every inline link or image `[text](target)` and every reference definition `[label]: target` whose
  target has no scheme (http:, https:, mailto: are left alone): its path, relative to the document,
  must exist and stay inside the repository;
- its anchor (`#slug`, alone or after a path to a Markdown file) must be the slug of a heading of that
  document, or an explicit `<a id="...">` / `<a name="...">` in it;
- a test named in inline code as `path/to/file.rs::function` (how docs/security.md cites its proofs)
  must be a `fn function` in that file, relative to the repository.

GitHub's heading slugs (github-slugger): the heading's text as rendered (inline code keeps its text, a
link its text, HTML tags dropped), lower-cased; every character that is not a letter, a digit, a space,
`-` or `_` removed; each space turned into `-`; a slug already used in the document gets `-1`, `-2`, ...

Usage: python3 dev/check_links.py [DOCUMENT...]   (default: README.md and docs/*.md); exit 1 on a
broken link, with one line per link: `file:line: ...`. Run by dev/test.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*?(?:id|name)\s*=\s*\"([^\"]+)\"", re.I)
SCHEME = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
TEST_REFERENCE = re.compile(r"^([\w./-]+\.rs)::(\w+)$")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading with this Markdown text (before duplicates are numbered)."""
    text = CODE_SPAN.sub(lambda match: match.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


class Document:
    """One Markdown file: its anchors, and its lines outside fenced code."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: list[tuple[int, str]] = []
        self.anchors: set[str] = set()
        seen: dict[str, int] = {}
        fence = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            opening = FENCE.match(line)
            if fence is not None:
                if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                    fence = None
                continue
            if opening:
                fence = opening.group(1)
                continue
            self.lines.append((number, line))
            self.anchors.update(HTML_ANCHOR.findall(line))
            heading = HEADING.match(line)
            if heading:
                base = slug(heading.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                self.anchors.add(base if count == 0 else f"{base}-{count}")


def targets(line: str) -> list[str]:
    """The link targets of one line, inline code left out."""
    prose = CODE_SPAN.sub(lambda match: " " * len(match.group(0)), line)
    found = [match.group(1) for match in INLINE_LINK.finditer(prose)]
    definition = REFERENCE_DEFINITION.match(prose)
    if definition:
        found.append(definition.group(1))
    return found


def check(documents: list[Path], repo: Path = REPO) -> list[str]:
    """One line per broken link, anchor or test reference in `documents`."""
    repo = repo.resolve()
    parsed: dict[Path, Document] = {}

    def document(path: Path) -> Document:
        if path not in parsed:
            parsed[path] = Document(path)
        return parsed[path]

    problems = []
    for path in documents:
        path = path.resolve()
        where = path.relative_to(repo) if path.is_relative_to(repo) else path
        for number, line in document(path).lines:
            for target in targets(line):
                if not target or SCHEME.match(target):
                    continue
                problem = broken(path, target, repo, document)
                if problem:
                    problems.append(f"{where}:{number}: {target}: {problem}")
            for match in CODE_SPAN.finditer(line):
                reference = TEST_REFERENCE.match(match.group(2).strip())
                if reference:
                    problem = missing_function(repo, *reference.groups())
                    if problem:
                        problems.append(f"{where}:{number}: {reference.group(0)}: {problem}")
    return problems


def broken(source: Path, target: str, repo: Path, document) -> str | None:
    """Why `target`, linked from `source`, does not resolve, or None."""
    path_part, _, anchor = target.partition("#")
    path = (source.parent / unquote(path_part)).resolve() if path_part else source
    if not path.is_relative_to(repo):
        return "leaves the repository (GitHub cannot show it)"
    if not path.exists():
        return f"no such file or directory ({path.relative_to(repo)})"
    if anchor and path.is_file() and path.suffix.lower() == ".md":
        anchors = document(path).anchors
        if unquote(anchor) not in anchors:
            return f"no heading of {path.relative_to(repo)} has the anchor #{anchor} (it has: {', '.join(sorted(anchors))})"
    return None


def missing_function(repo: Path, file: str, function: str) -> str | None:
    path = repo / file
    if not path.is_file():
        return f"no such file {file}"
    if not re.search(rf"\bfn\s+{re.escape(function)}\s*[(<]", path.read_text(encoding="utf-8")):
        return f"{file} has no fn {function}"
    return None


def documents_to_check(arguments: list[str]) -> list[Path]:
    """The documents named, or README.md and docs/*.md (what dev/test checks)."""
    return [Path(argument) for argument in arguments] or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main(arguments: list[str]) -> int:
    documents = documents_to_check(arguments)
    problems = check(documents)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"check_links: {len(documents)} documents, {len(problems)} broken links")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
