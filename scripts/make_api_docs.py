#!/usr/bin/env python3
"""Write docs/api.md: every public verb of icsgeo with its signature, parameters, returns and examples.

The page is made from the docstrings (numpydoc) of the callables in ``icsgeo.__all__``: one section
per function, and the classes listed by name with their docstring's first line. It is deterministic:
the same code gives the same page, byte for byte.

    python scripts/make_api_docs.py            # (re)write docs/api.md
    python scripts/make_api_docs.py --check    # exit 1 if docs/api.md is not what it would write
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "api.md"
COMMAND = "python scripts/make_api_docs.py"

#: numpydoc sections whose body is a list of ``name : type`` entries with indented descriptions.
ENTRY_SECTIONS = ("Parameters", "Other Parameters", "Returns", "Yields", "Receives", "Raises", "Warns", "Attributes")
_HEADER = re.compile(r"^[A-Z][A-Za-z ]*$")
_ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|exc|obj):`~?([^`]+)`")
_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


class _Raw:
    """An annotation as written (``from __future__ import annotations`` keeps them as strings)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def public() -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """The public functions and classes of ``icsgeo.__all__``, in its order."""
    import icsgeo

    functions, classes = [], []
    for name in icsgeo.__all__:
        obj = getattr(icsgeo, name)
        if inspect.isclass(obj):
            classes.append((name, obj))
        elif callable(obj):
            functions.append((name, obj))
    return functions, classes


def signature(name: str, func) -> str:
    """``icsgeo.name(...)``: the signature with annotations as written, one parameter a line if long."""
    sig = inspect.signature(func)
    params = [p.replace(annotation=_Raw(p.annotation)) if isinstance(p.annotation, str) else p
              for p in sig.parameters.values()]
    ret = sig.return_annotation
    sig = sig.replace(parameters=params, return_annotation=_Raw(ret) if isinstance(ret, str) else ret)
    text = f"icsgeo.{name}{sig}"
    if len(text) <= 100 or not params:
        return text
    inner = str(sig.replace(return_annotation=inspect.Signature.empty))[1:-1]
    parts = _split_top_level(inner)
    tail = "" if sig.return_annotation is inspect.Signature.empty else f" -> {sig.return_annotation!r}"
    return f"icsgeo.{name}(\n" + "".join(f"    {p},\n" for p in parts) + f"){tail}"


