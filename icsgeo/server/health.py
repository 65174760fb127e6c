"""What the server knows about itself: the warm-up, the data files' verification, which tiers its
answers lack, the data files that failed while answering, and the indexes it answers from inline.
Every fact comes from the public API (``icsgeo.inventory``, the catalogue's declared inputs,
``icsgeo.notes``). Nothing it reports shows an absolute path or a postcode (:func:`safe_text`)."""

import logging
import re
import threading
import time
from pathlib import Path, PurePath

__all__ = ["State", "WARM_POSTCODE", "safe_text", "culprits"]

log = logging.getLogger("icsgeo")

#: Where the warm-up looks a postcode up.
WARM_POSTCODE = "S1 2HE"

#: A held index is answered from inline for this many seconds, then asked for again through
#: :func:`icsgeo.postcode_index` (well under a millisecond), so that a rebuilt index is picked up.
RECHECK_SECONDS = 1.0
#: A held index not asked for this long is let go (its vintage is loaded again when next asked for).
FORGET_SECONDS = 60.0

_POSTCODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}(?![A-Za-z0-9])")
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])(?:/|[A-Za-z]:[\\/])[^\s'\"<>|,;()\[\]{}!:*?]+")


def _relative(match: re.Match) -> str:
    path = match.group(0)
    return PurePath(path).name or path.strip("/\\") or "/"


def safe_text(text: object) -> str:
    """``text`` fit for a response body or a log line: a path inside the data folder shown relative to
    it, one in the cache as ``ICSGEO_CACHE_DIR/...``, any other absolute path by its file name, and any postcode as
    ``(a postcode)`` (error messages may quote the query that met them)."""
    import icsgeo

    text = str(text)
    try:
        settings = icsgeo.get_settings()
        roots = [(r, label) for r, label in ((settings.data_dir, ""), (settings.cache_dir, "ICSGEO_CACHE_DIR/")) if r is not None]
    except Exception:  # noqa: BLE001 - an unusable setting is reported elsewhere
        roots = []
    for root, label in sorted(roots, key=lambda r: -len(str(r[0]))):
        for sep in ("/", "\\"):
            text = text.replace(str(root) + sep, label)
        text = text.replace(str(root), label.rstrip("/") or root.name)
    text = _ABSOLUTE.sub(_relative, text)
    return _POSTCODE.sub("(a postcode)", text)


def culprits(exc: BaseException) -> list[tuple[str, str]]:
    """(dataset id, file relative to the data folder) of each catalogue file an error names: by its
    ``dataset`` attribute, its id, its file name, or (a raw ``BadZipFile``) its zip member's name."""
    import icsgeo

    text = str(exc)
    named = getattr(exc, "dataset", None)
    found = []
    try:
        entries = list(icsgeo.catalogue())
    except Exception:  # noqa: BLE001 - no catalogue, no names
        return []
    for e in entries:
        member = getattr(e, "member", None)
        if (e.id == named or f"'{e.id}'" in text or Path(e.file).name in text
                or (member and (f"'{member}'" in text or f'"{member}"' in text))):
            found.append((e.id, e.file))
    return found


class State:
    """The warm-up result, the data summary and the degraded tiers of the default vintage, the data
    files that failed while answering, and the indexes answered from inline."""

    def __init__(self, vintage: str):
        self.vintage = vintage
        self.ready = False
        self.warm_seconds: float | None = None
        self.error: str | None = None
        self.lock = threading.Lock()
        self.geojson: dict[tuple[str, str], bytes] = {}
        self.batches: tuple = ()
        #: the default vintage's :class:`icsgeo.PostcodeIndex`, once warm
        self.index = None
        #: vintage -> (PostcodeIndex, when it was last had from icsgeo.postcode_index): single GETs read it inline
        self.held: dict[str, tuple[object, float]] = {}
        #: what has been loaded and frozen (see :meth:`settle`)
        self._settled: set = set()
        #: dataset id -> {"id", "file", "problem", "vintage", "count"}: files that failed while answering
        self.failures: dict[str, dict] = {}

    # -------------------------------------------------------------- the indexes answered from inline

    def hold(self, vintage: str, index) -> None:
        """Remember ``index`` as the vintage's, as :func:`icsgeo.postcode_index` just gave it (any
        thread: one assignment; the whole dict is replaced, never changed while it is read)."""
        now = time.monotonic()
        held = {v: e for v, e in self.held.items() if now - e[1] < FORGET_SECONDS and v != vintage}
        held[vintage] = (index, now)
        self.held = held
        self.settle(("index", vintage, id(index)))

    def settle(self, what) -> None:
        """After ``what`` (an index, a vintage's geography) is first loaded: collect, then move every
        object alive to the collector's permanent generation (``gc.freeze``), so the full collections
        that connection churn triggers never walk the millions of long-lived objects again (each walk
        stopped the event loop for a second or more while the half-open sockets were held)."""
        if what in self._settled:
            return
        import gc

        self._settled.add(what)
        gc.collect()
        gc.freeze()

    def held_index(self, vintage: str):
        """The vintage's index to answer from inline, or None (not loaded yet, or due for a check)."""
        entry = self.held.get(vintage)
        if entry is None or time.monotonic() - entry[1] > RECHECK_SECONDS:
            return None
        return entry[0]

    # -------------------------------------------------------------- failures while answering

    def failed(self, exc: BaseException, vintage: str | None = None) -> list[tuple[str, str]]:
        """Record a data error met while answering (reported by /health until the server restarts);
        the first of each dataset and error class is logged, by class and dataset only."""
        from ..errors import DataFileMissingError

        named = culprits(exc) or [("(unknown)", "(a data file)")]
        if isinstance(exc, DataFileMissingError):  # reported as missing by the inventory
            return named
        problem = safe_text(f"{type(exc).__name__}: {exc}")
        with self.lock:
            for id_, file in named:
                seen = self.failures.get(id_)
                if seen is None:
                    self.failures[id_] = {"id": id_, "file": file, "problem": problem, "vintage": vintage or self.vintage, "count": 1}
                    log.error("icsgeo serve: %s reading dataset %s (%s): answering 503 where it is needed",
                              type(exc).__name__, id_, Path(file).name)
                else:
                    seen["count"] += 1
        return named

    # -------------------------------------------------------------- /health

    def data_summary(self, rows) -> dict:
        """Present/verified counts of the catalogue's files (rows of ``icsgeo.inventory``), and the
        files failing: their hash (strict mode) or while being read."""
        import icsgeo

        settings = icsgeo.get_settings()
        missing = [r.id for r in rows if not r.present]
        failing = [{"id": r.id, "file": r.file, "problem": safe_text(r.problem or "fails verification")}
                   for r in rows if r.present and not r.verified and settings.verify == "strict"]
        listed = {f["id"] for f in failing}
        failing += [{"id": f["id"], "file": f["file"], "problem": f"{f['problem']} (while answering; seen {f['count']:,} times)"}
                    for f in list(self.failures.values()) if f["id"] not in listed]
        bad = {f["id"] for f in failing}
        verified = sum(1 for r in rows if r.present and (r.verified or settings.verify != "strict") and r.id not in bad)
        return {"folder": settings.data_dir.name if settings.data_dir else None, "datasets": len(rows),
                "present": len(rows) - len(missing), "verified": verified, "missing": missing, "failing": failing}

    def problems(self, rows) -> tuple[list[str], dict[str, str]]:
        """(what stops every answer, tier -> what it lacks). A role is played when one of its files
        is present and verified; the roles of the ``lsoa`` tier are needed by every answer. A file
        that failed while answering degrades the answers that need it."""
        import icsgeo

        settings = icsgeo.get_settings()
        usable = {r.id for r in rows if r.present and (r.verified or settings.verify != "strict")}
        by_id = {r.id: r for r in rows}
        v = icsgeo.catalogue().vintage(self.vintage)
        core = v.inputs("lsoa")
        blocking, degraded = [], {}
        for tier in v.tiers:
            for name, role in v.inputs(tier).items():
                if any(i in usable for i in role.datasets):
                    continue
                first = by_id[role.datasets[0]]
                why = safe_text(f"{first.id}: {'missing' if not first.present else first.problem} ({first.file})")
                if name in core and not role.optional:
                    if why not in blocking:
                        blocking.append(why)
                else:
                    degraded.setdefault(tier, f"{why}; " + (role.without or f"the {tier} tier is unknown"))
        if self.failures:
            listed = "; ".join(f"{f['id']} ({f['file']}, vintage {f['vintage']}): {f['problem']}" for f in list(self.failures.values()))
            degraded["data"] = (f"failed while answering: {listed}. Requests that need it answer 503; check the files with "
                                "`icsgeo data`, replace the damaged one, then restart icsgeo serve")
        if not blocking and self.ready:
            for tier, why in icsgeo.notes(self.vintage).items():
                degraded.setdefault(tier, safe_text(why))
        return blocking, degraded

    def warm(self) -> None:
        """Load the default vintage's postcode answers, points and systems so the first request is fast."""
        import icsgeo

        from .batching import DATA_ERRORS

        t0 = time.perf_counter()
        try:
            self.index = icsgeo.postcode_index(self.vintage)
            self.hold(self.vintage, self.index)
            self.index.answer(WARM_POSTCODE)
            icsgeo.assign(lat=[53.38], lon=[-1.47], vintage=self.vintage)
            icsgeo.geography(self.vintage).systems  # noqa: B018
            self.settle(("points", self.vintage))
            self.error = None
            self.ready = True
        except Exception as exc:  # noqa: BLE001 - reported by /health; requests answer 503 or 4xx, never 500
            if isinstance(exc, DATA_ERRORS):
                self.failed(exc, self.vintage)
            self.error = safe_text(f"{type(exc).__name__}: {exc}")
            log.error("icsgeo serve: warm-up failed: %s", self.error)
        self.warm_seconds = round(time.perf_counter() - t0, 2)
