"""Unique value names, as every stage that names graph values makes them: `x`, then `x_1`, `x_2`, ..."""

from __future__ import annotations


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_N` with the smallest N that is not in `taken`; the name returned is added to it."""
    candidate, count = name, 0
    while candidate in taken:
        count += 1
        candidate = f"{name}_{count}"
    taken.add(candidate)
    return candidate
