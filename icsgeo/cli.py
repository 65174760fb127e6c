"""The ``icsgeo`` command. Thin: parses arguments, calls the public API, formats the output.

Exit status: 0 success; 1 some answer or check failed (all results still printed); 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from typing import Sequence

from ._version import __version__
from .errors import IcsgeoError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _cmd_data_add(args: argparse.Namespace) -> int:
    from icsgeo import add_data

    done = add_data(args.files, link=args.link)
    if args.json:
        print(json.dumps(done, indent=2))
    for r in done:
        if args.json:
            break
        if r["status"] == "known":
            print(f"{r['path']}: catalogued release {r['id']} (sha256 verified) -> {r['file']}")
        elif r["status"] == "recorded":
            print(f"{r['path']}: the {r['release']} release of {r['family']} (validated, hash recorded) -> {r['file']}")
    for r in done:
        if r["status"] == "refused":
            print(f"error: {r['path']} refused: {r['why']}", file=sys.stderr)
    return EXIT_OK if all(r["status"] != "refused" for r in done) else EXIT_FAILED


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from icsgeo import fetch_data

    done = fetch_data(args.targets)
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        for r in done:
            print(f"{r['id']}: {r['status']}" + (f" ({r['why']})" if r["why"] else ""))
        if not done:
            print("nothing to fetch: every file with a download URL is present")
    return EXIT_OK if all(r["status"] in ("present", "downloaded") for r in done) else EXIT_FAILED


def _cmd_data(args: argparse.Namespace) -> int:
    from icsgeo import catalogue, data_dir_label, families, inventory, tiers_missing

    rows = inventory(count_rows=not args.no_rows)
    bad = [r for r in rows if r.present and not r.verified]
    fams = families()
    lacking = tiers_missing()
    if args.json and args.families:
        print(json.dumps({"families": fams, "tiers_missing": lacking}, indent=2))
    elif args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        print(f"data folder: {data_dir_label()}")
        w = max(len(r.id) for r in rows)
        print(f"{'dataset':<{w}}  {'kind':<14} {'vintage':<8} {'present':<7} {'verified':<8} {'rows':>10}")
        for r in rows:
            print(
                f"{r.id:<{w}}  {r.kind:<14} {r.vintage:<8} {'yes' if r.present else 'NO':<7} "
                f"{('yes' if r.verified else 'NO') if r.present else '-':<8} "
                f"{'' if r.rows is None else f'{r.rows:,}':>10}"
            )
        missing = [r for r in rows if not r.present]
        print(f"\n{len(rows)} datasets: {len(rows) - len(missing)} present, {len(missing)} missing, {len(bad)} failing verification")
        for f in fams:
            present = [r["release"] for r in f["releases"] if r["present"]]
            chosen = f" (pinned: {f['pinned']})" if f["pinned"] else ""
            print(f"\nfamily {f['family']} ({f['cadence'] or 'irregular'}; choose with --{f['option']}): "
                  f"releases present {', '.join(present) or 'none'}; default {f['default'] or 'none'}{chosen}")
            for r in f["refused"]:
                print(f"  refused {r['path']}: {r['why']}")
        short = {t: m for t, m in lacking.items() if m}
        print(f"\nanswer tiers (vintage {catalogue().vintage(None).key}): " + ("every input present" if not short else ""))
        for tier, why in short.items():
            for w in why:
                print(f"  {tier}: {w}")
    for r in bad:
        print(f"error: {r.file} (dataset {r.id}) {r.problem}", file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE, e.g. data_dir=D:\\nhs-data")
    return key.strip(), value.strip()


def _cmd_config(args: argparse.Namespace) -> int:
    from icsgeo import config

    report = config(set=dict(args.set or []), unset=args.unset or [])
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return EXIT_OK
    state = "" if report["exists"] else " (not written yet: icsgeo config --set data_dir=FOLDER writes it)"
    print(f"config file: {report['config_file']}{state}")
    for key, item in report["settings"].items():
        value = "(unset)" if item["value"] is None else str(item["value"]).lower() if isinstance(item["value"], bool) else item["value"]
        print(f"  {key:<10} {value:<50} {item['source']}")
    return EXIT_OK


def _cmd_versions(args: argparse.Namespace) -> int:
    from icsgeo import show_versions

    show_versions()
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def _cmd_serve(args: argparse.Namespace) -> int:
    from .server import Limits, serve  # the face beside this one; raises MissingDependencyError naming pip install "icsgeo[server]"

    limits = Limits(header_timeout=args.header_timeout, body_timeout=args.body_timeout, max_connections=args.max_connections)
    serve(args.host, args.port, args.vintage, workers=args.workers, allow_hosts=args.allow_host, limits=limits)
    return EXIT_OK


# ------------------------------------------------------------------ where

class UsageError(Exception):
    """Bad arguments or an unusable input file: exit status 2."""


def _labels() -> list[tuple[str, str]]:
    """(part, label) in the order the CLI prints them: from the one answer schema."""
    from .answer import CLI_ORDER, GROUPS

    labels = {g.name: g.label for g in GROUPS}
    return [(name, labels[name]) for name in CLI_ORDER]


def _describe(rec: dict) -> str:
    head = f"{rec['query'] if rec.get('query') is not None else ''}"
    lines = [f"{head}  {rec['status']}" + (f"  ({rec['postcode']})" if rec.get("postcode") and rec["postcode"] != head else "")]
    if rec.get("reason") and rec["status"] != "ok":
        lines.append(f"  {'reason':<21} {rec['reason']}")
    for key, label in _labels():
        part = rec.get(key)
        if not part:
            continue
        codes = ", ".join(str(part[k]) for k in ("code", "ods_code") if part.get(k) and part.get(k) != part.get("name"))
        extra = ""
        if key == "neighbourhood":
            conf = part.get("confidence")
            extra = f" [{part.get('method')}" + (f", confidence {conf:.2f}" if conf is not None else "")
            if part.get("runner_up_code"):
                share = part.get("runner_up_share")
                extra += f"; runner-up {part['runner_up_code']}" + (f" {share:.0%}" if share is not None else "")
            extra += "]"
        if key in ("lsoa", "local_neighbourhood") and part.get("method"):
            extra = f" [{part['method']}]"
        lines.append(f"  {label:<21} {part.get('name') or ''}" + (f" ({codes})" if codes else "") + extra)
    loc = rec.get("location")
    if loc and loc.get("easting") is not None:
        quality = f", positional quality {loc['quality']}" if loc.get("quality") is not None else ""
        lines.append(f"  {'location':<21} E {loc['easting']:.0f}, N {loc['northing']:.0f} "
                     f"(lat {loc['lat']:.5f}, lon {loc['lon']:.5f}){quality}")
    lines.append(f"  {'vintage':<21} {rec['vintage']}")
    if rec.get("made_from"):
        lines.append(f"  {'made from':<21} {rec['made_from']}")
    return "\n".join(lines)


_INWARD = re.compile(r"^[0-9][A-Za-z]{2}$")


def join_split_postcodes(words: list[str]) -> list[str]:
    """``icsgeo where S1 2HE`` arrives as two words: join an inward code (``2HE``) to the word before it
    when that word is not a whole postcode on its own.

    >>> join_split_postcodes(["S1", "2HE", "M1 1AE", "sw1a", "1aa", "S12HE"])
    ['S1 2HE', 'M1 1AE', 'sw1a 1aa', 'S12HE']
    """
    from icsgeo import normalise_postcode

    out: list[str] = []
    for w in words:
        if out and _INWARD.match(w) and normalise_postcode(out[-1]) is None and normalise_postcode(f"{out[-1]} {w}"):
            out[-1] = f"{out[-1]} {w}"
        else:
            out.append(w)
    return out


def _print_records(records: list[dict], shape: str) -> int:
    """Print answers as text, JSON, or postcodes.io's envelope (one query: its GET answer; several: its
    bulk answer); the exit status says whether every one resolved."""
    if shape == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    elif shape == "postcodes.io":
        from icsgeo import postcodes_io_bulk, postcodes_io_response

        body = postcodes_io_response(records[0]) if len(records) == 1 else postcodes_io_bulk(records)
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(_describe(r) for r in records))
    return EXIT_OK if all(r["status"] == "ok" for r in records) else EXIT_FAILED


def _shape(args: argparse.Namespace) -> str:
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} disagree: give one")
    return "json" if args.json else (args.format or "text")


def _cmd_where(args: argparse.Namespace) -> int:
    modes = sum(bool(x) for x in (args.postcodes, args.input, args.lat is not None or args.lon is not None,
                                   args.easting is not None or args.northing is not None))
    shape = _shape(args)
    if modes == 1 and args.postcodes:
        from icsgeo import lookup  # light without --system: the prebuilt index, pyarrow only

        return _print_records(lookup(join_split_postcodes(args.postcodes), vintage=args.vintage, system=args.system,
                                     as_at=args.as_at), shape)
    from icsgeo import BulkInputError, answer_file, assign, to_records

    if modes != 1:
        raise UsageError("give postcodes, or --input FILE, or --lat/--lon, or --easting/--northing (exactly one)")
    opts = {"vintage": args.vintage, "system": args.system, "as_at": args.as_at}
    if shape == "postcodes.io" and not args.postcodes:
        raise UsageError("--format postcodes.io is for postcodes given on the command line (postcodes.io has no "
                         "answer of this shape for points or files); use --json, or --output for files")
    if args.input:
        if not args.output:
            raise UsageError("--input needs --output (a .csv, .parquet, .xlsx, .gpkg or .geojson file)")
        points = None
        if args.easting_column or args.northing_column:
            if not (args.easting_column and args.northing_column):
                raise UsageError("give --easting-column with --northing-column")
            points = (args.easting_column, args.northing_column, "en")
        elif args.lat_column or args.lon_column:
            if not (args.lat_column and args.lon_column):
                raise UsageError("give --lat-column with --lon-column")
            points = (args.lat_column, args.lon_column, "latlon")
        try:
            counts = answer_file(args.input, args.output, column=args.column, points=points, **opts)
        except BulkInputError as exc:
            raise UsageError(str(exc)) from exc
        total = sum(counts.values())
        print(f"wrote {total:,} rows to {args.output}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())), file=sys.stderr)
        return EXIT_OK if set(counts) <= {"ok"} else EXIT_FAILED
    if args.lat is not None or args.lon is not None:
        if args.lat is None or args.lon is None:
            raise UsageError("--lat needs --lon")
        answers = assign(lat=[args.lat], lon=[args.lon], **opts)
        answers.insert(0, "query", f"{args.lat},{args.lon}")
    else:
        if args.easting is None or args.northing is None:
            raise UsageError("--easting needs --northing")
        answers = assign(easting=[args.easting], northing=[args.northing], **opts)
        answers.insert(0, "query", f"{args.easting},{args.northing}")
    return _print_records(to_records(answers), shape)


# ------------------------------------------------------------------ listings

#: Columns shown rounded (shares) and as whole numbers (counts), however they were computed.
_SHARES = ("confidence", "coverage", "share")
_COUNTS = ("registered_patients", "population", "footprint_population", "residents", "practices", "lsoas", "places", "parts")


def _tidy(frame):
    """Counts as whole numbers (36155, not 36155.0; missing stays missing) and shares to 4 decimals,
    for what is printed and written."""
    import pandas as pd

    frame = frame.copy()
    for c in frame.columns:
        values = frame[c]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        if c in _COUNTS or c.endswith("_patients") or c.endswith("_population"):
            whole = values.dropna()
            if (whole == whole.round()).all():
                frame[c] = values.round().astype("Int64")
        elif any(k in c for k in _SHARES):
            frame[c] = values.round(4)
    return frame


def _print_frame(frame, as_json: bool) -> None:
    frame = _tidy(frame)
    if as_json:
        print(frame.to_json(orient="records", force_ascii=False, indent=2))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.max_colwidth", 60):
            print(frame.to_string(index=False))


def _cmd_systems(args: argparse.Namespace) -> int:
    from icsgeo import SYSTEM_COLUMNS, geography

    g = geography(args.vintage, as_at=args.as_at)
    _print_frame(g.systems[SYSTEM_COLUMNS], args.json)
    return EXIT_OK


def _cmd_places(args: argparse.Namespace) -> int:
    from icsgeo import PLACE_COLUMNS, geography

    s = geography(args.vintage, as_at=args.as_at).system(args.system)
    places = s.places
    if not args.json:
        print(f"{s.name} ({s.code}), vintage {s.vintage}: {len(places)} places\n")
    _print_frame(places[PLACE_COLUMNS], args.json)
    return EXIT_OK


def _cmd_practices(args: argparse.Namespace) -> int:
    from icsgeo import BulkInputError, geography, practices, save

    if args.system:
        s = geography(args.vintage, as_at=args.as_at).system(args.system)
        p = practices(s.geography)
        p = p[p["system_code"] == s.code]
    else:
        p = practices(geography(args.vintage, as_at=args.as_at))
    if args.output:
        try:
            save(_tidy(p), args.output)
        except BulkInputError as exc:
            raise UsageError(str(exc)) from exc
        print(f"wrote {len(p):,} practices to {args.output}", file=sys.stderr)
    else:
        cols = ["practice_code", "practice_name", "postcode", "pcn_code", "pcn_name", "place_name", "system_ods_code",
                "registered_patients", "outside_ods_sicbl"]
        _print_frame(p[cols], args.json)
    return EXIT_OK


def _cmd_neighbourhoods(args: argparse.Namespace) -> int:
    from icsgeo import BulkInputError, geography, save

    if args.system.strip().lower() == "england":
        g = geography(args.vintage, None, None, args.method, args.as_at)
        try:
            save(_tidy(g.neighbourhoods), args.output, layer="neighbourhoods")
        except BulkInputError as exc:
            raise UsageError(str(exc)) from exc
        print(f"wrote {len(g.neighbourhoods):,} neighbourhoods of England (vintage {g.vintage}, practice map "
              f"{g.practice_map}, method {g.method}) to {args.output}", file=sys.stderr)
        return EXIT_OK
    s = geography(args.vintage, None, None, args.method, args.as_at).system(args.system)
    g = s.geography
    local = s.local_neighbourhoods
    kind = args.kind or ("local" if local is not None else "pcn")
    if kind == "local" and local is None:
        raise UsageError(f"{s.name} has no local neighbourhoods: its definition gives none (use --kind pcn, "
                         "or add a neighbourhoods: list to a system definition)")
    frame = local if kind == "local" else s.neighbourhoods
    try:
        save(_tidy(frame), args.output, layer="neighbourhoods")
    except BulkInputError as exc:
        raise UsageError(str(exc)) from exc
    if kind == "local":
        print(f"wrote {len(frame)} local neighbourhoods of {s.code} ({g.definition.id}) to {args.output}", file=sys.stderr)
        for line in g.local_report.lines():
            print(f"note: {line}", file=sys.stderr)
        return EXIT_OK
    pieces = frame[~frame["contiguous"]]
    print(f"wrote {len(frame)} neighbourhoods of {s.code} (vintage {g.vintage}, practice map {g.practice_map}, method {g.method}) to {args.output}", file=sys.stderr)
    if len(pieces):
        print(f"{len(pieces)} footprints are in several pieces: " + ", ".join(f"{n} ({k})" for n, k in zip(pieces["pcn_name"], pieces["parts"])), file=sys.stderr)
    return EXIT_OK


def _cmd_profile(args: argparse.Namespace) -> int:
    from icsgeo import BulkInputError, draw_profile

    try:
        table = draw_profile(args.system, vintage=args.vintage, output=args.output, png=args.png, as_at=args.as_at)
    except BulkInputError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        _print_frame(table, True)
    elif not args.output:
        shown = table.drop(columns=["system_code", "system_name"]).copy()
        for c in ("area_km2", "imd_score"):
            shown[c] = shown[c].map(lambda v: f"{v:,.1f}" if v == v else "")
        for c in ("most_deprived_10", "most_deprived_20"):
            shown[c] = shown[c].map(lambda v: f"{v:.0%}" if v == v else "")
        shown["registered_patients"] = shown["registered_patients"].map(lambda v: f"{v:,.0f}" if v == v else "")
        shown["population"] = shown["population"].map(lambda v: f"{v:,}" if v is not None and v == v else "")
        _print_frame(shown, False)
    off = table[table["size_flag"].isin(["below", "above"])]
    print(f"{len(table)} units; {len(off)} outside their band: " + ", ".join(f"{n} ({f})" for n, f in zip(off["name"], off["size_flag"])),
          file=sys.stderr)
    for what, where in (("table", args.output), ("chart", args.png)):
        if where:
            print(f"wrote the {what} to {where}", file=sys.stderr)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    import time

    from icsgeo import BulkInputError, export

    t = time.perf_counter()
    try:
        counts = export(args.output, vintage=args.vintage, system=args.system, as_at=args.as_at, crs=args.crs)
    except BulkInputError as exc:
        raise UsageError(str(exc)) from exc
    rows = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"wrote {args.output} in {time.perf_counter() - t:.0f} s: {rows}", file=sys.stderr)
    return EXIT_OK


def _cmd_map(args: argparse.Namespace) -> int:
    from icsgeo import draw

    if bool(args.system) == bool(args.system_option):
        raise UsageError("name one system: SYSTEM or --system ID (or 'england')")
    args.system = args.system or args.system_option
    if not args.output and not args.png:
        raise UsageError("give --output FILE.html and/or --png FILE.png")
    if args.output and not args.output.lower().endswith((".html", ".htm")):
        raise UsageError(f"--output must be an .html file, not {args.output!r}")
    if args.png and not args.png.lower().endswith(".png"):
        raise UsageError(f"--png must be a .png file, not {args.png!r}")
    r = draw(args.system, vintage=args.vintage, output=args.output, png=args.png, tiles=args.tiles, cdn=args.cdn,
             colour=args.colour, as_at=args.as_at, context=args.context)
    drew = f"{r.places} places, " + (f"{r.local} local neighbourhoods, " if r.local else "") + \
        f"{r.neighbourhoods} neighbourhoods, {r.practices} practices"
    if r.html:
        print(f"wrote {r.html} ({r.html_bytes / 1e6:.2f} MB, {'CDN' if args.cdn else 'self-contained'}): {drew}", file=sys.stderr)
    if r.png:
        print(f"wrote {r.png}: {drew}", file=sys.stderr)
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    import time

    from icsgeo import build_index, catalogue, index_path

    vintages = sorted(catalogue().vintages) if args.all else [args.vintage]
    for v in vintages:
        t = time.perf_counter()
        fresh = index_path(v).is_file()
        path = build_index(v, progress=None if not args.quiet else False)
        took = time.perf_counter() - t
        state = "up to date" if fresh else "built"
        where = f"{path} ({path.stat().st_size / 1e6:.1f} MB)" if path is not None else "in memory only (the cache cannot be written)"
        print(f"index {v or 'latest'}: {state} in {took:.1f} s: {where}", file=sys.stderr)
    return EXIT_OK


def _cmd_index_export(args: argparse.Namespace) -> int:
    from icsgeo import BulkInputError, export_index

    try:
        r = export_index(args.output, vintage=args.vintage)
    except BulkInputError as exc:
        raise UsageError(str(exc)) from exc
    print(f"wrote {r['rows']:,} postcodes of vintage {r['vintage']} to {r['path']} ({r['bytes'] / 1e6:.1f} MB, "
          f"{r['row_groups']} row groups) in {r['seconds']:.1f} s", file=sys.stderr)
    return EXIT_OK


def _pin_dest(option: str) -> str:
    return "release_" + option.replace("-", "_")


def _common_options(parser: argparse.ArgumentParser, *, default: bool) -> None:
    """-v and --data-dir, accepted before or after the command (``icsgeo where S1 2HE -v``)."""
    unset = {} if default else {"default": argparse.SUPPRESS}
    parser.add_argument("-v", "--verbose", action="count", help="log what icsgeo does (-vv for debug)",
                        **({"default": 0} if default else unset))
    parser.add_argument("--data-dir", metavar="FOLDER", help="the folder of published files (the data mirror); "
                        "overrides ICSGEO_DATA_DIR and the config file", **({"default": None} if default else unset))


def build_parser() -> argparse.ArgumentParser:
    from icsgeo import catalogue

    VINTAGES = tuple(sorted(catalogue().vintages))
    FAMILIES = [f for f in catalogue().families.values() if f.option]

    p = argparse.ArgumentParser(
        prog="icsgeo",
        description="England's integrated-care geography (systems, places, neighbourhoods), offline.",
    )
    p.add_argument("--version", action="version", version=f"icsgeo {__version__}")
    _common_options(p, default=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, default=False)

    def command(parent, name: str, *, examples: Sequence[str] = (), **kwargs):
        """A subcommand with the common options and its examples shown by --help."""
        epilog = kwargs.pop("epilog", None)
        if examples:
            epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) + (f"\n\n{epilog}" if epilog else "")
        return parent.add_parser(name, parents=[common], epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 **kwargs)

    c = command(sub, "config", examples=[
        "icsgeo config", "icsgeo config --set data_dir=D:\\nhs-data", "icsgeo config --set offline=true --set verify=warn",
        "icsgeo config --unset cache_dir"], help="the settings in force, where each came from, and setting them in the config file",
        description="Show data_dir, cache_dir, offline and verify, each with its source: an ICSGEO_* variable (which wins), "
                    "the config file (config.toml in your user config folder, or the file ICSGEO_CONFIG names), or the default. "
                    "--set and --unset rewrite the config file, so ICSGEO_DATA_DIR need not be set on every call.")
    c.add_argument("--set", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="write a setting (data_dir, cache_dir, offline, verify) to the config file; repeatable")
    c.add_argument("--unset", action="append", metavar="KEY", help="remove a setting from the config file; repeatable")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(func=_cmd_config)

    d = command(sub, "data", examples=["icsgeo data", "icsgeo data --json --families", "icsgeo --data-dir D:\\nhs-data data --no-rows"], help="the data folder: every dataset and family release, present, verified, the default of each",
                       description="List every catalogue dataset (present, verified, vintage, rows), each family's releases "
                                   "and default, and what each answer tier lacks. `data add` and `data fetch` bring files in.")
    d.add_argument("--json", action="store_true", help="print JSON instead of tables")
    d.add_argument("--no-rows", action="store_true", help="skip reading files to count rows (faster)")
    d.add_argument("--families", action="store_true",
                   help="with --json: the families (their releases, the default of each, refused files) and what each tier lacks")
    d.set_defaults(func=_cmd_data)
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION")
    da = command(dsub, "add", examples=["icsgeo data add ~/Downloads/gp-reg-pat-prac-map.zip", "icsgeo data add onspd.zip --link"], help="copy (or link) published files into the data folder and say what each is",
                         description="Each FILE is matched to the catalogue (by sha256) or to a family (by name and "
                                     "columns, then validated and its hash recorded). Refused files are not copied.")
    da.add_argument("files", nargs="+", metavar="FILE", help="published files (CSV, zip, Parquet, xlsx) as downloaded")
    da.add_argument("--link", action="store_true", help="symlink instead of copying")
    da.add_argument("--json", action="store_true", help="print a JSON array")
    da.set_defaults(func=_cmd_data_add)
    df = command(dsub, "fetch", examples=["icsgeo data fetch", "icsgeo data fetch codepoint-open"], help="download catalogue files from their publishers' own URLs (hash-checked)")
    df.add_argument("targets", nargs="*", metavar="ID|FAMILY", help="datasets or families (default: every missing file with a URL)")
    df.add_argument("--json", action="store_true", help="print a JSON array")
    df.set_defaults(func=_cmd_data_fetch)

    def vintage_opts(sp, as_at: bool = True):
        sp.add_argument("--vintage", choices=VINTAGES, default=None, help="geography vintage (default: the latest, %s)" % VINTAGES[-1])
        if as_at:
            sp.add_argument("--as-at", metavar="YYYY-MM-DD", default=None,
                            help="the geography in force on that day: its vintage, and PCNs as their practices were grouped then")
        for fam in FAMILIES:  # one option per republished family: --practice-map 2026-11, --registrations 2025-10
            sp.add_argument(f"--{fam.option}", dest=_pin_dest(fam.option), metavar="YYYY-MM", default=None,
                            help=f"the {fam.option.replace('-', ' ')} release to use ({fam.title}; default: the newest "
                                 f"verified one; `icsgeo data` lists them)")

    w = command(sub, "where", examples=[
        "icsgeo where S1 2HE", "icsgeo where s12he CM1 1AE --json", "icsgeo where S1 2HE --format postcodes.io", "icsgeo where S80 1AA --as-at 2022-06-30",
        "icsgeo where --lat 53.38 --lon -1.47", "icsgeo where --input patients.xlsx --column Postcode --output answers.xlsx",
        "icsgeo where --input sites.csv --easting-column x --northing-column y --output sites.gpkg"], help="which neighbourhood, place and system a postcode or point is in",
                       description="Answer postcodes (or points): LSOA, neighbourhood, place, system, Sub-ICB Location, LAD. "
                       "Exit status 0 when every query resolved, 1 when any did not (all results printed), 2 on usage errors.")
    w.add_argument("postcodes", nargs="*", metavar="POSTCODE", help="postcodes in any case and spacing (S1 2HE, s12he)")
    w.add_argument("--json", action="store_true", help="print a JSON array, one object per query, in order (--format json)")
    w.add_argument("--format", choices=("text", "json", "postcodes.io"),
                   help="text (default), json, or postcodes.io: postcodes.io's envelope and keys ({status, result}, "
                        "result.icb, codes.icb, ccg for the Sub-ICB Location...) with icsgeo's answer under result.icsgeo")
    vintage_opts(w)
    w.add_argument("--system", help="a system as `map` takes it (name fragment, GSS/ODS code, definition id or .yaml file): "
                   "answers outside it are outside_system")
    w.add_argument("--lat", type=float, help="a point's WGS84 latitude (with --lon)")
    w.add_argument("--lon", type=float, help="a point's WGS84 longitude (with --lat)")
    w.add_argument("--easting", type=float, help="a point's British National Grid easting, EPSG:27700 (with --northing)")
    w.add_argument("--northing", type=float, help="a point's British National Grid northing (with --easting)")
    w.add_argument("--input", metavar="FILE", help="a .csv, .parquet or .xlsx file (its first sheet) to answer row by row")
    w.add_argument("--column", default="postcode", help="the postcode column of --input, in any case (default: postcode)")
    w.add_argument("--lat-column", metavar="NAME", help="answer --input's rows as points: its latitude column (with --lon-column)")
    w.add_argument("--lon-column", metavar="NAME", help="its longitude column")
    w.add_argument("--easting-column", metavar="NAME", help="answer --input's rows as points: its easting column (with --northing-column)")
    w.add_argument("--northing-column", metavar="NAME", help="its northing column")
    w.add_argument("--output", metavar="FILE", help="where --input's answers go: .csv, .parquet, .xlsx, or .gpkg/.geojson (a point each)")
    w.set_defaults(func=_cmd_where)

    s = command(sub, "systems", examples=["icsgeo systems", "icsgeo systems --vintage 2021 --json"], help="the systems (ICBs, or STPs in 2021) of a vintage")
    vintage_opts(s)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=_cmd_systems)

    pl = command(sub, "places", examples=['icsgeo places "South Yorkshire"', "icsgeo places QF7 --vintage 2023",
                                          "icsgeo places south-yorkshire-and-bassetlaw-2021"], help="the places of a system")
    pl.add_argument("system", metavar="SYSTEM", help="a name fragment, GSS/ODS code or custom definition id")
    vintage_opts(pl)
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=_cmd_places)

    pr = command(sub, "practices", examples=["icsgeo practices --system QF7", "icsgeo practices --output practices.xlsx"], help="every practice with its tiers, location and flags")
    vintage_opts(pr)
    pr.add_argument("--system", help="only the practices located in this system (as `map` takes it)")
    pr.add_argument("--output", metavar="FILE", help=".csv, .parquet or .xlsx")
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pr.set_defaults(func=_cmd_practices)

    nb = command(sub, "neighbourhoods", examples=['icsgeo neighbourhoods "South Yorkshire" --output sy.gpkg',
                                                  "icsgeo neighbourhoods sheffield-neighbourhoods-2021 --kind local --output sheffield.geojson",
                                                  "icsgeo neighbourhoods england --output england-pcns.parquet"], help="write a system's neighbourhood footprints")
    nb.add_argument("system", metavar="SYSTEM", help="a name fragment, GSS/ODS code, definition id, or 'england'")
    vintage_opts(nb)
    nb.add_argument("--kind", choices=("local", "pcn"), default=None,
                    help="local: the system definition's own neighbourhoods; pcn: PCN footprints (default: local where defined)")
    nb.add_argument("--method", choices=("registrations", "modelled"), default=None,
                    help="how footprints are made (default: registrations when the files are present, else modelled)")
    nb.add_argument("--output", required=True, metavar="FILE", help=".geojson, .gpkg or .parquet (GeoParquet); .csv or .xlsx: the table without the geometry")
    nb.set_defaults(func=_cmd_neighbourhoods)

    ex = command(sub, "export", help="England's (or a system's) boundaries in one file: systems, places, neighbourhoods, practices, LSOAs",
                        description="One GeoPackage with the layers systems, places, neighbourhoods (PCN footprints, and a "
                        "definition's own where it has them), practices (points) and lsoas (with every tier's code), each with "
                        "codes, names, parents, population and method, the data dates and the licence notice in the layer "
                        "metadata. .geojson or .parquet: one file per layer.",
                        epilog="example: icsgeo export --vintage 2026 --output england-2026.gpkg")
    ex.add_argument("--output", required=True, metavar="FILE", help=".gpkg (all layers), .geojson or .parquet (a file per layer)")
    ex.add_argument("--system", default=None, help="one system (as `map` takes it) instead of all England")
    ex.add_argument("--crs", default="EPSG:27700", help="coordinate reference system (default EPSG:27700; e.g. EPSG:4326)")
    vintage_opts(ex)
    ex.set_defaults(func=_cmd_export)

    pf = command(sub, "profile", examples=['icsgeo profile "South Yorkshire"', "icsgeo profile QF7 --output sy-profile.xlsx"], help="a system's places and neighbourhoods: residents, patients, area, size band, IMD 2025",
                        description="Every place and neighbourhood of a system (PCN footprints, and its own neighbourhoods "
                        "where its definition gives them) with residents (Census 2021), registered patients, area, the units "
                        "it nests in, a flag when it is outside its tier's size band, and the population-weighted IMD 2025 "
                        "score with the share of residents in England's most deprived 10% and 20% of LSOAs.",
                        epilog='example: icsgeo profile "South Yorkshire" --png sy-profile.png')
    pf.add_argument("system", metavar="SYSTEM", help="a name fragment, GSS/ODS code, definition id or definition file")
    vintage_opts(pf)
    pf.add_argument("--output", metavar="FILE", help="write the table (.csv, .parquet or .xlsx)")
    pf.add_argument("--png", metavar="FILE.png", help="a chart: residents against the bands, coloured by IMD")
    pf.add_argument("--json", action="store_true", help="print the table as JSON")
    pf.set_defaults(func=_cmd_profile)

    mp = command(sub, "map", examples=['icsgeo map "South Yorkshire" --output syb.html --png syb.png',
                                       "icsgeo map --system south-yorkshire-and-bassetlaw-2021 --output syb-2021.html",
                                       "icsgeo map england --output england.html", "icsgeo map QF7 --colour imd --output sy-imd.html"], help="draw a system's places and neighbourhoods (interactive HTML and/or PNG)",
                        description="SYSTEM: a name fragment ('South Yorkshire'), a GSS or ODS code, a custom definition id "
                        "or definition file (mine.yaml), or 'england'. The page works offline unless --cdn or --tiles.")
    mp.add_argument("system", metavar="SYSTEM", nargs="?", help="a name fragment, GSS/ODS code, definition id or file (.yaml), or 'england'")
    mp.add_argument("--system", dest="system_option", metavar="ID", help="the same as SYSTEM (e.g. a custom definition id or mine.yaml)")
    vintage_opts(mp)
    mp.add_argument("--output", metavar="FILE.html", help="the interactive page (self-contained: opens with no network)")
    mp.add_argument("--png", metavar="FILE.png", help="a static figure for reports (England locator + magnified system)")
    mp.add_argument("--tiles", metavar="NAME", help="add a background tile layer, e.g. OpenStreetMap (needs the network)")
    mp.add_argument("--colour", choices=("imd",), default=None,
                    help="shade the finest tier drawn (local neighbourhoods, else PCN neighbourhoods; places for England) "
                    "by its population-weighted IMD 2025 score, in quantile classes")
    mp.add_argument("--cdn", action="store_true", help="load Leaflet and plugins from CDNs (smaller page, needs the network)")
    mp.add_argument("--no-context", dest="context", action="store_false",
                    help="leave out the local authority borders and names and the ward names drawn to orient by")
    mp.set_defaults(func=_cmd_map)

    ix = command(sub, "index", examples=["icsgeo index build --all", "icsgeo index export --output postcodes-2026.parquet"], help="build the prebuilt postcode index (other commands build it on first need)")
    ix_sub = ix.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ib = command(ix_sub, "build", examples=["icsgeo index build", "icsgeo index build --vintage 2021"], help="build (or check) the index of a vintage")
    vintage_opts(ib, as_at=False)
    ib.add_argument("--all", action="store_true", help="every vintage")
    ib.add_argument("--quiet", action="store_true", help="no progress bar")
    ib.set_defaults(func=_cmd_index)
    ie = command(ix_sub, "export", help="write the postcode index as a documented Parquet product (for DuckDB, Spark, dask)",
                           description="One row per known postcode with the answer columns of `icsgeo where` (postcode "
                           "first), sorted by postcode, in row groups with statistics; a stable, versioned schema "
                           "(docs/index-product.md) with the vintage, what it was made from and the licence notice in "
                           "the file metadata. Join your own records to it with any engine; icsgeo need not be installed there.",
                           epilog="example: icsgeo index export --vintage 2026 --output postcodes-2026.parquet")
    vintage_opts(ie, as_at=False)
    ie.add_argument("--output", required=True, metavar="FILE.parquet", help="the file to write (.parquet)")
    ie.set_defaults(func=_cmd_index_export)

    v = command(sub, "versions", examples=["icsgeo versions"], help="print icsgeo's and its dependencies' versions")
    v.set_defaults(func=_cmd_versions)

    sv = command(sub, "serve", examples=["icsgeo serve", "icsgeo serve --port 8080 --workers 2",
                                         "curl http://127.0.0.1:8000/postcodes/S1%202HE"], help="answer over HTTP on this machine (FastAPI; pip install \"icsgeo[server]\")",
                        description="A local HTTP API with the answers of `icsgeo where --json`: GET /postcodes/{postcode}, "
                        "POST /postcodes, GET /points, /systems, /health; OpenAPI at /openapi.json, docs at /docs.")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument("--workers", type=_positive_int, default=1,
                    help="server processes sharing the port, each holding the index in memory (default: 1; "
                         "benchmarks/load.py measures 1 against 2)")
    sv.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                    help="answer requests whose Host header is NAME too (repeatable; also ICSGEO_ALLOWED_HOSTS=NAME,NAME; "
                         "'*' for any). By default only 127.0.0.1, localhost, ::1 and --host are answered (DNS rebinding)")
    sv.add_argument("--header-timeout", metavar="SECONDS", type=_seconds, default=10.0,
                    help="close a connection whose request headers have not all arrived within this (default: 10)")
    sv.add_argument("--body-timeout", metavar="SECONDS", type=_seconds, default=30.0,
                    help="close a connection whose request body has not all arrived within this (default: 30)")
    sv.add_argument("--max-connections", metavar="N", type=_positive_int, default=None,
                    help="open connections per process (default: from the open-file limit, ulimit -n); beyond it the "
                         "longest-waiting connections that have not sent a whole request are closed")
    vintage_opts(sv, as_at=False)
    sv.set_defaults(func=_cmd_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # reads the catalogue, so the settings: a bad one is refused here
    except IcsgeoError as exc:
        print(f"icsgeo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose or 0, 2)],
        format="icsgeo: %(message)s",
    )
    if args.data_dir:
        import os

        os.environ["ICSGEO_DATA_DIR"] = args.data_dir  # for this run (and any process it starts)
    from icsgeo import DefinitionError, SettingsError, UnknownDatasetError, use_releases

    pins = {k[len("release_"):]: v for k, v in vars(args).items() if k.startswith("release_") and v is not None}
    try:
        with use_releases(**pins):
            code = args.func(args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below and not at exit
        return code
    except UsageError as exc:
        print(f"icsgeo {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DefinitionError, UnknownDatasetError, SettingsError) as exc:  # no such system, vintage, dataset; a bad setting
        print(f"icsgeo {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except IcsgeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # `icsgeo where ... | head`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _quiet_stdout() -> None:
    """Point stdout at the null device, so that Python's final flush into a closed pipe is silent."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
