"""Loudness normalisation with FFmpeg's own `loudnorm` filter (EBU R128 / BS.1770), run through PyAV.

Why two passes: one-pass loudnorm is a dynamic processor (it rides the gain through the clip and changes
its dynamics). With the first pass's measurement the second pass can apply one constant gain (linear
mode), which keeps the sound as generated; loudnorm itself falls back to its dynamic limiter only when a
constant gain would push the true peak over the ceiling. We never implement BS.1770 ourselves.

loudnorm reports its measurement only through FFmpeg's log (as JSON when the filter is torn down), so
`measure` captures the log while its graph is freed. FFmpeg's log settings are process-global: a lock keeps
two measurements from reading each other's report, and the previous level is restored afterwards.
loudnorm works at 192 kHz internally; an `aresample` after it brings the sound back to `out_rate`.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from model_runtime.errors import MediaError
from model_runtime.media.loudness_target import LoudnessTarget

log = logging.getLogger(__name__)

_LOG_LOCK = threading.Lock()
_CHUNK = 4096
_DYNAMIC_WINDOW_S = 3.0  # loudnorm's dynamic mode analyses 3 s windows
SILENCE_LUFS = -70.0  # BS.1770's absolute gate: anything quieter is treated as silence, not normalised


@dataclass(frozen=True)
class LoudnessMeasurement:
    """loudnorm's first-pass report (input_* values) for one clip."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra: float
    threshold: float
    target_offset: float

    @property
    def silent(self) -> bool:
        return not math.isfinite(self.integrated_lufs) or self.integrated_lufs <= SILENCE_LUFS


def _frames(audio: np.ndarray, rate: int) -> Iterator:
    import av

    for start in range(0, audio.shape[1], _CHUNK):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[:, start:start + _CHUNK]),
                                           format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield frame


def _drain(graph, out: list[np.ndarray]) -> None:
    import av

    while True:
        try:
            out.append(graph.pull().to_ndarray())
        except (av.BlockingIOError, av.EOFError):
            return


def link_chain(graph, source, filters, sink: str) -> None:
    """Link `source` -> each (name, args) filter in order -> a `sink` node, then configure the graph."""
    node = source
    for name, args in filters:
        nxt = graph.add(name, args)
        node.link_to(nxt)
        node = nxt
    node.link_to(graph.add(sink))
    graph.configure()


def run_audio_filters(audio: np.ndarray, rate: int, filters: list[tuple[str, str]],
                      out_rate: int | None = None) -> np.ndarray:
    """Run float32 stereo [2, N] through an FFmpeg filter chain; returns float32 stereo [2, M] at out_rate."""
    import av.filter

    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] != 2:
        raise MediaError(f"audio must be stereo [2, samples], got shape {tuple(audio.shape)}")
    graph = av.filter.Graph()
    node = graph.add_abuffer(format="fltp", sample_rate=rate, layout="stereo", time_base=Fraction(1, rate))
    chain = [*filters, ("aresample", str(out_rate or rate)),
             ("aformat", "sample_fmts=fltp:channel_layouts=stereo")]
    link_chain(graph, node, chain, "abuffersink")
    out: list[np.ndarray] = []
    for frame in _frames(audio, rate):
        graph.push(frame)
        _drain(graph, out)
    graph.push(None)
    _drain(graph, out)
    if not out:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(out, axis=1).astype(np.float32, copy=False)


def _parse_report(messages: list[tuple[int, str, str]]) -> LoudnessMeasurement:
    for _level, name, text in reversed(messages):
        if name == "loudnorm" and "input_i" in text:
            data = json.loads(text[text.index("{"):text.rindex("}") + 1])
            return LoudnessMeasurement(float(data["input_i"]), float(data["input_tp"]), float(data["input_lra"]),
                                       float(data["input_thresh"]), float(data["target_offset"]))
    raise MediaError("cannot measure the loudness: FFmpeg's loudnorm filter gave no report")


def measure(audio: np.ndarray, rate: int, target: LoudnessTarget = LoudnessTarget()) -> LoudnessMeasurement:
    """First pass: loudnorm measures the clip (integrated loudness, true peak, range, gate threshold)."""
    import av.logging

    with _LOG_LOCK:
        previous, skipping = av.logging.get_level(), av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.INFO)
        av.logging.set_skip_repeated(False)  # the same clip measured twice gives the same report
        try:
            with av.logging.Capture() as messages:
                run_audio_filters(audio, rate, [("loudnorm", f"{target.loudnorm_args()}:print_format=json")])
                gc.collect()  # loudnorm prints its report when the graph is freed
        finally:
            av.logging.set_level(previous)
            av.logging.set_skip_repeated(skipping)
    result = _parse_report(list(messages))
    log.info("loudness: %.2f LUFS, true peak %.2f dBTP, LRA %.2f LU", result.integrated_lufs,
             result.true_peak_dbtp, result.lra)
    return result


def _second_pass(target: LoudnessTarget, measured: LoudnessMeasurement, linear: bool) -> str:
    return (f"{target.loudnorm_args()}:measured_I={measured.integrated_lufs}:"
            f"measured_TP={measured.true_peak_dbtp}:measured_LRA={measured.lra}:"
            f"measured_thresh={measured.threshold}:offset={measured.target_offset}:"
            f"linear={'true' if linear else 'false'}")


def _limited(audio: np.ndarray, rate: int, target: LoudnessTarget, measured: LoudnessMeasurement,
             out_rate: int) -> np.ndarray:
    """loudnorm's dynamic mode (gain riding + true-peak limiter).

    It needs a 3 s look-ahead window and silently degrades to a peak-bound constant gain on shorter
    input, so a short clip is looped past the window (and measured again as looped, since the
    first pass's target offset depends on the length), processed, and its last loop kept.
    """
    samples = audio.shape[1]
    repeats = 1 if samples >= _DYNAMIC_WINDOW_S * rate else math.ceil(_DYNAMIC_WINDOW_S * rate / samples) + 1
    if repeats > 1:
        audio = np.tile(audio, (1, repeats))
        measured = measure(audio, rate, target)
    out = run_audio_filters(audio, rate, [("loudnorm", _second_pass(target, measured, False))], out_rate)
    n = round(samples * out_rate / rate)
    start = max(0, min(round((repeats - 1) * samples * out_rate / rate), out.shape[1] - n))
    return np.ascontiguousarray(out[:, start:start + n])  # the last loop: the limiter has settled by then


def normalize(audio: np.ndarray, rate: int, target: LoudnessTarget = LoudnessTarget(),
              out_rate: int = 48_000, measured: LoudnessMeasurement | None = None) -> np.ndarray:
    """Second pass: constant gain to `target` (loudnorm linear mode), resampled to `out_rate`.

    Silence (below the -70 LUFS gate) is only resampled: there is no loudness to scale. When a
    constant gain would lift the true peak over the ceiling, loudnorm's limiter is used instead
    (its linear mode would quietly stop short of the target loudness).
    """
    measured = measured or measure(audio, rate, target)
    if measured.silent:
        log.info("loudness: the clip is silent; not normalised")
        return run_audio_filters(audio, rate, [], out_rate)
    gain = target.integrated_lufs - measured.integrated_lufs
    if measured.true_peak_dbtp + gain > target.true_peak_dbtp:
        log.info("loudness: a constant gain of %.1f dB would clip; using loudnorm's limiter", gain)
        return _limited(audio, rate, target, measured, out_rate)
    return run_audio_filters(audio, rate, [("loudnorm", _second_pass(target, measured, True))], out_rate)
