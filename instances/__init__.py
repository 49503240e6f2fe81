"""Family definitions (*.toml) and frozen instance sets (sets/) of offbench.

Installed as the package ``offbench_instances`` so that ``importlib.resources.files("offbench_instances")``
finds the definitions; see offbench.families.
"""
