"""The ``offbench`` command.

Each subcommand lives in its own module of :mod:`offbench.commands` (found by scanning the
package, so adding a command edits nothing here). A :class:`~offbench.errors.UserError` anywhere
becomes one message on stderr and exit status 2, and so does an ``OSError`` (the system refused: a
full disk, a read-only folder); a traceback means a bug in offbench.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from .errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own mistakes: same shape as ours, exit 2
        self.print_usage(sys.stderr)
        raise UserError(message)


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = _Parser(
        prog="offbench",
        description="A benchmark suite for DNN task-offloading algorithms.",
    )
    parser.add_argument("--version", action="version", version=f"offbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if m.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{m.name}")
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``offbench`` command; returns the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"offbench: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (| head): not an error of ours.
        try:
            sys.stdout = None
        finally:
            return 0
    except OSError as e:  # the system refused (a full disk, a read-only folder): not a bug
        where = f": {_one_line(str(e.filename), 200)}" if e.filename else ""
        print(f"offbench: error: {e.strerror or type(e).__name__}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("offbench: interrupted", file=sys.stderr)
        return 130


def _one_line(text: str, limit: int = 2000) -> str:
    """A message as one line of bounded length (a 5000-character name stays readable)."""
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else f"{text[:limit // 2]} ... {text[-limit // 4:]}"


if __name__ == "__main__":
    sys.exit(main())
