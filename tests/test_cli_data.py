import json
import os
import shutil
import subprocess
import sys

import pytest

from icsgeo.cli import main

from .helpers import mirror_with, national_files


def _icsgeo() -> list[str]:
    exe = shutil.which("icsgeo")
    return [exe] if exe else [sys.executable, "-m", "icsgeo"]


@pytest.mark.realdata
def test_data_json_lists_every_mirror_file_present_and_verified(real_data_dir, capsys):
    assert main(["data", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    on_disk = national_files(real_data_dir)
    assert {r["file"] for r in rows} == on_disk
    for r in rows:
        assert {"id", "file", "present", "verified", "vintage", "rows"} <= set(r)
        assert r["present"] is True and r["verified"] is True, r
        assert isinstance(r["rows"], int) and r["rows"] > 0, r
    by_id = {r["id"]: r for r in rows}
    assert by_id["icb-2026"]["rows"] == 36 and by_id["codepoint-open-2025-10"]["rows"] == 1_492_125


@pytest.mark.realdata
def test_a_truncated_file_in_a_copy_of_the_mirror_fails_and_is_named(real_data_dir, tmp_path):
    victim = "nhs/gp-reg-pat-prac-map_2026-01.csv"
    mirror = mirror_with(real_data_dir, tmp_path / "mirror", {victim: lambda b: b[: len(b) // 3]})
    env = {**os.environ, "ICSGEO_DATA_DIR": str(mirror)}
    proc = subprocess.run([*_icsgeo(), "data", "--json", "--no-rows"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1
    assert victim in proc.stderr and "gp-practice-map-2026-01" in proc.stderr
    rows = {r["file"]: r for r in json.loads(proc.stdout)}
    assert rows[victim]["present"] and not rows[victim]["verified"]
    assert sum(r["verified"] for r in rows.values()) == len(rows) - 1


def test_data_with_an_empty_folder_reports_missing_files_without_failing(capsys):
    assert main(["data", "--json", "--no-rows"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["present"] is False and r["verified"] is False and r["rows"] is None for r in rows)


def test_usage_errors_exit_2(capsys):
    assert main(["data", "--bogus"]) == 2
    assert main([]) == 2


def test_the_installed_command_runs():
    proc = subprocess.run([*_icsgeo(), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("icsgeo ")
