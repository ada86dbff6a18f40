"""The clip player: Qt Multimedia playback with a thumbnail + waveform timeline, trim points and safe zones.

`PlayerWidget` is what the main window puts in its preview slot (`load(path)`); the timeline and the
video view are its parts, public so the export dialog and tests can reach them.
"""

from ltx_studio.player.timeline import TimelineWidget
from ltx_studio.player.video_view import SAFE_ZONES, VideoView
from ltx_studio.player.widget import PlayerWidget

__all__ = ["SAFE_ZONES", "PlayerWidget", "TimelineWidget", "VideoView"]
