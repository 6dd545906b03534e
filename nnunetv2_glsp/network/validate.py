"""Argument checks shared by NetworkConfig and the blocks: each raises a ValueError that names
the argument, the value and the valid range, at construction time."""

from __future__ import annotations

from collections.abc import Iterable


def one_of(name: str, value: object, choices: Iterable[object]) -> None:
    """value must be one of choices."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not a valid choice: use one of "
                         f"{', '.join(repr(c) for c in choices)}")


def boolean(name: str, value: object) -> None:
    """value must be True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False")


def integer(name: str, value: object, low: int, high: int | None = None) -> None:
    """value must be an int (not a bool) in [low, high]."""
    span = f">= {low}" if high is None else f"between {low} and {high}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} must be an integer {span}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name}={value} must be {span}")


def odd_kernel(name: str, value: object) -> None:
    """value must be a positive odd int: a kernel centred on each voxel keeps the size."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name}={value!r} must be a positive odd integer (1, 3, 5, ...): an "
                         "even kernel has no centre voxel and would change the feature map size")


def number(name: str, value: object, low: float, high: float, *, low_open: bool = False,
           high_open: bool = False) -> None:
    """value must be a real number in the interval given by low, high and the open ends."""
    span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}={value!r} must be a number in {span}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above or value != value:  # value != value: NaN
        raise ValueError(f"{name}={value!r} must be in {span}")
