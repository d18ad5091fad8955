"""The `data` command's arguments and dispatch (the library: :mod:`sccnb.data.check`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data import check as library
from ..data.check import FORMATS, check_dataset, format_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import at_least

    parser.description = (parser.description or "") + "\n\n" + library.__doc__.split("\n\n", 1)[1]
    parser.add_argument("action", choices=["check"], help="what to do (only 'check')")
    parser.add_argument("format", choices=FORMATS, metavar="FORMAT",
                        help=f"dataset format: {', '.join(FORMATS)}")
    parser.add_argument("path", type=Path, metavar="PATH", help="dataset folder or file")
    parser.add_argument("--images", type=Path, default=None,
                        help="300w-csv: folder the image_name paths are relative to; "
                             "cofw68: COFW's test .mat holding the images")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--workers", type=at_least(1), default=None,
                        help="threads decoding images (default: min(8, CPU count))")


def run(args: argparse.Namespace) -> int:
    report = check_dataset(args.format, args.path, images=args.images, workers=args.workers)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0 if report.ok else 1
