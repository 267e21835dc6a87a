"""The workbench's error policy, one class per kind of failure.

* ``ValueError``: a bad parameter (the message names it and what it accepts);
* ``SchemaError`` (a ``ValueError``): a bad table (the message names the table, the column, the problem);
* ``IdentificationError`` (a ``ValueError``): the data cannot identify what was asked (no overlap
  between arms, a weak instrument, too few units in a design cell).
"""
from __future__ import annotations

from lab.data.schema import SchemaError

__all__ = ["IdentificationError", "SchemaError"]


class IdentificationError(ValueError):
    """The data cannot identify the asked effect; the message says which assumption fails and by how much."""
