"""What the server knows about itself: the warm-up, the data files' verification and which tiers
its answers lack. Every fact comes from the public API (``icsgeo.inventory``, the catalogue's declared
inputs, ``icsgeo.notes``)."""

import logging
import threading
import time

__all__ = ["State", "WARM_POSTCODE"]

log = logging.getLogger("icsgeo")

#: Where the warm-up looks a postcode up.
WARM_POSTCODE = "S1 2HE"


class State:
    """The warm-up result, the data summary and the degraded tiers of the default vintage."""

    def __init__(self, vintage: str):
        self.vintage = vintage
        self.ready = False
        self.warm_seconds: float | None = None
        self.error: str | None = None
        self.lock = threading.Lock()
        self.geojson: dict[tuple[str, str], bytes] = {}
        self.batches: tuple = ()
        #: the default vintage's :class:`icsgeo.PostcodeIndex`, once warm: single GETs read it inline
        self.index = None

    def data_summary(self, rows) -> dict:
        """Present/verified counts of the catalogue's files (rows of ``icsgeo.inventory``)."""
        import icsgeo

        settings = icsgeo.get_settings()
        missing = [r.id for r in rows if not r.present]
        failing = [{"id": r.id, "file": r.file, "problem": r.problem or "fails verification"}
                   for r in rows if r.present and not r.verified and settings.verify == "strict"]
        verified = sum(1 for r in rows if r.present and (r.verified or settings.verify != "strict"))
        return {"folder": str(settings.data_dir) if settings.data_dir else None, "datasets": len(rows),
                "present": len(rows) - len(missing), "verified": verified, "missing": missing, "failing": failing}

    def problems(self, rows) -> tuple[list[str], dict[str, str]]:
        """(what stops every answer, tier -> what it lacks). A role is played when one of its files
        is present and verified; the roles of the ``lsoa`` tier are needed by every answer."""
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
                why = f"{first.id}: {'missing' if not first.present else first.problem} ({first.file})"
                if name in core and not role.optional:
                    if why not in blocking:
                        blocking.append(why)
                else:
                    degraded.setdefault(tier, f"{why}; " + (role.without or f"the {tier} tier is unknown"))
        if not blocking and self.ready:
            for tier, why in icsgeo.notes(self.vintage).items():
                degraded.setdefault(tier, why)
        return blocking, degraded

    def warm(self) -> None:
        """Load the default vintage's postcode answers, points and systems so the first request is fast."""
        import icsgeo

        t0 = time.perf_counter()
        try:
            self.index = icsgeo.postcode_index(self.vintage)
            self.index.answer(WARM_POSTCODE)
            icsgeo.assign(lat=[53.38], lon=[-1.47], vintage=self.vintage)
            icsgeo.geography(self.vintage).systems  # noqa: B018
            self.error = None
            self.ready = True
        except Exception as exc:  # noqa: BLE001 - reported by /health; requests answer 503 or 4xx, never 500
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("icsgeo serve: warm-up failed: %s", self.error)
        self.warm_seconds = round(time.perf_counter() - t0, 2)
