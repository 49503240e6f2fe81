"""offbench's benchmarks: asv suites (``asv_*.py``) and stand-alone scripts (``bench_*.py``).

asv: ``asv run --python=same --quick`` times the current checkout in this interpreter;
``asv continuous main HEAD`` compares two commits. The scripts print tables of medians and
ratios measured in one run: ``python benchmarks/bench_cost.py``.
"""
