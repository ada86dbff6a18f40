"""H.264 encoding of a clip's frames, apart from writing the MP4, so it can start before the sound exists.

Why: a job decodes its video, then its audio, and only then is the MP4 written; the H.264 encode (most of
the mux) waited for the audio decode although it needs only the frames. `VideoEncodeThread` encodes them
on a thread while the audio decodes (PyAV releases the GIL inside the encoder and the colour conversion),
and `mux.write_mp4` then only copies the packets into the file next to the AAC stream.

How the packets stay exactly what a direct encode gives: they are produced by the stream of a scratch
MP4 in memory, configured as the real file's stream is, so the encoder runs with the MP4 muxer's flags
(global headers) and the scratch stream ends up carrying the codec parameters (SPS/PPS) that the real
file's stream copies (`add_stream_from_template`). The written file is byte-identical to encoding into it
directly (tests/runtime/test_video_encode.py).
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from model_runtime.media.x264_cpu import x264_options

log = logging.getLogger(__name__)

VIDEO_CODEC = "libx264"
_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709 == 1
_MPEG_RANGE = 1  # AVCOL_RANGE_MPEG (limited)


@dataclass(frozen=True)
class VideoSettings:
    """What an encode depends on besides the frames: a pre-encoded clip is used only when these match."""

    fps: Fraction
    crf: int
    preset: str


def add_video_stream(container, width: int, height: int, settings: VideoSettings):
    """An H.264 yuv420p stream tagged BT.709 / limited range, at `settings`' rate and quality."""
    stream = container.add_stream(VIDEO_CODEC, rate=settings.fps)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p"
    stream.time_base = 1 / settings.fps
    stream.options = {"crf": str(settings.crf), "preset": settings.preset} | x264_options()
    ctx = stream.codec_context
    ctx.color_primaries = ctx.color_trc = ctx.colorspace = _BT709
    ctx.color_range = _MPEG_RANGE
    return stream


class EncodedVideo:
    """The packets of one clip and the scratch stream that describes them (the template of the file's video
    stream: `add_stream_from_template`); `close()` frees the scratch."""

    def __init__(self, scratch, stream, packets: list, settings: VideoSettings) -> None:
        self._scratch, self.stream, self.packets, self.settings = scratch, stream, packets, settings

    def close(self) -> None:
        if self._scratch is not None:
            self._scratch.close()
            self._scratch = None


def encode_video(frames: np.ndarray, settings: VideoSettings) -> EncodedVideo:
    """Encode uint8 RGB frames `[F, H, W, 3]` (see the module doc)."""
    import av

    scratch = av.open(io.BytesIO(), mode="w", format="mp4")
    try:
        stream = add_video_stream(scratch, frames.shape[2], frames.shape[1], settings)
        packets: list[Any] = []
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="itu709")
            frame.pts = i
            for packet in stream.encode(frame):
                scratch.mux(packet)  # fills the stream's codec parameters; the packet stays ours
                packets.append(packet)
        for packet in stream.encode(None):
            scratch.mux(packet)
            packets.append(packet)
    except BaseException:
        scratch.close()
        raise
    return EncodedVideo(scratch, stream, packets, settings)


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    """Views of one memory (the writer's `result.frames.numpy()` and the sink's are new arrays over the same
    tensor, which is never changed in place): equal without reading every pixel of a long 4K clip."""
    return (a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


class VideoEncodeThread:
    """`encode_video(frames, settings)` on a daemon thread, started now; `take` hands the result over."""

    def __init__(self, frames: np.ndarray, settings: VideoSettings) -> None:
        self.frames, self.settings = frames, settings
        self._result: EncodedVideo | None = None
        self._thread = threading.Thread(target=self._run, name="video-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = encode_video(self.frames, self.settings)
        except Exception:  # noqa: BLE001 - the writer encodes again in the foreground and reports it there
            log.debug("early video encode failed; the writer encodes the frames itself", exc_info=True)

    def take(self, frames: np.ndarray, settings: VideoSettings) -> EncodedVideo | None:
        """The packets, when they are of exactly these frames and settings (else None: the job's result
        differs from what was encoded early, e.g. spliced afterwards); waits for the thread."""
        self._thread.join()
        result, self._result = self._result, None
        if result is None:
            return None
        if settings != self.settings or not (_same_buffer(frames, self.frames) or np.array_equal(frames, self.frames)):
            result.close()
            return None
        return result


class EarlyVideoEncode:
    """A job's `on_video` sink (`pipelines.types.VideoSink`) that starts the encode of its frames; pass
    `.thread` to `write_mp4(..., early=...)` / `write_result`. A second call (a job retried on a smaller
    memory plan decodes again) starts over with the new frames."""

    def __init__(self, settings: VideoSettings) -> None:
        self.settings = settings
        self.thread: VideoEncodeThread | None = None

    def __call__(self, frames: Any) -> None:
        self.thread = VideoEncodeThread(frames.cpu().numpy() if hasattr(frames, "cpu") else frames, self.settings)


def encode_overlap_pays(device_type: str, cpu_count: int, torch_threads: int) -> bool:
    """Whether encoding during the audio decode can gain: only if the decode leaves a core to the encoder.

    On an accelerator the audio decodes on the device and the CPU's cores are free. On the CPU, torch's
    intra-op threads take `torch_threads` cores; with none left (the default: one thread per core) the
    encoder's threads would compete with them, and torch's OpenMP workers wait on each other at every op
    when one of them loses its core: not a gain (on the 2-core bench machine no win could be measured,
    `benchmarks/mux_overlap.py`), so the encode then waits for the audio decode as before."""
    return device_type != "cpu" or cpu_count - torch_threads >= 1
