"""Unit tests of dev/module_map.py on tiny crates in a temporary directory (`python3 -m unittest`)."""
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import module_map  # noqa: E402


class ModuleMapTest(unittest.TestCase):
    def setUp(self):
        temporary = tempfile.TemporaryDirectory()
        self.addCleanup(temporary.cleanup)
        self.dir = Path(temporary.name)

    def crate(self, **files):
        """Writes `files` (keyword `a__b` is a/b.rs) into a temporary src/ and returns its module map."""
        src = self.dir / "src"
        for name, text in files.items():
            path = src / (name.replace("__", "/") + ".rs")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return module_map.analyse(src)

    def violations(self, crate, rules):
        path = self.dir / "rules"
        path.write_text(rules)
        return [violation.replace(f"{path}:", "rules:") for violation in module_map.check(crate, path)]

    def test_a_cycle_is_found_at_both_levels_with_an_example_per_edge(self):
        crate = self.crate(
            lib="pub mod a;\npub mod b;\n",
            a="use crate::b::B;\npub struct A;\n",
            b="pub struct B;\n\npub fn f() {\n    let _ = crate::a::A;\n}\n",
        )
        cycle = [{"from": "a", "to": "b", "at": "a.rs:1"}, {"from": "b", "to": "a", "at": "b.rs:4"}]
        self.assertEqual(crate["cycles"], {"modules": [cycle], "files": [cycle]})
        self.assertEqual(crate["layers"], [["{a, b}"]])
        self.assertEqual(len(self.violations(crate, "no cycles\n")), 2)

    def test_references_from_test_code_comments_and_strings_are_ignored(self):
        crate = self.crate(
            lib="pub mod a;\npub mod b;\n#[cfg(test)]\nmod c;\n",
            a="""\
                //! Uses crate::b::B only in its docs.
                pub fn f() -> &'static str {
                    "crate::b::B"
                }

                #[cfg(test)]
                mod tests {
                    use crate::b::B;
                }
            """,
            b="pub struct B;\n",
            c="use crate::a::f;\n",
        )
        self.assertEqual(crate["deps"], {"a": {}, "b": {}, "c": {}})
        a = crate["modules"]["a"]["files"][0]
        self.assertEqual((a["code"], a["tests"], a["total"]), (3, 4, 9))
        self.assertEqual(crate["modules"]["c"]["tests"], 1)

    def test_groups_super_globs_and_reexports_resolve_to_the_module_that_defines_the_item(self):
        crate = self.crate(
            lib="pub mod app;\npub mod store;\npub mod util;\n",
            store__mod="mod sql;\npub use sql::Table;\npub trait Repo {}\n",
            store__sql="use super::*;\npub struct Table;\n",
            util="pub fn now() {}\n",
            app="use crate::{store::{self, Table}, util::now};\n",
        )
        self.assertEqual(crate["file_deps"], {
            "app": {"store": "app.rs:1", "store::sql": "app.rs:1", "util": "app.rs:1"},
            "store::sql": {"store": "store/sql.rs:1"},
        })
        self.assertEqual(crate["cycles"], {"modules": [], "files": []})
        self.assertEqual(crate["layers"], [["store", "util"], ["app"]])

    def test_forbidden_modules_and_crates_are_reported(self):
        crate = self.crate(
            lib="pub mod domain;\npub mod http;\npub mod service;\n",
            http="pub struct If;\n",
            domain="use lambda_http::{aws_lambda_events, http::StatusCode};\n",
            service="pub fn f() -> crate::http::If {\n    aws_sdk_sqs::Client::new()\n}\n",
        )
        self.assertEqual(self.violations(crate, "# a comment\nservice -> http, aws_*\ndomain -> http\n"), [
            "rules:2: service must not use the module http, but service.rs:1 does",
            "rules:2: service must not use the crate aws_sdk_sqs, but service.rs:2 does",
            "rules:3: domain must not use the crate http, but domain.rs:1 does",
        ])
        uses = dict.fromkeys(["aws_lambda_events", "http", "lambda_http"], "domain.rs:1")
        self.assertEqual(crate["external"]["domain"], uses)

    def test_the_command_compares_with_a_git_revision_and_checks_rules(self):
        def run(*args):
            return subprocess.run(args, cwd=self.dir, capture_output=True, text=True)

        self.crate(lib="pub mod a;\npub mod b;\n", a="use crate::b::B;\n", b="pub struct B;\n")
        run("git", "init", "--quiet")
        run("git", "add", "src")
        run("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "one")
        (self.dir / "src" / "b.rs").write_text("pub struct B;\npub fn f() {\n    crate::a::g();\n}\n")
        script = Path(__file__).with_name("module_map.py")
        compared = run(sys.executable, script, "--src", "src", "--compare", "HEAD")
        self.assertEqual(compared.returncode, 0, compared.stderr)
        self.assertIn("top-level modules, before: 0\n   top-level modules, after: 1\n     a <-> b\n", compared.stdout)
        self.assertRegex(compared.stdout, r"\n   b +1 +1 +0 +1   \| +1 +4 +0 +4\n")
        (self.dir / "rules").write_text("no cycles\n")
        checked = run(sys.executable, script, "--src", "src", "--check", "rules")
        self.assertEqual((checked.returncode, checked.stderr.count("a cycle")), (1, 2), checked.stderr)


if __name__ == "__main__":
    unittest.main()
