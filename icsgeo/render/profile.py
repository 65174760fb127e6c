"""A report figure of a system's profile: each place and neighbourhood's residents against its tier's
size band, coloured by deprivation. Takes the plain frame of :meth:`icsgeo.System.profile`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._layers import LayerError
from .static import _mpl, _plain

__all__ = ["draw_profile"]

_NEEDED = ("tier", "kind", "name", "population", "band")


def _band(text) -> tuple[float, float] | None:
    if not isinstance(text, str) or "–" not in text:
        return None
    lo, hi = (float(v.replace(",", "")) for v in text.split("–"))
    return lo, hi


def draw_profile(profile: pd.DataFrame, path: str | Path | None = None, *, title: str = "", dpi: int = 200):
    """Horizontal bars of residents per unit, one panel per tier (places, PCN neighbourhoods, local
    neighbourhoods), the tier's band shaded, bars coloured by the IMD 2025 score where the profile has
    it. Writes a PNG when ``path`` is given; returns the matplotlib Figure."""
    missing = [c for c in _NEEDED if c not in profile.columns]
    if missing:
        raise LayerError(f"the profile lacks the columns {missing}; pass the frame of System.profile()")
    matplotlib, Figure, FigureCanvasAgg = _mpl()
    from matplotlib import cm, colors, ticker

    panels = [(t, k, label) for t, k, label in (("place", "", "Places"), ("neighbourhood", "local", "Local neighbourhoods"),
                                                 ("neighbourhood", "pcn", "Neighbourhoods: PCN footprints"))
              if ((profile["tier"] == t) & (profile["kind"].fillna("") == k)).any()]
    heights = [max(1.2, 0.22 * ((profile["tier"] == t) & (profile["kind"].fillna("") == k)).sum() + 0.8) for t, k, _ in panels]
    fig = Figure(figsize=(11, min(40, sum(heights) + 1.6)), dpi=dpi)
    FigureCanvasAgg(fig)
    has_imd = "imd_score" in profile and profile["imd_score"].notna().any()
    norm = colors.Normalize(vmin=float(np.nanmin(profile["imd_score"])) if has_imd else 0,
                            vmax=float(np.nanmax(profile["imd_score"])) if has_imd else 1)
    cmap = matplotlib.colormaps["YlOrRd"]
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0] if panels else []
    for ax, (tier, kind, label) in zip(axes, panels):
        rows = profile[(profile["tier"] == tier) & (profile["kind"].fillna("") == kind)].sort_values("population")
        y = np.arange(len(rows))
        pop = rows["population"].astype("float64").to_numpy()
        fill = [cmap(norm(v)) if has_imd and pd.notna(v) else "#9e9e9e" for v in rows.get("imd_score", [np.nan] * len(rows))]
        ax.barh(y, pop, color=fill, edgecolor="white", height=0.8)
        band = _band(rows["band"].dropna().iloc[0]) if rows["band"].notna().any() else None
        if band:
            ax.axvspan(band[0], band[1], color="#1f2a44", alpha=0.08, zorder=0, label=f"band {band[0]:,.0f}–{band[1]:,.0f}")
            ax.axvline(band[0], color="#1f2a44", lw=0.6, alpha=0.5)
            ax.axvline(band[1], color="#1f2a44", lw=0.6, alpha=0.5)
        ax.set_yticks(y)
        ax.set_yticklabels([_plain(n) for n in rows["name"]], fontsize=7 if len(rows) > 12 else 9)
        ax.set_title(f"{label} ({len(rows)}): residents (Census 2021); shaded: the tier's size band", loc="left", fontsize=9.5)
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=8)
    top = 1 - 0.9 / fig.get_figheight()
    fig.subplots_adjust(left=0.28, right=0.84 if has_imd else 0.97, top=top, bottom=0.5 / fig.get_figheight(), hspace=0.5)
    if title:
        fig.suptitle(_plain(title), x=0.02, y=1 - 0.25 / fig.get_figheight(), ha="left", fontsize=12, fontweight="bold")
    if has_imd and len(axes):
        cax = fig.add_axes((0.88, 0.3, 0.018, 0.4))
        bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax)
        bar.set_label("IMD 2025 score, population-weighted (higher: more deprived)", fontsize=8)
        bar.ax.tick_params(labelsize=8)
    if path is not None:
        from ..files import atomic_write

        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=dpi))
    return fig
