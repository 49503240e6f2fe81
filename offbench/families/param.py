"""The declared generator parameters of a family, and the family's error.

A generator module (``offbench.families.dmro``...) declares ``PARAMS``, a tuple of
:class:`FParam`: :class:`offbench.params.Param` (the one parameter language of offbench) whose
refusals name the family and raise :class:`FamilyError`::

    The 'n_devices' parameter of family dmro must be an int in [1, inf). Got 0.

Family parameters have no default in the declaration: the family's definition (its TOML file)
gives every value. Their written forms appear in family IDs (``dmro-v1[distance_m=1:2]``,
``zoo[models=alexnet+vgg16]``), so :meth:`~offbench.params.Param.format` of a value is part of
the instances' identity.
"""

from __future__ import annotations

from ..errors import UserError
from ..params import Param

__all__ = ["FamilyError", "FParam", "Argument"]


class FamilyError(UserError, ValueError):
    """A bad family ID, parameter or definition (a user's mistake)."""


class FParam(Param):
    """A declared generator parameter (see :class:`offbench.params.Param` for the kinds:
    ``int``, ``float``, ``bool``, ``str`` with choices, ``"range"``, ``"int_range"``, ``"list"``)."""

    owner_kind = "family"
    error = FamilyError


class Argument(FParam):
    """An argument of a family's method (``seed``, ``n_frames``...), refused alike:
    "The 'seed' argument of family dmro-v1 must be an int in [0, inf). Got -1." """

    what = "argument"
