"""``offbench run``, stage by stage (being split out of :mod:`offbench.runner`).

- :mod:`offbench.run.spec`: the run spec: parsing, validation, command-line overrides.
"""
