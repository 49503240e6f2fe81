"""Subcommands of the ``offbench`` command, one module each.

Each module defines ``add_parser(subparsers)`` (creates its parser and sets
``func=run`` as a default) and ``run(args) -> int``. :mod:`offbench.cli` lists them in
:data:`offbench.cli.COMMANDS`; heavy imports happen inside ``run``.
"""
