"""docs/api.md is what scripts/make_api_docs.py writes, and every public verb has a numpydoc docstring
with the sections a user looks for. Needs no data: only the docstrings and signatures are read."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import icsgeo

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_api_docs.py"

#: The public verbs whose docstrings are numpydoc (the issue's list).
VERBS = [
    "where", "lookup", "assign", "practices", "footprints", "profile", "geography", "answer_file", "save", "export",
    "export_index", "map_layers", "draw", "explore", "draw_profile", "postcode_index", "build_index", "index_path",
    "normalise_postcode", "normalise_postcodes", "to_records", "neighbourhood_lsoas", "neighbourhood_table",
    "catalogue", "read", "inventory", "add_data", "fetch_data", "system_definitions", "load_system_file",
    "postcodes_io_result", "postcodes_io_response", "postcodes_io_bulk", "config",
]


def _script():
    spec = importlib.util.spec_from_file_location("make_api_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sections(doc: str) -> dict[str, list[str]]:
    """Section title -> its lines, by numpydoc headers (a title underlined by as many dashes)."""
    lines = doc.splitlines()
    out: dict[str, list[str]] = {}
    current = None
    for i, line in enumerate(lines):
        under = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-+", under) and len(under) == len(line.strip()):
            current = line.strip()
            out[current] = []
        elif current is not None and not re.fullmatch(r"-+", line.strip() or "x"):
            out[current].append(line)
    return out


def test_api_page_is_current():
    made = _script().render()
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert page == made, "docs/api.md is out of date: run `python scripts/make_api_docs.py`"


def test_api_page_render_is_deterministic():
    script = _script()
    assert script.render() == script.render()


def test_check_flag(tmp_path, monkeypatch, capsys):
    script = _script()
    assert script.main(["--check"]) == 0
    stale = tmp_path / "api.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(script, "OUTPUT", stale)
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.main(["--check"]) == 1
    assert "python scripts/make_api_docs.py" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "# old\n"  # --check never writes


def test_every_verb_section_is_on_the_page():
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in VERBS:
        assert f"\n### {name}\n" in page, name
        assert f"icsgeo.{name}(" in page, name
    assert "#### Parameters" in page and "#### Examples" in page and "```python\n>>> import icsgeo" in page


@pytest.mark.parametrize("name", VERBS)
def test_verb_docstring_is_numpydoc(name):
    assert name in icsgeo.__all__, f"{name} is not public"
    func = getattr(icsgeo, name)
    doc = inspect.getdoc(func) or ""
    assert doc, f"{name} has no docstring"
    summary = doc.split("\n\n", 1)[0]
    assert "\n" not in summary, f"{name}: the summary is more than one line"
    sections = _sections(doc)
    params = [p for p in inspect.signature(func).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if params:
        assert "Parameters" in sections, f"{name}: no Parameters section"
        documented = set()
        for line in sections["Parameters"]:
            if line and not line[0].isspace():
                documented.update(n.strip() for n in line.split(" : ")[0].split(","))
        missing = [p.name for p in params if p.name not in documented]
        assert not missing, f"{name}: parameters not documented: {missing}"
    assert "Returns" in sections or "Yields" in sections, f"{name}: no Returns or Yields section"
    assert "Examples" in sections, f"{name}: no Examples section"
    assert any(line.lstrip().startswith(">>> ") for line in sections["Examples"]), f"{name}: Examples has no >>> line"
