"""The static report figure (matplotlib): England with the system highlighted, beside a magnified
view of its places and neighbourhoods — the layout of the King's Fund's "Map 2".

Drawn in British National Grid (EPSG:27700): no reprojection, true metres for the scale bar.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from ..errors import MissingDependencyError
from ._layers import (
    CONTEXT_FILL,
    LOCAL_COLOUR,
    NEIGHBOURHOOD_COLOUR,
    PALETTE,
    PRACTICE_COLOUR,
    SYSTEM_COLOUR,
    MapLayers,
    auto_tolerance,
    label_points,
    shade_classes,
    shade_colours,
    place_colours,
    simplify,
)

__all__ = ["draw_figure"]

_ACCENT = "#d7301f"
_INK = "#1b1b1b"
_MUTED = "#555555"
#: The dash of a neighbourhood that crosses a place boundary (as the page's ``STRADDLE_DASH``).
_STRADDLE_LINE = (0, (3.5, 2.5))


def _mpl():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - the map extra installs it
        raise MissingDependencyError(f'static figures need matplotlib ({e}): pip install "icsgeo[map]"') from e
    return matplotlib, Figure, FigureCanvasAgg


def _plain(text) -> str:
    """Text for matplotlib as written: a "$" would otherwise start mathtext."""
    return "" if text is None else str(text).replace("$", r"\$")


def _fit_extent(bounds, aspect: float, pad: float = 0.04):
    """Bounds padded by ``pad`` and widened to the panel's width/height ``aspect``."""
    x0, y0, x1, y1 = bounds
    w, h = (x1 - x0) * (1 + 2 * pad), (y1 - y0) * (1 + 2 * pad)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _nice_length(span: float) -> float:
    """A round scale-bar length near a fifth of ``span`` metres."""
    target = span / 5
    base = 10 ** math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * base <= target:
            return m * base
    return base


def _overlaps(bb, others, margin: float = 2.0) -> bool:
    return any(
        not (bb.x1 + margin < o.x0 or bb.x0 - margin > o.x1 or bb.y1 + margin < o.y0 or bb.y0 - margin > o.y1)
        for o in others
    )


#: Beyond this many places a static figure is a national overview and carries no place labels.
MAX_LABELLED_PLACES = 40


def _place_labels(ax, fig, points, names, ranks, *, fontsize, halo, taken):
    """Label each point, largest place first; nudge a label that would overlap, drop it if it must."""
    renderer = fig.canvas.get_renderer()
    order = sorted(range(len(names)), key=lambda i: -ranks[i])
    nudges = [(0, 0), (0, -1.4), (0, 1.4), (1.0, 0), (-1.0, 0), (0, -2.8), (0, 2.8)]
    placed = []
    for i in order:
        if not names[i]:
            continue
        x, y = points[i].x, points[i].y
        for dx, dy in nudges:
            t = ax.annotate(
                names[i], (x, y), xytext=(dx * fontsize * 3, dy * fontsize), textcoords="offset points",
                ha="center", va="center", fontsize=fontsize, fontweight="bold", color=_INK, zorder=20,
                path_effects=halo,
            )
            bb = t.get_window_extent(renderer)
            inside = ax.get_window_extent(renderer)
            if not _overlaps(bb, taken) and inside.x0 <= bb.x0 and bb.x1 <= inside.x1 and inside.y0 <= bb.y0 and bb.y1 <= inside.y1:
                taken.append(bb)
                placed.append(t)
                break
            t.remove()
    return placed


