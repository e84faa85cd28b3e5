"""Diffusion generators (the 'final' profile): diffusers pipelines on local model weights.

One module per family, in the diffusers style: ``svd``, ``wan`` (image-to-video and first+last
frame), ``ltx`` (keyframes), ``cogvideox``, ``keyframe`` (image-to-image and instruction
editing), each with its ``final:`` settings model. ``settings`` holds the settings they share,
``base`` the rest of what they share, ``runtime`` where and how pipelines run, ``timing``
the retiming to the shot, ``prompts`` the optional prompt enhancement, ``tiny`` the tiny
random-weight components used by the tests and benchmarks. diffusers, transformers and torch
are imported only when a pipeline runs, so the draft profile never needs them.
"""
