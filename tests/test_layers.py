"""The package's layers import one way only: parsed from the source (function-level imports included).

The order below is the README's Architecture section, line by line; a module may import its own layer
and the layers above it in this list, never one below, and no two modules may import each other
(directly or round a loop). The faces (the CLI and the HTTP API) use the public API only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "icsgeo"

#: (layer, the files and folders in it), lowest first.
LAYERS = [
    ("basics", ["errors.py", "settings.py", "files.py", "postcode.py", "answer.py", "postcodesio.py", "versions.py", "_version.py"]),
    ("render", ["render/"]),
    ("sources", ["sources/"]),
    ("definitions", ["systems.py"]),
    ("areas", ["areas.py"]),
    ("locate", ["grid.py", "locate.py", "registrations.py"]),
    ("neighbourhoods", ["neighbourhoods/"]),
    ("tiers", ["tiers.py"]),
    ("answers", ["answers.py"]),
    ("index", ["index.py"]),
    ("verbs", ["verbs.py"]),
    ("outputs", ["bulk.py", "maps.py", "exports.py", "product.py", "configuration.py"]),
    ("api", ["__init__.py"]),
    ("faces", ["cli.py", "server/", "__main__.py"]),
]
#: What the faces may import: the public API (the package itself), the answer schema, the errors.
FACE_ALLOWED = {"icsgeo", "icsgeo.answer", "icsgeo.errors", "icsgeo._version"}
#: The renderer takes plain frames: it may import only the basics.
RENDER_ALLOWED = {"basics", "render"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).as_posix()
    for layer, members in LAYERS:
        for m in members:
            if rel == m or (m.endswith("/") and rel.startswith(m)):
                return layer
    raise AssertionError(f"icsgeo/{rel} is in no layer: add it to LAYERS and to the README's Architecture section")


def _imports(path: Path, modules, name: str | None = None) -> set[str]:
    """Every icsgeo module ``path`` (module ``name``) imports, anywhere in it: top level, function
    bodies, ``TYPE_CHECKING`` blocks; relative imports resolved; ``modules``: the known module names."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names]
            # `from . import areas` imports the module icsgeo.areas, not the package
            targets = [t for t in subs if t in modules] + ([target] if any(t not in modules for t in subs) else [])
        else:
            continue
        for t in targets:
            if t.split(".")[0] != "icsgeo":
                continue
            while t and t not in modules:  # `from icsgeo.x import name`: the module is icsgeo.x
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, modules) for m, p in modules.items()}


def test_every_module_is_in_a_layer():
    for path in _modules().values():
        _layer_of(path)


def test_imports_follow_the_layer_order():
    modules = _modules()
    order = {layer: i for i, (layer, _) in enumerate(LAYERS)}
    wrong = []
    for m, targets in _graph().items():
        src = _layer_of(modules[m])
        for t in targets:
            dst = _layer_of(modules[t])
            if t == "icsgeo" and src == "faces":
                continue
            if src == "render" and dst not in RENDER_ALLOWED:
                wrong.append(f"{m} ({src}) imports {t} ({dst}): the renderer takes plain frames and imports only the basics")
            elif order[dst] > order[src]:
                wrong.append(f"{m} ({src}) imports {t} ({dst}), a layer above it")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = _graph()
    # the package __init__ is imported first by Python anyway; its lazy table is not an import cycle
    graph = {m: {t for t in ts if t != "icsgeo"} for m, ts in graph.items()}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        seen[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if seen.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in seen:
                visit(t)
        stack.pop()
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_faces_use_the_public_api_only():
    modules = _modules()
    for m, targets in _graph().items():
        if _layer_of(modules[m]) != "faces":
            continue
        private = {t for t in targets if t not in FACE_ALLOWED and _layer_of(modules[t]) != "faces"}
        assert not private, f"{m} imports {sorted(private)}: the CLI and the server call the public API (import icsgeo)"


def test_the_readme_lists_the_layers_in_order():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1]
    block = section.split("```", 2)[1]
    listed = []
    for line in block.splitlines():
        names = re.findall(r"\b[\w./]+(?:\.py|/)(?=\s|$)", line)
        if names:
            listed.append(names)
    assert listed == [members for _, members in LAYERS], "the README's Architecture block and LAYERS disagree"


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    # a deliberately wrong module: relative imports of higher layers hidden in a function body
    src = tmp_path / "areas.py"
    src.write_text("import os\n\ndef f():\n    from .tiers import geography\n    from . import verbs\n"
                   "    from .sources.read import read\n", encoding="utf-8")
    known = {"icsgeo", "icsgeo.areas", "icsgeo.tiers", "icsgeo.verbs", "icsgeo.sources", "icsgeo.sources.read"}
    assert _imports(src, known, "icsgeo.areas") == {"icsgeo.tiers", "icsgeo.verbs", "icsgeo.sources.read"}


def test_no_dataset_id_outside_the_sources_layer():
    from icsgeo import catalogue

    ids = catalogue().ids()
    hits = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "sources":
            continue
        text = path.read_text(encoding="utf-8")
        hits += [f"{path.relative_to(ROOT)}: {i}" for i in ids if i in text]
    assert not hits, "dataset ids belong in the catalogue (read them by role):\n" + "\n".join(hits)


def test_no_vintage_names_decide_behaviour_in_code():
    """Vintage differences live in the catalogue: no comparison with a vintage's name in the code."""
    pattern = re.compile(r"""(==|!=|\bin\b)\s*\(?\s*["'](20(21|23|26))["']|["'](20(21|23|26))["']\s*(==|!=|\bin\b)""")
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("name", ["where", "lookup", "assign", "geography", "footprints", "practices", "read", "fetch"])
def test_public_verbs_are_not_shadowed_by_modules(name):
    import importlib

    import icsgeo

    for m in ("tiers", "verbs", "index", "answers", "locate", "neighbourhoods", "registrations", "areas"):
        importlib.import_module(f"icsgeo.{m}")  # importing every layer must not replace a public verb
    assert callable(getattr(icsgeo, name)) and not isinstance(getattr(icsgeo, name), type(icsgeo))
