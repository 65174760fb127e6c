"""YAML system definitions are read within limits (issue 14, item 7): a size cap checked before parsing,
no anchors or aliases (an alias bomb is refused at its first anchor), no nesting deeper than
``MAX_DEFINITION_DEPTH`` (checked while composing, never by recursing), no duplicate keys, UTF-8 only
(a BOM is fine), and no control characters in the text. Every refusal is a DefinitionError naming the
file and, where there is one, the line; the CLI answers it with exit 2 and no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icsgeo.cli import main
from icsgeo.errors import DefinitionError
from icsgeo.systems import (MAX_DEFINITION_BYTES, MAX_DEFINITION_DEPTH, load_system_file, parse_system_definition,
                            system_definitions)

GOOD_YAML = """\
id: toy-ics
name: Toy ICS
vintage: "2023"
places:
  - name: Sheffield
    lad: [E08000039]
"""

#: the classic "billion laughs" in YAML: 9 levels of 9 aliases each (~387 million strings if expanded)
ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request, monkeypatch):
    """Each refusal holds with libyaml's parser and with PyYAML's pure-Python one (no libyaml)."""
    import yaml

    from icsgeo import systems

    if request.param == "pure-python":
        monkeypatch.setattr(yaml, "CSafeLoader", None)
    elif getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML is built without libyaml")
    systems._loader_class.cache_clear()
    yield request.param
    monkeypatch.undo()
    systems._loader_class.cache_clear()


def _write(tmp_path: Path, content: str | bytes, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_a_good_definition_file_loads(loader, tmp_path):
    d = load_system_file(_write(tmp_path, GOOD_YAML))
    assert d.id == "toy-ics" and [p.name for p in d.places] == ["Sheffield"] and d.places[0].units == {"lad": ("E08000039",)}


def test_shipped_definitions_still_load_through_the_limited_loader():
    import yaml

    from icsgeo.sources.catalogue import boundaries_dir

    paths = sorted((boundaries_dir() / "systems").glob("*.yaml"))
    assert len(paths) >= 4
    for path in paths:
        d = load_system_file(path)
        assert d == system_definitions()[path.stem]
        # the same data as PyYAML's own safe loader gives
        assert parse_system_definition(yaml.safe_load(path.read_text(encoding="utf-8")), origin=path.name,
                                       folder=d.folder) == d


def test_an_alias_bomb_is_refused_at_its_first_anchor(loader, tmp_path):
    path = _write(tmp_path, ALIAS_BOMB)
    assert path.stat().st_size < 600
    with pytest.raises(DefinitionError, match=r"line 1: .*anchors and aliases.*not accepted") as exc:
        load_system_file(path)
    assert str(path) in str(exc.value)


def test_a_single_alias_is_refused_too(loader, tmp_path):
    # refused outright, not by a budget: definitions have no need of them
    text = GOOD_YAML + "neighbourhoods: *list\n"
    with pytest.raises(DefinitionError, match=r"line 7: .*aliases"):
        load_system_file(_write(tmp_path, text))
    text = GOOD_YAML.replace("lad: [E08000039]", "lad: &codes [E08000039]")
    with pytest.raises(DefinitionError, match=r"line 6: .*anchors"):
        load_system_file(_write(tmp_path, text))


def test_merge_keys_are_refused(loader, tmp_path):
    text = GOOD_YAML.replace("    lad: [E08000039]", "    <<: {lad: [E08000039]}")
    with pytest.raises(DefinitionError, match=r"line 6: .*merge key"):
        load_system_file(_write(tmp_path, text))


@pytest.mark.parametrize("text", [
    "places: " + "[" * 100_000,                                   # unclosed flow lists
    "places: " + "[" * (MAX_DEFINITION_DEPTH + 5) + "]" * (MAX_DEFINITION_DEPTH + 5) + "\n",   # closed, just too deep
    "places:\n" + "".join("  " * i + "- \n" for i in range(MAX_DEFINITION_DEPTH + 5)),  # block lists
    "places: " + "{a: " * 100_000,                                 # flow mappings
], ids=["100000-unclosed", "25-closed", "block", "mappings"])
def test_deep_nesting_is_refused_without_a_recursion_error(loader, tmp_path, text):
    with pytest.raises(DefinitionError, match=rf"nested deeper than {MAX_DEFINITION_DEPTH} levels"):
        load_system_file(_write(tmp_path, text))


def test_nesting_up_to_the_limit_is_fine_for_the_loader(loader, tmp_path):
    # the root mapping is level 1: a description holding lists down to the limit still loads
    text = GOOD_YAML + "description: " + "[" * (MAX_DEFINITION_DEPTH - 1) + "]" * (MAX_DEFINITION_DEPTH - 1) + "\n"
    assert load_system_file(_write(tmp_path, text)).id == "toy-ics"


def test_a_latin1_file_is_refused_saying_it_must_be_utf8(tmp_path):
    text = GOOD_YAML.replace("Toy ICS", "Caf\u00e9 ICS")
    path = _write(tmp_path, text.encode("latin-1"))
    with pytest.raises(DefinitionError, match=r"line 2.*not UTF-8.*save it as UTF-8") as exc:
        load_system_file(path)
    assert "0xe9" in str(exc.value)


def test_a_utf16_file_is_refused_saying_it_must_be_utf8(tmp_path):
    path = _write(tmp_path, GOOD_YAML.encode("utf-16"))
    with pytest.raises(DefinitionError, match=r"UTF-16.*save it as UTF-8"):
        load_system_file(path)


def test_a_utf8_bom_is_accepted(tmp_path):
    text = GOOD_YAML.replace("Toy ICS", "Caf\u00e9 ICS")
    d = load_system_file(_write(tmp_path, b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert d.name == "Caf\u00e9 ICS"


def test_an_over_size_file_is_refused_before_it_is_parsed(tmp_path):
    # not YAML at all (and nested 1 MiB deep): the size is what is reported, so it was checked first
    path = _write(tmp_path, "[" * (MAX_DEFINITION_BYTES + 1))
    with pytest.raises(DefinitionError, match=r"over the 1 MiB limit.*lookup file") as exc:
        load_system_file(path)
    assert "nested" not in str(exc.value) and "not valid YAML" not in str(exc.value)


def test_a_file_at_the_limit_is_read(tmp_path):
    text = GOOD_YAML + "#" * (MAX_DEFINITION_BYTES - len(GOOD_YAML) - 1) + "\n"
    path = _write(tmp_path, text)
    assert path.stat().st_size == MAX_DEFINITION_BYTES
    assert load_system_file(path).id == "toy-ics"


@pytest.mark.parametrize("text, key, line", [
    (GOOD_YAML + "name: Other ICS\n", "name", 7),
    (GOOD_YAML + "    lad: [E08000016]\n", "lad", 7),
    (GOOD_YAML.replace("vintage", "'id'", 1).replace('"2023"', "toy-2"), "id", 3),
], ids=["top-level", "in-a-place", "quoted"])
def test_duplicate_keys_are_refused_naming_the_key_and_line(loader, tmp_path, text, key, line):
    with pytest.raises(DefinitionError, match=rf"line {line}: the key '{key}' is given twice \(first on line \d+\)"):
        load_system_file(_write(tmp_path, text))


@pytest.mark.parametrize("field, yaml_value, code_point", [
    ("name", r'"Toy \e[2J\e[31mICS"', "U+001B"),       # ANSI escape (clear screen, red)
    ("name", r'"Toy\x9b31mICS"', "U+009B"),            # C1 control sequence introducer
    ("name", r'"Toy\x7fICS"', "U+007F"),               # DEL
    ("title", r'"Toy \u202eSCI"', "U+202E"),          # right-to-left override
    ("title", r'"Toy\nICS"', "U+000A"),                # a line break in a one-line field
    ("source", r'"see \e]8;;http://x\e\\here"', "U+001B"),  # even free text holds no escapes
])
def test_control_characters_in_text_are_refused_naming_the_field_and_code_point(tmp_path, field, yaml_value, code_point):
    if field == "name":
        text = GOOD_YAML.replace("name: Toy ICS", f"name: {yaml_value}")
    else:
        text = GOOD_YAML + f"{field}: {yaml_value}\n"
    with pytest.raises(DefinitionError, match=rf"{field} holds the control character {re.escape(code_point)}") as exc:
        load_system_file(_write(tmp_path, text))
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or c == "\u202e" for c in str(exc.value))


def test_control_characters_in_a_place_name_are_refused_in_memory_too():
    raw = {"id": "toy-ics", "name": "Toy ICS", "places": [{"name": "North\x1b[0m", "lad": ["E08000019"]}]}
    with pytest.raises(DefinitionError, match=r"places\[1\]\.name holds the control character U\+001B"):
        parse_system_definition(raw, origin="toy.yaml")


def test_a_multi_line_description_is_fine():
    raw = {"id": "toy-ics", "name": "Toy ICS", "description": "line one\nline two\ttabbed\n",
           "places": [{"name": "North", "lad": ["E08000019"]}]}
    assert parse_system_definition(raw).id == "toy-ics"


@pytest.mark.parametrize("content", [ALIAS_BOMB, "places: " + "[" * 100_000, b"name: Caf\xe9\n"],
                         ids=["alias-bomb", "deep", "latin1"])
def test_the_cli_answers_a_bad_definition_with_exit_2_and_the_message(tmp_path, capsys, content):
    path = _write(tmp_path, content)
    assert main(["map", "--system", str(path), "--output", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"icsgeo map: error: {path}: ") and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()


def test_a_definition_file_suffix_in_capitals_is_a_file_not_an_unknown_id(tmp_path):
    from icsgeo.tiers import _resolve_definition

    path = _write(tmp_path, GOOD_YAML, "Mine.YAML")
    assert _resolve_definition(str(path)).id == "toy-ics"


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["mine.yaml", "Mine.YML"])
def test_map_system_takes_a_definition_file(tmp_path, capsys, monkeypatch, name):
    _write(tmp_path, GOOD_YAML, name)
    monkeypatch.chdir(tmp_path)  # as the README has it: a file in the current folder
    assert main(["map", "--system", name, "--output", "x.html"]) == 0
    err = capsys.readouterr().err
    assert "1 places" in err, err
    html = (tmp_path / "x.html").read_text(encoding="utf-8")
    assert "Sheffield" in html and "Toy ICS" in html
