"""The review room: ``racines serve``, a local web app to watch, compare and decide on takes.

Decisions go through :mod:`racines.takes.reviews` as the command line's do; which take the
cut uses and where each shot stands come from :mod:`racines.takes.resolve`.
"""