def _split_top_level(text: str) -> list[str]:
    """Split a parameter list on the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def sections(doc: str) -> list[tuple[str, list[str]]]:
    """A docstring's parts: ``("", lines)`` before the first numpydoc header, then one per header."""
    lines = doc.splitlines()
    out: list[tuple[str, list[str]]] = [("", [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _HEADER.match(line.strip()) and nxt.strip() and set(nxt.strip()) == {"-"} and len(nxt.strip()) == len(line.strip()):
            out.append((line.strip(), []))
            i += 2
            continue
        out[-1][1].append(line)
        i += 1
    return [(title, _trim(body)) for title, body in out if title or _trim(body)]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def inline(text: str, anchors: dict[str, str]) -> str:
    """reST inline markup as Markdown: roles and double backticks become code, linked to a verb's section."""
    def role(m: re.Match) -> str:
        target = m.group(1)
        short = target.split(".")[-1]
        for key in (target, target.removeprefix("icsgeo."), short):
            if key in anchors and "." not in key:
                return f"[`{short if m.group(0).count('~') else key}`](#{anchors[key]})"
        return f"`{short}`" if "~" in m.group(0) else f"`{target}`"

    text = _ROLE.sub(role, text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _entries(lines: list[str]) -> list[tuple[str, list[str]]]:
    """``name : type`` lines (not indented) with their indented descriptions."""
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if line and not line[0].isspace():
            out.append((line.strip(), []))
        elif out:
            out[-1][1].append(line.strip())
    return out


def _entry(head: str, desc: list[str], title: str, anchors: dict[str, str]) -> str:
    if title in ("Returns", "Yields", "Receives") and " : " not in head:
        name, kind = "", head
    elif title in ("Raises", "Warns"):
        name, kind = head, ""
    else:
        name, _, kind = head.partition(" : ")
    name, kind = name.strip(), kind.strip()
    label = f"**{name}** (*{kind}*)" if name and kind else f"**{name}**" if name else f"*{kind}*"
    body = _trim(desc)
    if not body:
        return f"- {label}"
    first, rest = inline(body[0], anchors), [inline(d, anchors) for d in body[1:]]
    return "\n".join([f"- {label}: {first}"] + [f"  {d}" if d else "" for d in rest])


def _see_also(lines: list[str], anchors: dict[str, str]) -> list[str]:
    out: list[str] = []
    for head, desc in _entries(lines):
        name, _, what = head.partition(" : ")
        names = [n.strip() for n in name.split(",")]
        refs = ", ".join(f"[`{n}`](#{anchors[n.removeprefix('icsgeo.')]})" if n.removeprefix("icsgeo.") in anchors
                         else f"`{n}`" for n in names)
        text = " ".join([what.strip(), *desc]).strip()
        out.append(f"- {refs}" + (f": {inline(text, anchors)}" if text else ""))
    return out


def _examples(lines: list[str], anchors: dict[str, str]) -> list[str]:
    """Prose as text; each run of ``>>>`` lines, their ``...`` continuations and output as a fenced block."""
    out: list[str] = []
    code: list[str] = []
    in_code = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_code = True
        if in_code and not stripped:
            out += ["```python", *code, "```", ""]
            code, in_code = [], False
            continue
        if in_code:
            code.append(_DIRECTIVE.sub("", line.rstrip()) if stripped.startswith((">>>", "...")) else line.rstrip())
        else:
            out.append(inline(line.rstrip(), anchors))
    if code:
        out += ["```python", *code, "```"]
    return _trim(out)


def render_docstring(doc: str, anchors: dict[str, str]) -> list[str]:
    """A numpydoc docstring as Markdown lines."""
    out: list[str] = []
    for title, body in sections(doc):
        if title:
            out += [f"#### {title}", ""]
        if title in ENTRY_SECTIONS:
            out += [_entry(head, desc, title, anchors) for head, desc in _entries(body)]
        elif title == "See Also":
            out += _see_also(body, anchors)
        elif title == "Examples":
            out += _examples(body, anchors)
        else:
            out += [inline(line.rstrip(), anchors) for line in body]
        out.append("")
    return out


def summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split())


def render() -> str:
    """The text of docs/api.md."""
    functions, classes = public()
    anchors = {name: name.lower() for name, _ in functions}
    out = [
        f"<!-- Generated by {COMMAND} from the docstrings: edit those, then run it. -->",
        "",
        "# icsgeo API reference",
        "",
        "Every public function of `icsgeo` (`import icsgeo`; each is imported on first use), with its",
        "signature, parameters, returns, the errors a user meets and examples. The examples are doctests:",
        "the test suite runs them (those that read the published files run where `ICSGEO_DATA_DIR` is set).",
        "",
        "## Contents",
        "",
    ]
    for name, func in functions:
        what = inline(summary(func), anchors)
        out.append(f"- [`{name}`](#{anchors[name]})" + (f": {what}" if what else ""))
    out += ["- [Classes and errors](#classes-and-errors)", ""]
    for name, func in functions:
        out += [f"### {name}", "", "```python", signature(name, func), "```", "",
                f"*Defined in `{func.__module__}`.*", ""]
        doc = inspect.getdoc(func)
        out += render_docstring(doc, anchors) if doc else ["(No docstring.)", ""]
    out += ["## Classes and errors", "", "| name | what it is |", "|---|---|"]
    for name, cls in classes:
        what = inline(summary(cls), anchors).replace("|", r"\|")
        out.append(f"| `icsgeo.{name}` | {what} |")
    text = "\n".join(out).rstrip() + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is not what this would write")
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else None
    if args.check:
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run `{COMMAND}` and commit the result", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    if current != text:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_bytes(text.encode("utf-8"))
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(functions_of(text))} functions)")
    return 0


def functions_of(text: str) -> list[str]:
    """The function sections of a rendered page."""
    return re.findall(r"^### (\S+)$", text, re.M)


if __name__ == "__main__":
    sys.exit(main())
