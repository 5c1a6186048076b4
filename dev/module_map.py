"""The module map of a Rust crate (dev/module-map runs it on core/src, or on aws/src or lambda/src
with `--src`): its modules with their files and lines, the dependencies between them, their cycles
and layers, and which top-level modules use the watched external crates. `--check RULES` fails on a
broken layering rule, `--compare REV` shows a git revision's map beside today's.

What counts: `code` and `test` are non-blank, non-comment lines outside and inside test code (items
under `#[cfg(test)]`, files of modules declared `#[cfg(test)] mod name;`); `total` is every line.
Dependencies come from non-test code only: `use` trees (groups, `self`, `super`, globs, aliases)
and inline paths (`crate::observability::f()`, `super::x`, or a name a `use` bound), each resolved
to the deepest module it names, through `pub use` re-exports. A module's references into its own
submodules are containment, not dependencies. Not modelled: inline non-test `mod x { .. }`, `#[path]`,
macros' own paths.
"""
import argparse
import bisect
import fnmatch
import functools
import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

WATCH = re.compile(r"lambda_http|lambda_runtime|aws_lambda_events|aws_\w+|http|redis|hyper\w*")
LEXEME = re.compile(
    r'//[^\n]*|/\*.*?\*/|(?<!\w)b?r(#*)".*?"\1|(?<!\w)b?"(?:\\.|[^"\\])*"'
    r"|'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^'\\\n])'",
    re.S,
)
CFG_TEST = re.compile(r"#\[cfg\((?:all\()?test\b[^\]]*\]")
ATTRIBUTE = re.compile(r"\s*#\[[^\]]*\]")
MOD_DECL = re.compile(r"(?<!\w)mod\s+(\w+)\s*;")
USE = re.compile(r"(?<![\w:])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
PATH = re.compile(r"(?<![\w$:])(?:::)?[A-Za-z_]\w*(?:::\w+)+")


def blank(text):
    return re.sub(r"[^\n]", " ", text)


def strip(text, strings):
    """Comments blanked (and string and char literals too if `strings`); lines keep their numbers."""
    return LEXEME.sub(lambda m: blank(m[0]) if m[0][0] == "/" or strings else m[0], text)


def test_spans(code):
    """(start, end) offsets of the items under `#[cfg(test)]` in comment- and string-free code."""
    spans = []
    for attr in CFG_TEST.finditer(code):
        i = attr.end()
        while next_attr := ATTRIBUTE.match(code, i):
            i = next_attr.end()
        is_use = re.match(r"\s*(pub(\([^)]*\))?\s+)?use\b", code[i:])
        depth = 0
        while i < len(code):
            if code[i] == ";" and depth == 0:
                break
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            if code[i] == "}" and depth == 0 and not is_use:
                break
            i += 1
        spans.append((attr.start(), i + 1))
    return spans


def use_leaves(tree):
    """`a::{b, c::{d as e}, f::*}` -> [(['a','b'], 'b'), (['a','c','d'], 'e'), (['a','f','*'], '*')]."""
    tokens = re.findall(r"::|[{},*]|\w+", tree) + ["}"]

    def parse(i, prefix):
        path, leaves = list(prefix), []
        while tokens[i] not in ",}":
            if tokens[i] == "{":
                i += 1
                while tokens[i] != "}":
                    sub, i = parse(i, path)
                    leaves += sub
                    i += tokens[i] == ","
                return leaves, i + 1
            if tokens[i] == "as":
                return [(path, tokens[i + 1])], i + 2
            if tokens[i] != "::":
                path.append(tokens[i])
            i += 1
        bound = path[-2] if path[-1:] == ["self"] and len(path) > 1 else path[-1] if path else None
        return [(path, bound)], i

    return parse(0, [])[0] if tree.strip() else []


class Crate:
    def __init__(self, src):
        self.src, self.files = Path(src), {}  # module tuple -> file facts
        self.visit(self.src / "lib.rs", (), False)
        self.reexports = {module: self.bindings(module, public=True) for module in self.files}

    def visit(self, path, module, test):
        text = path.read_text()
        code = strip(text, strings=True)
        test = test or bool(re.search(r"#!\[cfg\(test\)\]", code))
        spans = [(0, len(code))] if test else test_spans(code)
        main = code
        for start, end in spans:
            main = main[:start] + blank(main[start:end]) + main[end:]
        in_test = {n for s, e in spans for n in range(code.count("\n", 0, s), code.count("\n", 0, e) + 1)}
        lines = [n for n, line in enumerate(strip(text, strings=False).split("\n")) if line.strip()]
        self.files[module] = dict(
            path=str(path.relative_to(self.src)), test=test, total=len(text.splitlines()),
            code=sum(n not in in_test for n in lines), tests=sum(n in in_test for n in lines),
            main=main, starts=[m.end() for m in re.finditer("\n", main)])
        here = path.parent if path.name in ("lib.rs", "mod.rs") else path.parent / path.stem
        for decl in MOD_DECL.finditer(code):
            name, child_test = decl[1], test or any(s <= decl.start() < e for s, e in spans)
            for candidate in (here / f"{name}.rs", here / name / "mod.rs"):
                if candidate.exists():
                    self.visit(candidate, module + (name,), child_test)
                    break

    def absolute(self, segments, here, bound=None):
        """A path as segments from the crate root, or None for an external crate's path."""
        head, rest = segments[0], list(segments)
        if bound and head in bound:
            return bound[head] + rest[1:]
        if head == "crate":
            return rest[1:]
        if head in ("self", "super"):
            base = list(here)
            while rest and rest[0] in ("self", "super"):
                base = base[:-1] if rest.pop(0) == "super" else base
            return base + rest
        return list(here) + rest if here + (head,) in self.files else None

    def bindings(self, here, public):
        """Names a module's `use` items bind to crate paths (only `pub use` ones if `public`)."""
        names = {}
        for use in USE.finditer(self.files[here]["main"]):
            for segments, bound in use_leaves(use[2]) if use[1] or not public else []:
                target = self.absolute(segments, here)
                if target is not None and bound not in (None, "*"):
                    names[bound] = [s for s in target if s != "self"]
        return names

    def module_of(self, path, depth=0):
        """The deepest module an absolute path names, or the one a `pub use` on the way re-exports."""
        base = ()
        for i, segment in enumerate(path):
            if segment in ("self", "*"):
                continue
            if base + (segment,) in self.files:
                base += (segment,)
                continue
            target = self.reexports.get(base, {}).get(segment)
            if target is not None and depth < 8:
                return self.module_of(target + path[i + 1:], depth + 1)
            break
        return base

    def references(self, module):
        """(line, target module or None, external crates) for each path in a file's non-test code."""
        f = self.files[module]
        bound = self.bindings(module, public=False)
        found = [(use.start(), leaf) for use in USE.finditer(f["main"]) for leaf, _ in use_leaves(use[2])]
        found += [(m.start(), m[0].lstrip(":").split("::")) for m in PATH.finditer(f["main"])]
        for offset, segments in found:
            line = bisect.bisect(f["starts"], offset) + 1
            target = self.absolute(segments, module, bound) if segments else None
            if target is not None:
                yield line, self.module_of(target), set()
            elif segments and WATCH.fullmatch(segments[0]):
                # lambda_http re-exports http, lambda_runtime and aws_lambda_events: a use through it counts.
                reexported = [s for s in segments[1:2] if segments[0] == "lambda_http" and WATCH.fullmatch(s)]
                yield line, None, {segments[0], *reexported}


def components(edges):
    """The strongly connected components of a graph (node -> {node: ..}), each a tuple, sorted."""
    nodes, reach = set(edges) | {w for targets in edges.values() for w in targets}, {}
    for v in nodes:  # the graphs have tens of nodes: reachability from each is cheap and plain
        reach[v], todo = set(), [v]
        while todo:
            for w in edges.get(todo.pop(), ()):
                if w not in reach[v]:
                    reach[v].add(w)
                    todo.append(w)
    return sorted({tuple(sorted({v} | {w for w in reach[v] if v in reach[w]})) for v in nodes})


def analyse(src):
    crate = Crate(src)
    name = lambda m: "::".join(m) or "crate"  # noqa: E731
    tops = sorted({m[0] for m in crate.files if m})
    modules = {t: dict(files=[], code=0, tests=0, total=0) for t in tops + ["crate"]}
    deps, file_deps, external = {t: {} for t in tops}, {}, {t: {} for t in tops}
    for module, f in sorted(crate.files.items()):
        row = modules[module[0] if module else "crate"]
        row["files"].append({k: f[k] for k in ("path", "code", "tests", "total")})
        for k in ("code", "tests", "total"):
            row[k] += f[k]
        if f["test"]:
            continue
        for line, target, crates in crate.references(module):
            at = f"{f['path']}:{line}"
            for used in crates if module else ():
                external[module[0]].setdefault(used, at)
            # A reference into the module's own subtree is containment, and test modules are not built.
            if target is None or target[: len(module)] == module or crate.files[target]["test"]:
                continue
            file_deps.setdefault(name(module), {}).setdefault(name(target), at)
            if module and target and module[0] != target[0]:
                deps[module[0]].setdefault(target[0], at)
    cycles = {level: [[{"from": a, "to": b, "at": graph[a][b]} for a in c for b in sorted(graph.get(a, {})) if b in c]
                      for c in components(graph) if len(c) > 1]
              for level, graph in (("modules", deps), ("files", file_deps))}
    component = {v: c for c in components(deps) for v in c}

    @functools.cache
    def level(c):  # a component's layer: one above the highest it uses
        return 1 + max([level(component[d]) for v in c for d in deps[v] if d not in c], default=-1)

    layers = [[] for _ in range(1 + max(map(level, component.values()), default=-1))]
    for c in sorted(set(component.values())):
        layers[level(c)].append("{" + ", ".join(c) + "}" if len(c) > 1 else c[0])
    totals = {k: sum(r[k] for r in modules.values()) for k in ("code", "tests", "total")}
    totals["files"] = sum(len(r["files"]) for r in modules.values())
    return dict(src=str(src), modules=modules, totals=totals, deps=deps, file_deps=file_deps, cycles=cycles,
                layers=layers, external={t: e for t, e in external.items() if e})


def cells(row):
    """The files, code, test and total columns of a module's row, of a file's (no count) or of none."""
    if not row:
        return f"{'-':>6}{'':>21}"
    files = len(row["files"]) if isinstance(row.get("files"), list) else row.get("files", "")
    return f"{files:>6}{row['code']:>7}{row['tests']:>7}{row['total']:>7}"


def table(maps, files):
    """Section 1 of one map, or of several side by side."""
    header = f"{'files':>6}{'code':>7}{'test':>7}{'total':>7}"
    out = [f"   {'module':<32}" + "   | ".join([header] * len(maps))]
    for top in sorted(set().union(*(m["modules"] for m in maps)), key=lambda t: (t == "crate", t)):
        rows = [m["modules"].get(top, {}) for m in maps]
        out.append(f"   {top:<32}" + "   | ".join(cells(row) for row in rows))
        for path in sorted({f["path"] for row in rows for f in row.get("files", [])} if files else ()):
            found = [next((f for f in row.get("files", []) if f["path"] == path), None) for row in rows]
            out.append(f"     {path:<30}" + "   | ".join(cells(f) for f in found))
    return out + [f"   {'total':<32}" + "   | ".join(cells(m["totals"]) for m in maps)]


def report(m, files):
    out = [f"Module map of {m['src']}", "", "1. Modules (code, test: non-blank non-comment lines; total: all lines)"]
    out += table([m], files) + ["", "2. Dependencies between top-level modules (A -> B: A uses B)"]
    out += [f"   {top} -> {', '.join(sorted(used)) or '-'}" for top, used in m["deps"].items()]
    out += ["", "3. Cycles (one example reference per edge)"]
    for level, label in (("modules", "top-level modules"), ("files", "files/modules")):
        out.append(f"   {label}: {len(m['cycles'][level])}")
        for cycle in m["cycles"][level]:
            out.append("     " + " <-> ".join(sorted({e["from"] for e in cycle})))
            out += [f"       {e['from']} -> {e['to']}  {e['at']}" for e in cycle]
    out += ["", "4. Layers, bottom up (each uses only layers below it; {a, b}: a cycle)"]
    out += [f"   {n}: {', '.join(layer)}" for n, layer in enumerate(m["layers"])]
    out += ["", "5. Watched external crates per top-level module"]
    out += [f"   {top}: {', '.join(sorted(crates))}" for top, crates in m["external"].items()]
    return "\n".join(out)


def side_by_side(before, after, files):
    out = [f"Module map before: {before['src']}", f"            after: {after['src']}", "",
           f"1. Modules{'before':>52}{'after':>32}"] + table([before, after], files) + ["", "2. Top-level dependencies"]
    edges = [{f"{a} -> {b}" for a, used in m["deps"].items() for b in used} for m in (before, after)]
    out += [f"   removed: {', '.join(sorted(edges[0] - edges[1])) or '-'}",
            f"   added:   {', '.join(sorted(edges[1] - edges[0])) or '-'}", "", "3. Cycles"]
    for level, label in (("modules", "top-level modules"), ("files", "files/modules")):
        for when, m in (("before", before), ("after", after)):
            cycles = [" <-> ".join(sorted({e["from"] for e in c})) for c in m["cycles"][level]]
            out.append(f"   {label}, {when}: {len(cycles)}" + "".join(f"\n     {c}" for c in cycles))
    out += ["", "4. Layers, bottom up"]
    for when, m in (("before", before), ("after", after)):
        out += [f"   {when}:"] + [f"     {n}: {', '.join(layer)}" for n, layer in enumerate(m["layers"])]
    out += ["", "5. Watched external crates"]
    for top in sorted(set(before["external"]) | set(after["external"])):
        old, new = (", ".join(sorted(m["external"].get(top, {}))) or "-" for m in (before, after))
        out.append(f"   {top}: {old}" + (f"  ->  {new}" if new != old else "  (unchanged)"))
    return "\n".join(out)


def check(m, rules):
    """Violations of a rules file (its format is described at its top)."""
    violations = []
    for n, raw in enumerate(Path(rules).read_text().splitlines(), 1):
        rule, where = raw.split("#")[0].strip(), f"{rules}:{n}"
        if rule == "no cycles":
            for level, cycles in m["cycles"].items():
                label = "top-level modules" if level == "modules" else "files/modules"
                violations += [f"{where}: a cycle between {label}: " + ", ".join(
                    f"{e['from']} -> {e['to']} ({e['at']})" for e in cycle) for cycle in cycles]
        elif "->" in rule:
            source, _, targets = rule.partition("->")
            patterns = [p.strip() for p in targets.split(",") if p.strip()]
            for top in (t for t in m["deps"] if fnmatch.fnmatchcase(t, source.strip())):
                for kind, used in (("module", m["deps"][top]), ("crate", m["external"].get(top, {}))):
                    forbidden = [t for t in sorted(used) if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
                    violations += [f"{where}: {top} must not use the {kind} {t}, but {used[t]} does" for t in forbidden]
        elif rule:
            sys.exit(f"{where}: not a rule: {rule!r} (expected 'no cycles' or 'module -> name, name')")
    return violations


def at_revision(rev, src, tmp):
    """Analyses `src` as it was at git revision `rev`."""
    archive = subprocess.run(["git", "archive", rev, "--", src], capture_output=True)
    if archive.returncode:
        sys.exit(f"git archive {rev} -- {src}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
    short = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True, text=True, check=True).stdout
    return dict(analyse(Path(tmp) / src), src=f"{src} at {short.strip()} ({rev})")


def main():
    parser = argparse.ArgumentParser(
        prog="dev/module-map", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", default="core/src", help="the crate's source directory (default core/src)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--files", action="store_true", help="list each module's files in the table")
    parser.add_argument("--check", metavar="RULES", help="exit 1, with one line per violation, if a rule is broken")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--compare", metavar="GIT_REV", help="show the map at GIT_REV beside today's")
    group.add_argument("--baseline", metavar="FILE", help="show a map saved with --json beside today's")
    args = parser.parse_args()
    if not Path(args.src, "lib.rs").is_file():
        sys.exit(f"{args.src}/lib.rs: not found (--src names a crate's source directory)")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dev/module-map | head` ends quietly
    now = analyse(args.src)
    if args.check:
        violations = check(now, args.check)
        print("\n".join(violations) or f"{args.check}: every rule holds", file=sys.stderr if violations else sys.stdout)
        sys.exit(1 if violations else 0)
    before = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    if args.compare:
        with tempfile.TemporaryDirectory() as tmp:
            before = at_revision(args.compare, args.src, tmp)
    if args.json:
        print(json.dumps(dict(before=before, after=now) if before else now, indent=2))
    else:
        after = dict(now, src=f"{args.src} (working tree)")
        print(side_by_side(before, after, args.files) if before else report(now, args.files))


if __name__ == "__main__":
    main()
