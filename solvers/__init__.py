"""offbench's built-in solvers, one file each (installed as the package ``offbench_solvers``).

Every :class:`offbench.solver.Solver` subclass defined in a module here is discovered by
:func:`offbench.discovery.discover`; nothing else needs editing to add one. Modules whose name
starts with ``_`` hold shared pieces and are not scanned.
"""
