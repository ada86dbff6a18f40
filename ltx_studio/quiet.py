"""Keep Qt Multimedia's chatter out of the user's terminal.

Why: every clip played printed FFmpeg's stream listing and metadata ("Input #0, mov,mp4…") and a few
backend notes (pipewire probing, "No HW decoder found") to the terminal. Those come through Qt logging
categories at info/debug level; these rules turn exactly those off and keep every warning that matters.
Rules set through the API rank below QT_LOGGING_RULES, so a user (or a bug report) can still turn them
back on, e.g. `QT_LOGGING_RULES="qt.multimedia.ffmpeg*=true"`.
"""

from __future__ import annotations

QUIET_RULES = "\n".join((
    "qt.multimedia.ffmpeg*.info=false",        # FFmpeg's av_dump_format: the stream listing of each clip
    "qt.multimedia.ffmpeg*.debug=false",
    "qt.multimedia.playbackengine*.info=false",
    "qt.multimedia.playbackengine*.debug=false",
    "qt.multimedia.symbolsresolver*=false",    # "Couldn't load pipewire-0.3 library": it falls back to Pulse
))


def quiet_qt_logging() -> None:
    from PySide6.QtCore import QLoggingCategory

    QLoggingCategory.setFilterRules(QUIET_RULES)
