"""Builders of tiny, documented test data (in code, never copies of the real files)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from icsgeo.sources.catalogue import Catalogue


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def zip_one(path: Path, member: str, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text)
    return path


def catalogue_for(data_dir: Path, **entries: dict) -> Catalogue:
    """A catalogue whose entries hash the files that already sit in ``data_dir`` (unless given)."""
    datasets = {}
    for id_, e in entries.items():
        e = {"title": id_, "publisher": "test", "kind": "lookup", "vintage": "2024", "date": "2024-01-01",
             "licence": "OGL-3.0", "attribution": "test", **e}
        if "sha256" not in e:
            e["sha256"] = sha256(data_dir / e["file"])
        datasets[id_.replace("_", "-")] = e
    return Catalogue.from_dict({"datasets": datasets})


PRACTICE_MAP_HEADER = (
    "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,PRACTICE_POSTCODE,PCN_CODE,PCN_NAME,"
    "ONS_SUB_ICB_LOCATION_CODE,SUB_ICB_LOCATION_CODE,SUB_ICB_LOCATION_NAME,ONS_ICB_CODE,ICB_CODE,ICB_NAME,"
    "ONS_COMM_REGION_CODE,COMM_REGION_CODE,COMM_REGION_NAME,SUPPLIER_NAME\n"
)

PRACTICE_MAP_COLUMNS = {
    "extract_date": "EXTRACT_DATE", "practice_code": "PRACTICE_CODE", "practice_name": "PRACTICE_NAME",
    "postcode": "PRACTICE_POSTCODE", "pcn_code": "PCN_CODE", "pcn_name": "PCN_NAME",
    "sicbl_code": "ONS_SUB_ICB_LOCATION_CODE", "sicbl_ods_code": "SUB_ICB_LOCATION_CODE",
    "sicbl_name": "SUB_ICB_LOCATION_NAME", "icb_code": "ONS_ICB_CODE", "icb_ods_code": "ICB_CODE",
    "icb_name": "ICB_NAME", "region_code": "ONS_COMM_REGION_CODE", "region_ods_code": "COMM_REGION_CODE",
    "region_name": "COMM_REGION_NAME", "supplier": "SUPPLIER_NAME",
}  # fmt: skip


def practice_map_csv(rows: list[tuple[str, str, str, str, str]]) -> str:
    """rows: (practice code, name, postcode, PCN code, PCN name) in a toy ICB (QF7, SICBL 03N)."""
    lines = [
        f"GP_PRAC_PAT_LIST,01Jan2026,{c},{n},{p},{pc},{pn},E38000146,03N,NHS South Yorkshire ICB - 03N,"
        f"E54000061,QF7,NHS South Yorkshire Integrated Care Board,E40000012,Y63,North East and Yorkshire,EMIS"
        for c, n, p, pc, pn in rows
    ]
    return PRACTICE_MAP_HEADER + "\n".join(lines) + "\n"


def national_files(real: Path) -> set[str]:
    """The mirror's national reference files (relative paths): every file but the README/PROVENANCE
    notes and the local definitions in the catalogue's ``local_folders`` (a council's neighbourhood
    layer is what users bring, read through a system definition, not a catalogue dataset)."""
    from icsgeo.sources.catalogue import catalogue

    local = catalogue().local_folders
    out = set()
    for p in Path(real).rglob("*"):
        rel = p.relative_to(real)
        if p.is_file() and p.suffix != ".md" and rel.parts[0] not in local:
            out.add(rel.as_posix())
    return out


def mirror_with(real: Path, dest: Path, changes: dict | None = None) -> Path:
    """A copy of the data mirror made of symlinks, except the files in ``changes`` (path relative to
    the mirror -> function of the original bytes giving the new bytes), which are written for real."""
    changes = changes or {}
    for p in Path(real).rglob("*"):
        if p.is_file():
            rel = p.relative_to(real).as_posix()
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel in changes:
                target.write_bytes(changes[rel](p.read_bytes()))
            else:
                target.symlink_to(p)
    return dest
