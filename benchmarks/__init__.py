"""offbench's benchmarks: this folder holds only asv suites (``asv_*.py``), which asv imports
and collects; the stand-alone scripts (``scripts/bench_*.py``, a folder that is not a package,
so asv never imports them) and the committed benchmark sets (``data/``) live beside them.

asv: ``asv check --python=same`` checks the suites, ``asv run --python=same --quick`` times
the current checkout in this interpreter, ``asv continuous main HEAD`` compares two commits.
The scripts print tables of medians and ratios measured in one run:
``python benchmarks/scripts/bench_cost.py``.
"""
