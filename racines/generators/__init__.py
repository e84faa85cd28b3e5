"""Generators turn one shot into frames. One module each; found through entry points."""

from racines.generators.registry import available, derives_from_takes, get_generator

__all__ = ["available", "derives_from_takes", "get_generator"]
