"""Generators turn one shot into frames. One module each; found through entry points."""

from racines.generators.registry import available, get_generator

__all__ = ["available", "get_generator"]
