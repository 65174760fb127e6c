"""Settings: the environment, then the user's config file, then the defaults; values not understood are
refused naming the variable or the file and what is allowed (issue 13: a config file so ICSGEO_DATA_DIR
need not be set on every call; issue 14, item 14: ICSGEO_OFFLINE=banana is not silently "online")."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

import icsgeo
from icsgeo import SettingsError, get_settings
from icsgeo.cli import main
from icsgeo.settings import config_text, setting_sources


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "config.toml"
    path.parent.mkdir()
    monkeypatch.setenv("ICSGEO_CONFIG", str(path))
    for v in ("ICSGEO_DATA_DIR", "ICSGEO_CACHE_DIR", "ICSGEO_OFFLINE", "ICSGEO_VERIFY"):
        monkeypatch.delenv(v, raising=False)
    return path


@pytest.mark.parametrize("value, offline", [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                            ("0", False), ("false", False), ("No", False), ("off", False), ("", False)])
def test_offline_values_understood(monkeypatch, value, offline):
    monkeypatch.setenv("ICSGEO_OFFLINE", value)
    assert get_settings().offline is offline


@pytest.mark.parametrize("value", ["banana", "2", "y", "never"])
def test_offline_values_not_understood_are_refused(monkeypatch, capsys, value):
    monkeypatch.setenv("ICSGEO_OFFLINE", value)
    with pytest.raises(SettingsError, match="ICSGEO_OFFLINE=.* is not understood; use 1, true, yes or on"):
        get_settings()
    assert main(["where", "S1 2HE"]) == 2  # refused before anything is read or downloaded
    err = capsys.readouterr().err
    assert "ICSGEO_OFFLINE" in err and "Traceback" not in err


def test_the_config_file_is_read_and_the_environment_wins(config, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    config.write_text("data_dir = '../mirror'\noffline = true\nverify = 'warn'\n")  # relative: from the file's folder
    s = get_settings()
    assert s.data_dir == mirror.resolve() and s.offline is True and s.verify == "warn"
    assert setting_sources() == {"data_dir": "config file", "cache_dir": "default", "offline": "config file",
                                 "verify": "config file"}
    monkeypatch.setenv("ICSGEO_VERIFY", "strict")
    monkeypatch.setenv("ICSGEO_OFFLINE", "0")
    assert get_settings().verify == "strict" and get_settings().offline is False
    assert setting_sources()["verify"] == "environment (ICSGEO_VERIFY)"
    config.write_text("data_dir = '../mirror'\noffline = 'banana'\n")  # a changed file is seen at once
    assert get_settings().offline is False  # still the environment's
    monkeypatch.delenv("ICSGEO_OFFLINE")
    with pytest.raises(SettingsError, match=r"offline in .*config.toml='banana' is not understood"):
        get_settings()


@pytest.mark.parametrize("text, says", [
    ("data_dir = D:\\nhs-data\n", "is not valid TOML (Invalid value (at line 1"),
    ("data_dir = 'x'\ncolour = 'red'\n", "unknown key(s) 'colour'; icsgeo reads data_dir, cache_dir, offline, verify"),
    ("data_dir = 3\n", "data_dir in the config file"),
    ("verify = 'sometimes'\n", "verify in"),
])
def test_a_bad_config_file_is_refused_naming_it(config, capsys, text, says):
    config.write_text(text)
    with pytest.raises(SettingsError) as err:
        get_settings()
    assert says in str(err.value) and str(config) in str(err.value)
    assert main(["systems"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_config_file_not_in_utf8_or_huge_is_refused(config):
    config.write_bytes("data_dir = 'C:\\Données'\n".encode("latin-1"))
    with pytest.raises(SettingsError, match="not UTF-8 text: save it as UTF-8"):
        get_settings()
    config.write_bytes(b"# " + b"x" * 70_000 + b"\n")
    with pytest.raises(SettingsError, match="over 64 KiB"):
        get_settings()


def test_icsgeo_config_sets_shows_and_unsets(config, tmp_path, capsys):
    mirror = tmp_path / "nhs data"
    mirror.mkdir()
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert f"config file: {config} (not written yet" in out and "data_dir   (unset)" in out
    assert main(["config", "--set", f"data_dir={mirror}", "--set", "offline=yes"]) == 0
    capsys.readouterr()
    assert tomllib.loads(config.read_text()) == {"data_dir": str(mirror.resolve()), "offline": True}
    assert get_settings().data_dir == mirror.resolve() and get_settings().offline is True
    assert main(["config", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["exists"] and report["settings"]["data_dir"] == {"value": str(mirror.resolve()), "source": "config file"}
    assert main(["config", "--unset", "offline"]) == 0
    capsys.readouterr()
    assert tomllib.loads(config.read_text()) == {"data_dir": str(mirror.resolve())}
    for bad, says in ((["--set", "colour=red"], "'colour' is not an icsgeo setting"),
                      (["--set", f"data_dir={tmp_path / 'missing'}"], "is not a folder here"),
                      (["--set", "offline=perhaps"], "not understood"),
                      (["--set", "nonsense"], "give KEY=VALUE")):
        assert main(["config", *bad]) == 2
        assert says in capsys.readouterr().err
    assert tomllib.loads(config.read_text()) == {"data_dir": str(mirror.resolve())}  # a refused --set writes nothing


@pytest.mark.parametrize("value", ["D:\\nhs-data", "C:\\Users\\o'brien\\data", "/home/a b/\u00e9t\u00e9"])
def test_config_text_round_trips_windows_paths_and_quotes(value):
    assert tomllib.loads(config_text({"data_dir": value, "offline": False})) == {"data_dir": value, "offline": False}


def test_the_data_folder_from_the_config_file_reaches_a_fresh_process(config, tmp_path):
    """The point of the file: a new process (no ICSGEO_DATA_DIR) finds the data folder."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    icsgeo.config(set={"data_dir": str(mirror)})
    env = {k: v for k, v in __import__("os").environ.items() if k != "ICSGEO_DATA_DIR"}
    out = subprocess.run([sys.executable, "-c", "import icsgeo; print(icsgeo.get_settings().data_dir)"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(mirror.resolve())
