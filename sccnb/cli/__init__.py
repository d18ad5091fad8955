"""Command line: ``python -m sccnb COMMAND ...``.

Each command has a module of this package that provides ``add_arguments(parser)`` and
``run(args) -> int``: its arguments and dispatch, while the work is the library's (which imports
nothing from here). Modules are imported only when their command runs, so ``--help`` is quick.

Errors: an expected one (bad data, a bad config value, a bad checkpoint, a missing file, no
CUDA: :mod:`sccnb.errors`) is printed as one line on stderr, ``error: ...``, with a non-zero
exit status (2 for a bad config value, 130 for Ctrl-C, else 1); an unexpected one keeps its
traceback. ``--debug`` (anywhere on the line, or ``SCCNB_DEBUG=1``) shows the traceback always.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from ..errors import Interrupted, UserError

# command -> (module, one-line help)
COMMANDS = {
    "train": ("sccnb.cli.train", "train a model from a named profile (or load the run if it "
              "exists)"),
    "runs": ("sccnb.cli.runs", "train (or load) every run the tables and figures need"),
    "eval": ("sccnb.cli.eval", "evaluate a stored run on its test splits and print the summary"),
    "predict": ("sccnb.cli.predict", "predict landmarks on images: CSV/JSON and overlay PNGs"),
    "detect": ("sccnb.cli.detect", "face detector: `detect calibrate RUN` (its boxes -> the run's "
               "training boxes), `detect rate --data FORMAT PATH`"),
    "efficiency": ("sccnb.cli.efficiency", "parameters, multiply-adds and latency (Table 4)"),
    "synth": ("sccnb.cli.synth", "generate the SynthFace dataset in the real file layouts"),
    "synth-fit": ("sccnb.cli.synth_fit", "re-fit SynthFace's shape model from the real WFLW "
                  "test subset lists (maintainers)"),
    "readme": ("sccnb.cli.readme", "regenerate README.md's results block from results/ (--check)"),
    "bench": ("sccnb.cli.bench", "benchmarks: training/inference throughput, data pipeline"),
    "device-check": ("sccnb.cli.device_check",
                     "the GPU session's ten-minute check (smoke size on a CPU)"),
    "link-split": ("sccnb.cli.link_split", "a folder of links to a run's test faces, for "
                   "`eval RUN --data 300w FOLDER` (e.g. the held-out faces)"),
    "data": ("sccnb.cli.data", "validate a downloaded dataset folder: `data check FORMAT PATH`"),
    "stable-notebook": ("sccnb.cli.stable_notebook", "take papermill's times, timestamps and "
                        "text progress bars out of executed notebooks (make runs it)"),
}


def at_least(minimum: int):
    """An argparse type: an integer >= ``minimum`` (a negative count or worker number is a
    usage error naming the flag, never taken as given)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text}")
        return value

    return parse


def one_line(err: BaseException, command: str = "") -> tuple[str, int] | None:
    """``(message, exit status)`` for an expected error, or None for one that should keep its
    traceback. Multi-line messages are joined into one line. ``command``: the sccnb command
    that failed (a dataset error met in training points to ``data check``)."""
    from ..data.records import DataFormatError

    if isinstance(err, UserError):
        return _join(str(err)), err.exit_code
    if isinstance(err, DataFormatError):
        hint = (" (`python -m sccnb data check FORMAT PATH` lists every problem of a dataset "
                "folder)" if command in ("train", "runs", "eval") else "")
        return _join(f"{err}{hint}"), 1
    if isinstance(err, KeyboardInterrupt):
        return "interrupted", Interrupted.exit_code
    if type(err).__name__ == "TrainingDiverged":  # sccnb.training.train's; not imported here
        return _join(str(err)), 1
    if isinstance(err, OSError) and err.filename is not None:
        # a missing file, a folder where a file was expected, no permission, a full disk
        what = err.strerror or type(err).__name__
        return f"{what}: {err.filename}", 1
    if isinstance(err, FileNotFoundError):  # raised with a message of ours (no filename)
        return _join(str(err)), 1
    return None


def _join(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sccnb",
        description="sccnb: a reproducibility study of the SCC face-alignment paper (ECCV 2020).")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of every error (also SCCNB_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("SCCNB_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        return _main(argv)
    except (Exception, KeyboardInterrupt) as err:
        known = one_line(err, argv[0] if argv else "")
        if debug or known is None:
            raise
        message, status = known
        prog = f"python -m sccnb {argv[0]}" if argv else "python -m sccnb"
        print(f"{prog}: error: {message}", file=sys.stderr)
        return status


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints "invalid choice" and exits with status 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    sub = argparse.ArgumentParser(prog=f"python -m sccnb {name}", description=COMMANDS[name][1],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    return int(module.run(args) or 0)
