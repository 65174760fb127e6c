"""The ``icsgeo`` command. Thin: parses arguments, calls the public API, formats the output.

Exit status: 0 success; 1 some answer or check failed (all results still printed); 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from ._version import __version__
from .errors import IcsgeoError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _cmd_data(args: argparse.Namespace) -> int:
    from .inventory import data_dir_label, inventory

    rows = inventory(count_rows=not args.no_rows)
    bad = [r for r in rows if r.present and not r.verified]
    if args.json:
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
    for r in bad:
        print(f"error: {r.file} (dataset {r.id}) {r.problem}", file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def _cmd_versions(args: argparse.Namespace) -> int:
    from .versions import show_versions

    show_versions()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="icsgeo",
        description="England's integrated-care geography (systems, places, neighbourhoods), offline.",
    )
    p.add_argument("--version", action="version", version=f"icsgeo {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log what icsgeo does (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("data", help="list every catalogue dataset: present, verified, vintage, rows")
    d.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    d.add_argument("--no-rows", action="store_true", help="skip reading files to count rows (faster)")
    d.set_defaults(func=_cmd_data)

    v = sub.add_parser("versions", help="print icsgeo's and its dependencies' versions")
    v.set_defaults(func=_cmd_versions)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="icsgeo: %(message)s",
    )
    try:
        return args.func(args)
    except IcsgeoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
