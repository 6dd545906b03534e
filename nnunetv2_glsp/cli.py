"""``nnunetv2_glsp`` command line: one subcommand per module, each adding its own parser."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module providing ``add_arguments(parser)`` and ``main(args) -> int``
SUBCOMMANDS = {
    "doctor": "nnunetv2_glsp.doctor",
    "benchmark": "nnunetv2_glsp.benchmark.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="nnunetv2_glsp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # import only the module that runs (all of them for the top-level --help)
    names = [argv[0]] if argv and argv[0] in SUBCOMMANDS else list(SUBCOMMANDS)
    for name in names:
        module = importlib.import_module(SUBCOMMANDS[name])
        sub_parser = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    args = parser.parse_args(argv)
    return int(args._module.main(args) or 0)
