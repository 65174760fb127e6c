"""The command line as an analyst meets it: help on every option with examples, options before or
after the command, a data folder named on the command line, usage errors exit 2, a closed pipe is
not a traceback."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from icsgeo import cli


def _commands(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_every_option_has_help_and_every_command_examples():
    parser = cli.build_parser()
    commands = list(_commands(parser))
    assert len(commands) >= 15
    for path, sub in commands:
        missing = [a.dest for a in sub._actions if a.help in (None, "") and not isinstance(a, argparse._SubParsersAction)]
        assert not missing, f"icsgeo {' '.join(path)}: options without help: {missing}"
        if path not in (("data",), ("index",)):  # a group's own examples name its actions
            assert sub.epilog and "icsgeo" in sub.epilog and (sub.epilog.startswith("examples:") or "example:" in sub.epilog), path
        else:
            assert sub.epilog, path


@pytest.mark.parametrize("argv", [["-v", "where", "S1 2HE"], ["where", "S1 2HE", "-v"], ["where", "-v", "S1 2HE"]])
def test_verbose_before_or_after_the_command(argv):
    args = cli.build_parser().parse_args(argv)
    assert args.verbose == 1 and args.postcodes == ["S1 2HE"]


def test_data_dir_before_or_after_the_command():
    for argv in (["--data-dir", "D:/nhs", "data"], ["data", "--data-dir", "D:/nhs"]):
        assert cli.build_parser().parse_args(argv).data_dir == "D:/nhs"
    assert cli.build_parser().parse_args(["data"]).data_dir is None


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ICSGEO_DATA_DIR"}
    return {**env, **extra}


@pytest.mark.realdata
def test_data_dir_option_replaces_the_environment_variable(real_data_dir):
    out = subprocess.run([sys.executable, "-m", "icsgeo", "data", "--json", "--no-rows", "--data-dir", str(real_data_dir)],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows and all(r["present"] for r in rows if r.get("id", "").startswith("lsoa21-bgc"))


@pytest.mark.realdata
def test_an_unknown_system_is_a_usage_error():
    code = cli.main(["places", "no such system anywhere"])
    assert code == 2


@pytest.mark.realdata
def test_a_closed_pipe_is_not_a_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "icsgeo", "where", *(["S1 2HE"] * 400), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.wait(120)
    assert first.strip() == b"["
    assert "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.realdata
def test_tables_show_whole_counts_and_short_shares(tmp_path, capsys):
    """Registered patients as whole numbers (36155, not 36155.0), confidence to 4 decimals, in what is
    printed and in what is written; a footprint table goes to a spreadsheet without its geometry."""
    import openpyxl

    capsys.readouterr()
    assert cli.main(["practices", "--system", "QF7", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(isinstance(r["registered_patients"], int) for r in rows if r["registered_patients"] is not None)
    out = tmp_path / "sy.xlsx"
    assert cli.main(["neighbourhoods", "QF7", "--output", str(out)]) == 0
    sheet = list(openpyxl.load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    header = sheet[0]
    assert "geometry" not in header and {"place_name", "system_name", "practices", "registered_patients"} <= set(header)
    conf = [r[header.index("confidence")] for r in sheet[1:]]
    assert all(round(c, 4) == c for c in conf) and all(isinstance(r[header.index("registered_patients")], int) for r in sheet[1:])
