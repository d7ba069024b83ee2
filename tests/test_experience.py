"""What a person meets: one Dagster history for the CLI and the UI, one-line errors with the exit
status that says whose move it is, commands that say what happened, progress that suits the screen."""
import io
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.cli import build_parser, main
from pipelines.progress import TerminalProgress, report, show_progress_on
from tests.conftest import KEY, fr_act, write_fr

CHALON = "710000019"
PROJECT = Path(__file__).resolve().parents[1]


def _carnet(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=PROJECT, capture_output=True,
                          text=True, timeout=300, env=env, input=stdin)


def _env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "DAGSTER_"))}
    return dict(env, CARNET_HOME=str(home), CARNET_INBOX_SETTLE_SECONDS="0", **extra)


def test_the_cli_records_its_runs_in_the_homes_dagster_instance(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    write_fr(home / "inbox", f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    monkeypatch.setenv("CARNET_HOME", str(home))
    monkeypatch.setenv("CARNET_PSEUDONYMISATION_KEY", KEY.decode())
    monkeypatch.setenv("CARNET_INBOX_SETTLE_SECONDS", "0")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["ingest"]) == 0
    assert "ingested 1 file(s): rows read 1, appended 1" in capsys.readouterr().out
    assert "telemetry:\n  enabled: false" in (home / "dagster" / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:  # what `carnet dev` shows
        [run] = instance.get_runs()
        assert (run.job_name, run.status, run.tags["carnet/launched_by"]) == \
            ("ingest_job", dg.DagsterRunStatus.SUCCESS, "cli")
        assert instance.get_latest_materialization_event(dg.AssetKey(["event_log", "consultation_recorded"]))
    elsewhere = tmp_path / "dagster_elsewhere"
    monkeypatch.setenv("DAGSTER_HOME", str(elsewhere))
    assert main(["ingest"]) == 0
    assert (elsewhere / "dagster.yaml").exists()


@pytest.mark.slow  # a process of its own
def test_a_configuration_error_inside_a_run_is_one_line_and_exit_2(tmp_path):
    home = tmp_path / "home"
    write_fr(home / "inbox", f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    done = _carnet("refresh", env=_env(home))  # no key, not a demo
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("carnet: CARNET_PSEUDONYMISATION_KEY is not set.")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2
    assert not (home / "incidents.log").exists()  # a person's move, not an incident


def test_a_failing_run_is_one_line_exit_1_and_an_incident(tmp_path, monkeypatch, capsys):
    import pipelines.definitions  # noqa: F401  (imported before the patch: modules that bind
    # `inbox_files` at import would otherwise keep the failing stand-in for the worker's later tests)
    from pipelines.ingestion import service

    home = tmp_path / "home"
    write_fr(home / "inbox", f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    monkeypatch.setenv("CARNET_HOME", str(home))
    monkeypatch.setenv("CARNET_DEMO", "1")
    monkeypatch.setenv("CARNET_INBOX_SETTLE_SECONDS", "0")

    def disk_gone(*args, **kwargs):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(service, "inbox_files", disk_gone)
    assert main(["ingest"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("carnet: ingest_job failed in ingest_inbox: OSError: [Errno 5] Input/output error")
    [incident] = (home / "incidents.log").read_text().splitlines()
    assert "job=ingest_job" in incident and "Input/output error" in incident


@pytest.mark.slow  # a process of its own
def test_ingest_says_which_files_were_quarantined_whole_and_why(tmp_path):
    home = tmp_path / "home"
    write_fr(home / "inbox", f"{CHALON}__consultations__20240306T020000.csv", [fr_act("A1")])
    (home / "inbox" / CHALON / f"{CHALON}__consultations__20240307T020000.csv").write_bytes(b"\x00\x01garbage")
    done = _carnet("ingest", env=_env(home, CARNET_DEMO="1"))
    assert done.returncode == 0, done.stderr
    assert "ingested 1 file(s): rows read 1, appended 1, duplicates 0, quarantined 0" in done.stdout
    assert "1 file(s) quarantined whole:" in done.stdout
    assert "__20240307T020000.csv': the file holds binary data" in done.stdout


@pytest.mark.slow  # a process of its own
def test_a_mistyped_home_is_an_error_for_every_command_but_demo_and_generate(tmp_path):
    missing = tmp_path / "typo"
    for command in (["status"], ["ingest"], ["refresh"], ["quarantine"], ["publish"]):
        done = _carnet(*command, env=_env(missing, CARNET_DEMO="1"))
        assert done.returncode == 2 and "does not exist: check its spelling" in done.stderr, command
    assert not missing.exists()


def test_help_lists_the_environment_and_every_option_says_what_it_does():
    parser = build_parser()
    text = parser.format_help()
    for variable in ("CARNET_HOME", "CARNET_PSEUDONYMISATION_KEY", "CARNET_DEMO", "CARNET_SECRECY_THRESHOLD",
                     "CARNET_RELEASE_MIN_ROW_RATIO", "CARNET_DUCKDB_MEMORY_LIMIT", "CARNET_INBOX_SETTLE_SECONDS",
                     "CARNET_ENGINE", "CARNET_SPARK_MASTER", "CARNET_SPARK_DRIVER_MEMORY", "CARNET_SPARK_LOG_URL",
                     "DAGSTER_HOME"):
        assert variable in text
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"carnet {name} {action.option_strings or action.dest} has no help"
    assert {"--centres", "--files"} <= set(commands["refresh"]._option_string_actions)


def test_progress_is_a_bar_on_a_terminal_and_lines_in_a_log():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    for stream, expect_bar in ((Tty(), True), (io.StringIO(), False)):
        handler = show_progress_on(stream)
        try:
            for done in range(1, 41):
                report(None, f"ingested {done}/40 files", done=done, total=40, label="ingestion")
            report(None, "marts: full refresh")
        finally:
            import logging

            logging.getLogger("carnet.progress").removeHandler(handler)
        text = stream.getvalue()
        if expect_bar:
            assert "\r" in text and "[########################] 40/40" in text
        else:
            assert "\r" not in text and text.count("ingested") == 11 and "ingested 40/40 files" in text
        assert text.endswith("marts: full refresh\n")
    assert isinstance(handler, TerminalProgress)


def test_settings_are_read_once_and_a_bad_value_says_what_to_write(tmp_path):
    import pytest

    from pipelines.settings import ConfigurationError, Settings

    settings = Settings.from_environment({"CARNET_HOME": str(tmp_path), "CARNET_SECRECY_THRESHOLD": "15",
                                          "CARNET_DUCKDB_MEMORY_LIMIT": "1GB", "DAGSTER_HOME": str(tmp_path / "d")})
    assert (settings.secrecy_threshold, settings.release_min_row_ratio, settings.inbox_settle_seconds) == (15, 0.9, 2.0)
    assert settings.paths.dagster_home == tmp_path / "d"
    assert settings.duckdb_config()["block_allocator_memory"] == "476MiB"
    assert (settings.engine, settings.spark_master) == ("duckdb", "local[2]")
    assert Settings.from_environment({"CARNET_ENGINE": "Spark"}).engine == "spark"
    assert Settings.from_environment({"CARNET_ENGINE": "local"}).engine == "duckdb"  # the gateway's name
    for name, value, says in (("CARNET_SECRECY_THRESHOLD", "1", "2 or more"),
                              ("CARNET_SECRECY_THRESHOLD", "eleven", "not a whole number"),
                              ("CARNET_RELEASE_MIN_ROW_RATIO", "most", "not a number"),
                              ("CARNET_INBOX_SETTLE_SECONDS", "-1", "0 or more"),
                              ("CARNET_DUCKDB_MEMORY_LIMIT", "lots", "not a size"),
                              ("CARNET_ENGINE", "postgres", "write duckdb .* or spark"),
                              ("CARNET_SPARK_DRIVER_MEMORY", "lots", "not a JVM size"),
                              ("CARNET_PSEUDONYMISATION_KEY", "short", "at least 16")):
        with pytest.raises(ConfigurationError, match=says):
            Settings.from_environment({name: value})


def test_only_the_settings_module_reads_the_environment():
    import re

    readers = [p.relative_to(PROJECT) for folder in ("pipelines", "contracts") for p in (PROJECT / folder).rglob("*.py")
               if re.search(r"os\.environ|os\.getenv", p.read_text(encoding="utf-8"))]
    assert readers == [Path("pipelines/settings.py")]


def test_carnet_dev_serves_the_homes_dagster_instance_and_passes_its_arguments_on(tmp_path, monkeypatch):
    from pipelines import cli

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("CARNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    launched = {}
    monkeypatch.setattr(cli.os, "execve", lambda path, argv, env: launched.update(argv=argv, env=env))
    main(["dev", "-p", "3001"])
    assert launched["argv"][1:3] == ["dev", "-w"] and launched["argv"][-2:] == ["-p", "3001"]
    assert launched["env"]["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")
    assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()