def draw_figure(
    layers: MapLayers,
    path=None,
    *,
    dpi: int = 200,
    size: tuple[float, float] = (12.0, 7.0),
    practices: bool = True,
    tolerance: float | None = None,
):
    """The report figure of ``layers``; written to ``path`` (PNG, PDF or SVG by suffix) when given.

    The default ``size`` at ``dpi`` 200 is 2400 × 1400 px: A4 width at print resolution. Returns the
    matplotlib Figure (made without pyplot, so it works on any backend and leaves no open figure).
    """
    matplotlib, Figure, FigureCanvasAgg = _mpl()
    from matplotlib import patheffects
    from matplotlib.lines import Line2D
    from matplotlib.patches import ConnectionPatch, Patch, Rectangle

    system = layers.layer("system")
    places = layers.layer("places")
    nbh = layers.layer("neighbourhoods")
    local = layers.layer("local")
    prac = layers.layer("practices") if practices else None
    england = layers.layer("england")
    tol = float(auto_tolerance(layers) / 2 if tolerance is None else tolerance)
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]

    rc = {"font.family": "sans-serif", "font.sans-serif": ["Arial", "Helvetica", "Liberation Sans", "DejaVu Sans"],
          "svg.fonttype": "none", "pdf.fonttype": 42}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=size, dpi=dpi, facecolor="white")  # no pyplot: no global state, any backend
        FigureCanvasAgg(fig)
        W, H = size

        # title block
        fig.text(0.022, 0.958, _plain(layers.title), fontsize=18, fontweight="bold", color=SYSTEM_COLOUR, va="center")
        if layers.subtitle:
            sub = textwrap.shorten(layers.subtitle, 2 * 170, placeholder=" …")
            fig.text(0.022, 0.927, _plain(textwrap.fill(sub, 170)), fontsize=10, color=_MUTED, va="top", linespacing=1.3)
        fig.add_artist(Line2D([0.022, 0.978], [0.868, 0.868], color="#cccccc", lw=0.8))

        # panels: locator (left), key (under it), magnified system (right)
        # a locator only helps when the panel shows part of England, not all of it
        has_locator = england is not None and len(england) > 0 and not set(england["code"]) <= set(system["code"])
        loc_box = [0.022, 0.41, 0.235, 0.44]
        key_box = [0.022, 0.075, 0.235, 0.275] if has_locator else [0.022, 0.075, 0.235, 0.775]
        main_box = [0.285, 0.075, 0.693, 0.778]
        ax = fig.add_axes(main_box)
        main_aspect = (main_box[2] * W) / (main_box[3] * H)
        ext = _fit_extent(system.total_bounds, main_aspect)

        if england is not None and len(england):
            other = england[~england["code"].isin(set(system["code"]))]
            if len(other):  # an all-England map has no other systems around it
                simplify(other, tol).plot(ax=ax, color=CONTEXT_FILL, edgecolor="white", linewidth=0.8, zorder=1)
        colours = []
        shade = layers.shade
        shading = None  # (label, bounds, ramp)

        def shaded(gdf):
            nonlocal shading
            cls, bounds = shade_classes(gdf["shade"], shade.classes)
            ramp = shade_colours(len(bounds))
            shading = (shade.label, bounds, ramp)
            return [ramp[c] if c >= 0 else "#d9d9d9" for c in cls]

        if places is not None and len(places):
            p = simplify(places, tol)
            colours = place_colours(p)
            fill = shaded(p) if shade is not None and shade.tier == "places" else colours
            p.plot(ax=ax, color=fill, alpha=0.88, edgecolor="white", linewidth=1.0, zorder=2)
        for tier, layer in (("neighbourhoods", nbh), ("local", local)):
            if shade is not None and shade.tier == tier and layer is not None and len(layer):
                q = simplify(layer, tol)
                q.plot(ax=ax, color=shaded(q), alpha=0.85, edgecolor="white", linewidth=0.3, zorder=2.5)
        crossing = 0
        if nbh is not None and len(nbh):
            n = simplify(nbh, tol)
            n.boundary.plot(ax=ax, color=NEIGHBOURHOOD_COLOUR, linewidth=0.3 if local is not None else 0.45,
                            alpha=0.6 if local is not None else 0.85, zorder=3)
            if "straddles" in n.columns:  # footprints that cross a place boundary: dashed, a little heavier
                across = n[n["straddles"].fillna(False).astype(bool)]
                crossing = len(across)
                if crossing:
                    across.boundary.plot(ax=ax, color="#111111", linewidth=1.3, linestyle=_STRADDLE_LINE, zorder=3.5)
        if local is not None and len(local):
            simplify(local, tol).boundary.plot(ax=ax, color=LOCAL_COLOUR, linewidth=1.1, linestyle=(0, (4, 2)), zorder=4)
        system.boundary.plot(ax=ax, color=SYSTEM_COLOUR, linewidth=2.4, zorder=5)
        if prac is not None and len(prac):
            ax.scatter(prac.geometry.x, prac.geometry.y, s=7, c=PRACTICE_COLOUR, edgecolors="white",
                       linewidths=0.35, zorder=6)
        ax.set_xlim(ext[0], ext[2])
        ax.set_ylim(ext[1], ext[3])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        for spine in ax.spines.values():
            spine.set_edgecolor("#c8c8c8")
            spine.set_linewidth(0.8)

        # scale bar (metres: the panel is in British National Grid) and north arrow
        span = ext[2] - ext[0]
        length = _nice_length(span)
        sx, sy = ext[0] + span * 0.03, ext[1] + (ext[3] - ext[1]) * 0.035
        ax.add_patch(Rectangle((sx, sy), length, span * 0.004, facecolor=_INK, edgecolor=_INK, zorder=9))
        ax.add_patch(Rectangle((sx + length / 2, sy), length / 2, span * 0.004, facecolor="white", edgecolor=_INK, lw=0.6, zorder=10))
        ax.text(sx + length / 2, sy + span * 0.011, f"{length / 1000:g} km", ha="center", va="bottom", fontsize=8.5,
                color=_INK, path_effects=halo, zorder=10)
        nx_, ny_ = ext[2] - span * 0.03, ext[3] - (ext[3] - ext[1]) * 0.10
        ax.annotate("N", xy=(nx_, ny_ + span * 0.035), xytext=(nx_, ny_), ha="center", va="top", fontsize=10,
                    fontweight="bold", color=_INK, arrowprops={"arrowstyle": "-|>", "color": _INK, "lw": 1.2}, zorder=10)

        # place labels, largest first, nudged or dropped rather than overlapping
        taken = []
        if places is not None and 0 < len(places) <= MAX_LABELLED_PLACES:  # a national figure shows pattern, not names
            pts = label_points(places)
            _place_labels(ax, fig, list(pts), [_plain(v) for v in places["name"]], list(places.area),
                          fontsize=11.5 if len(places) <= 12 else 7.5, halo=halo, taken=taken)
        if local is not None and 0 < len(local) <= 3 * MAX_LABELLED_PLACES:
            _place_labels(ax, fig, list(label_points(local)), [_plain(v) for v in local["name"]], list(local.area),
                          fontsize=6.5, halo=halo, taken=taken)

        # locator: England, the system highlighted, the magnified area boxed and joined to the panel
        if has_locator:
            lax = fig.add_axes(loc_box)
            e = simplify(england, 1000.0)
            on = e["code"].isin(set(system["code"]))
            for part, colour in ((e[~on], "#d9d9d6"), (e[on], SYSTEM_COLOUR)):
                if len(part):
                    part.plot(ax=lax, color=colour, edgecolor="white", linewidth=0.35)
            lax.set_aspect("equal")
            lax.set_axis_off()
            lax.add_patch(Rectangle((ext[0], ext[1]), ext[2] - ext[0], ext[3] - ext[1], fill=False,
                                    edgecolor=_ACCENT, linewidth=1.1, zorder=5))
            for ya, yb in ((ext[3], 1.0), (ext[1], 0.0)):
                fig.add_artist(ConnectionPatch(xyA=(ext[2], ya), coordsA=lax.transData, xyB=(0.0, yb),
                                               coordsB=ax.transAxes, color="#b0b0b0", linewidth=0.7, zorder=0))
            # a custom system drawn over the systems of its vintage is not one of England's systems
            n_sys = int((~england["overlay"].fillna(False).astype(bool)).sum()) if "overlay" in england else len(england)
            what = system["name"].iloc[0] if len(system) == 1 else f"{len(system)} systems"
            fig.text(loc_box[0], loc_box[1] - 0.012, _plain(textwrap.fill(f"England, {n_sys} systems: {what} highlighted", 48)),
                     fontsize=8.5, color=_MUTED, va="top")

        # key
        kax = fig.add_axes(key_box)
        kax.set_axis_off()
        handles = [Line2D([], [], color=SYSTEM_COLOUR, lw=2.4,
                          label="System boundary" if len(system) == 1 else f"Systems ({len(system)})")]
        if shading is not None:
            label, bounds, ramp = shading
            handles.append(Patch(facecolor="none", edgecolor="none", label=_plain(label)))
            for (lo, hi), c in zip(reversed(bounds), reversed(ramp)):
                handles.append(Patch(facecolor=c, edgecolor="white", label=f"{lo:,.1f} – {hi:,.1f}"))
        if places is not None and len(places) and shading is not None:
            pass  # the shading says what the colours mean; place names are on the map
        elif places is not None and len(places):
            if len(places) <= len(PALETTE):
                for name, c in sorted(zip(places["name"], colours), key=lambda t: str(t[0])):
                    handles.append(Patch(facecolor=c, edgecolor="white", label=_plain(name)))
            else:
                handles.append(Patch(facecolor=PALETTE[0], edgecolor="white", label=f"Places ({len(places)})"))
        if local is not None and len(local):
            handles.append(Line2D([], [], color=LOCAL_COLOUR, lw=1.2, ls=(0, (4, 2)), label=f"Local neighbourhoods ({len(local)})"))
        if nbh is not None and len(nbh):
            label = "PCN footprints" if local is not None and len(local) else "Neighbourhoods"
            handles.append(Line2D([], [], color=NEIGHBOURHOOD_COLOUR, lw=0.8, label=f"{label} ({len(nbh)})"))
            if crossing:
                handles.append(Line2D([], [], color="#111111", lw=1.3, ls=_STRADDLE_LINE,
                                      label=f"crossing a place boundary ({crossing})"))
        if prac is not None and len(prac):
            handles.append(Line2D([], [], ls="none", marker="o", markersize=4, markerfacecolor=PRACTICE_COLOUR,
                                  markeredgecolor="white", label=f"GP practices ({len(prac)})"))
        if england is not None and len(england) > len(system):
            handles.append(Patch(facecolor=CONTEXT_FILL, edgecolor="white", label="Other systems"))
        kax.legend(handles=handles, loc="upper left", frameon=False, fontsize=8.5, title="Key", title_fontsize=9,
                   alignment="left", ncol=2 if len(handles) > 9 else 1, handlelength=1.6, borderaxespad=0)

        if layers.attribution:
            fig.text(0.022, 0.018, _plain(textwrap.fill(layers.attribution, 230)), fontsize=6.3, color="#777777", va="bottom")

        if path is not None:
            from ..files import atomic_write

            atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=dpi, facecolor="white"))
    return fig
