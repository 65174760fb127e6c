"""Make a rendered folium page self-contained: every CDN <script>/<link> replaced by the shipped file.

The files live in ``assets/`` (see ``assets/manifest.json``: npm package, version, licence, sha256 of
the tarball). Matching is by the URL's last path segment, so a folium release that bumps a CDN version
still finds the shipped copy. Image ``url()``s inside the CSS become ``data:`` URIs; anything else
that would reach the network is an error, never a silently broken page.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from functools import lru_cache
from importlib.resources import files
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..errors import IcsgeoError

__all__ = ["OfflineAssetError", "inline_assets", "external_references", "shipped_assets"]


class OfflineAssetError(IcsgeoError, ValueError):
    """A page references a script or stylesheet that icsgeo cannot inline."""


_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["'](?P<url>(?:https?:)?//[^"']+)["'][^>]*>\s*</script>""", re.I)
_LINK = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["'](?P<url>(?:https?:)?//[^"']+)["'][^>]*>""", re.I)
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<ref>[^"')]+)(?P=q)\s*\)""")
_USES_JQUERY = re.compile(r"(?<![\w$])(?:\$\s*[(.]|jQuery\b)")

# Leaflet's default marker icon is found through a CSS url() that a data: URI breaks; point the
# icon's options at data: URIs instead so folium.Marker still draws offline.
_DEFAULT_ICON_JS = """
if (window.L && L.Icon && L.Icon.Default) {{
  L.Icon.Default.imagePath = "";
  L.Icon.Default.mergeOptions({{iconUrl: "{icon}", iconRetinaUrl: "{icon2x}", shadowUrl: "{shadow}"}});
}}
"""


def _assets():
    return files("icsgeo.render") / "assets"


@lru_cache(maxsize=1)
def _manifest() -> dict:
    return json.loads((_assets() / "manifest.json").read_text(encoding="utf-8"))


def shipped_assets() -> list[dict]:
    """The third-party packages shipped for offline pages: name, version, licence, files."""
    return [
        {k: p[k] for k in ("name", "version", "licence", "licence_file")} | {"files": [f["file"] for f in p["files"]]}
        for p in _manifest()["packages"]
    ]


def _read(rel: str) -> bytes:
    return (_assets() / rel).read_bytes()


def _data_uri(rel: str) -> str:
    mime = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    if rel.endswith(".svg"):
        mime = "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(_read(rel)).decode("ascii")


@lru_cache(maxsize=None)
def _css(rel: str) -> str:
    """A shipped stylesheet with its relative url()s inlined; network url()s refused."""
    text = _read(rel).decode("utf-8")
    base = PurePosixPath(rel).parent

    def sub(m: re.Match) -> str:
        ref = m.group("ref").strip()
        if ref.startswith(("data:", "#")):
            return m.group(0)
        if "//" in ref:
            raise OfflineAssetError(f"{rel} refers to {ref}, which would need the network")
        target = _normalise(base / ref)
        try:
            return f'url("{_data_uri(target)}")'
        except FileNotFoundError:
            return "none"  # an image the package does not ship: drawn as nothing, never fetched

    return _CSS_URL.sub(sub, text)


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for p in path.parts:
        if p == "..":
            parts.pop()
        elif p != ".":
            parts.append(p)
    return "/".join(parts)


def _js(rel: str) -> str:
    text = _read(rel).decode("utf-8")
    # inside an inline <script>, "</script" or "<!--" would end or confuse the element
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def _find(url: str) -> tuple[str, dict | None, dict | None]:
    name = PurePosixPath(urlsplit(url if "://" in url else "https:" + url).path).name
    for package in _manifest()["packages"]:
        for entry in package["files"]:
            if re.search(entry["match"], name):
                return name, package, entry
    for entry in _manifest()["dropped"]["files"]:
        if re.search(entry["match"], name) and entry.get("url_contains", "") in url:
            return name, None, entry
    return name, None, None


def _page_code(html: str) -> str:
    """The page's own inline scripts (what decides which optional libraries are needed)."""
    return "\n".join(re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I))


def external_references(html: str) -> list[str]:
    """URLs the page would fetch on load: script src, stylesheet href, CSS url() and @import."""
    refs = [m.group("url") for m in _SCRIPT.finditer(html)]
    refs += [m.group("url") for m in _LINK.finditer(html) if re.search(r"""rel\s*=\s*["']?stylesheet""", m.group(0), re.I)]
    for style in re.findall(r"<style\b[^>]*>(.*?)</style>", html, flags=re.S | re.I):
        refs += [m.group("ref") for m in _CSS_URL.finditer(style) if "//" in m.group("ref") and not m.group("ref").startswith("data:")]
        refs += re.findall(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)""", style)
    return refs


def inline_assets(html: str) -> str:
    """Replace every CDN script and stylesheet of a rendered folium page by the shipped file's content."""
    code = _page_code(html)
    unknown: list[str] = []

    def replace(m: re.Match, kind: str) -> str:
        url = m.group("url")
        if kind == "css" and not re.search(r"""rel\s*=\s*["']?stylesheet""", m.group(0), re.I):
            return m.group(0)
        name, package, entry = _find(url)
        if entry is None:
            unknown.append(url)
            return m.group(0)
        if package is None:  # a file we deliberately leave out
            needle = entry.get("fail_if_used")
            if needle and needle in code:
                raise OfflineAssetError(
                    f"this page uses {needle} ({url}), which icsgeo does not ship for offline pages; "
                    "use CircleMarker/DivIcon markers, or save with self_contained=False"
                )
            return ""
        if entry.get("only_if_used") == "jquery" and not _USES_JQUERY.search(code):
            return ""
        rel = entry["file"]
        head = f"<!-- {package['name']} {package['version']} ({package['licence']}), inlined from {name} -->"
        if kind == "css":
            return f"{head}\n<style>\n{_css(rel)}\n</style>"
        body = _js(rel)
        if package["name"] == "leaflet":
            body += _DEFAULT_ICON_JS.format(
                icon=_data_uri("leaflet/images/marker-icon.png"),
                icon2x=_data_uri("leaflet/images/marker-icon-2x.png"),
                shadow=_data_uri("leaflet/images/marker-shadow.png"),
            )
        return f"{head}\n<script>\n{body}\n</script>"

    out = _SCRIPT.sub(lambda m: replace(m, "js"), html)
    out = _LINK.sub(lambda m: replace(m, "css"), out)
    if unknown:
        raise OfflineAssetError(
            "cannot make the page self-contained: icsgeo ships no copy of "
            + ", ".join(sorted(set(unknown)))
            + "; save with self_contained=False (the page then needs the network)"
        )
    left = external_references(out)
    if left:
        raise OfflineAssetError(f"the page still refers to the network after inlining: {left}")
    return out
