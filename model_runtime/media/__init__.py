"""Media output: mux generated frames and sound into MP4 files that carry their generation settings.

Submodules are imported where they are used (`from model_runtime.media.mux import write_mp4`): PyAV is
only loaded when a file is actually written or read.
"""
