"""Sampling mechanism: sigma schedules, the Euler loop, guidance maths, noise, cancel/progress plumbing.

Nothing here knows about prompts, resolutions or files: pipelines (policy) combine these pieces.
"""
