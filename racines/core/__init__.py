"""The bottom layer: what every other layer uses and which uses none of them.

Atomic files and folders (``atomic``), who and where (``identity``), the project's lock
(``lock``), and this process's tuning for frame work (``allocator``, ``process``).
"""
