"""The template's functions, their schedules, and where their binaries are looked for."""
import pytest

from sim import functions
from sim.cli import main
from sim.common import StartupError
from sim.schedule import rate_seconds


def test_rates():
    assert [rate_seconds(e) for e in ("rate(1 minute)", "rate(5 minutes)", "rate(2 hours)", "rate(1 day)")] == \
        [60.0, 300.0, 7200.0, 86400.0]
    with pytest.raises(StartupError, match="unsupported Schedule"):
        rate_seconds("cron(0 12 * * ? *)")


def test_settings_merge_globals():
    template = {"Globals": {"Function": {"Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": 10,
                                         "MemorySize": 256,
                                         "Environment": {"Variables": {"A": "global", "B": "global"}}}},
                "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {
                    "Timeout": 3, "Environment": {"Variables": {"B": "own"}}}}}}
    fn, = functions.discover_functions(template, functions.Resolver(template, {}, "t"))
    assert (fn.binary, fn.timeout, fn.memory, fn.env) == ("F", 3.0, 256, {"A": "global", "B": "own"})


def test_an_sqs_event_must_name_a_template_queue():
    template = {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {
        "Runtime": "provided.al2023", "Handler": "bootstrap", "Events": {
        "Q": {"Type": "SQS", "Properties": {"Queue": "arn:aws:sqs:us-east-1:1:elsewhere"}}}}}}}
    with pytest.raises(StartupError, match="F: an event source must be !GetAtt <Queue>.Arn"):
        functions.discover_functions(template, functions.Resolver(template, {}, "t"))


def test_binaries_are_where_cargo_puts_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path))
    functions.cargo_target_dir.cache_clear()
    try:
        assert functions.default_bin_dir() == tmp_path / "debug"
        monkeypatch.delenv("CARGO_TARGET_DIR")
        assert functions.default_bin_dir() == tmp_path / "debug"  # cargo is asked once per process
    finally:
        functions.cargo_target_dir.cache_clear()


def test_without_cargo_the_error_says_what_to_pass(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(StartupError, match="pass --bin-dir"):
        functions.cargo_target_dir.__wrapped__()


def test_missing_binaries_name_the_directory_looked_in(tmp_path, capsys):
    assert main(["serve", "--bin-dir", str(tmp_path), "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert f"missing function binaries in {tmp_path}: " in error and "get-market" in error
