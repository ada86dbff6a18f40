"""Request bounds are checked before anything loads: the model's envelope, the seed, finite numbers, text."""

from __future__ import annotations

import math

import pytest

from model_runtime.errors import InvalidRequestError
from tests.faults.conftest import generate_args


@pytest.mark.parametrize("over, match", [
    ({"width": 100000, "height": 100000}, r"width 100000 is above the model's limit of 3840 px: use 3840 or less"),
    ({"width": 3840, "height": 3840}, r"3840x3840 is more pixels than the model's limit .*: lower the width or height"),
    ({"fps": 0.001}, r"fps 0.001 is outside the model's range of 1-60 fps: use 24"),
    ({"fps": 1000}, r"fps 1000 is outside the model's range of 1-60 fps: use 24"),
    ({"fps": "nan"}, r"fps must be a positive number, got nan"),
    ({"fps": "inf"}, r"fps must be a positive number, got inf"),
    ({"fps": "-24"}, r"fps must be a positive number, got -24"),
    ({"seed": 2**64}, r"seed 18446744073709551616 must be a whole number from 0 to 18446744073709551615"),
    ({"seed": -1}, r"seed -1 must be a whole number from 0 to"),
    ({"frames": 100001}, r"100001 frames at 24 fps is 4166.71 s, above the model's limit of 20 s: use at most 473"),
    ({"frames": 10}, r"frames 10 must be 8k\+1 .* nearest: 9"),
    ({"width": 100}, r"width 100 must be a positive multiple of 32 px for a draft \(nearest: 96\)"),
    ({"prompt": "a fox \udcff in snow"}, r"the prompt is not valid UTF-8 text .*: retype it or save the file it came"),
    ({"prompt": "a fox\x00"}, r"the prompt contains a NUL character: remove it"),
    ({"prompt": "x" * 20_001}, r"the prompt is 20001 characters; the limit is 20000"),
    ({"prompt": "   "}, r"the prompt is empty: describe the video"),
    ({"negative_prompt": "\udcfe", "pipeline": "dev"}, r"the negative prompt is not valid UTF-8 text"),
    ({"crf": 99}, r"--crf must be between 0 and 51, got 99"),
], ids=["huge-size", "too-many-pixels", "fps-tiny", "fps-1000", "fps-nan", "fps-inf", "fps-neg", "seed-2^64",
        "seed-neg", "frames-huge", "frames-grid", "width-grid", "prompt-non-utf8", "prompt-nul", "prompt-huge",
        "prompt-blank", "negative-non-utf8", "crf"])
def test_generate_refuses_before_loading(cli_fault, tmp_path, over, match):
    cli_fault(generate_args(tmp_path, **over), match)


def _request(**kw):
    from model_runtime.pipelines.types import GenerationRequest

    base = dict(prompt="a fox", width=64, height=64, frames=9, fps=24.0)
    return GenerationRequest(**(base | kw))


@pytest.mark.parametrize("kw, match", [
    ({"steps": 10**9, "pipeline": "dev"}, r"steps must be a whole number from 1 to 200"),
    ({"seed": 1.5}, r"seed 1.5 must be a whole number"),
    ({"seed": True}, r"seed True must be a whole number"),
    ({"width": True}, r"width True must be a positive multiple of 32"),
    ({"frames": math.inf}, r"frames inf must be 8k\+1"),
    ({"width": math.nan}, r"width nan must be a positive multiple of 32 px for a draft$"),
], ids=["steps-huge", "seed-float", "seed-bool", "width-bool", "frames-inf", "width-nan"])
def test_request_types_and_ranges(fault, kw, match):
    fault(lambda: _request(**kw), match, InvalidRequestError)


@pytest.mark.parametrize("field", ["cfg", "stg", "modality", "rescale"])
def test_guidance_must_be_finite(fault, field):
    from model_runtime.sampling.guidance import GuidanceParams

    params = GuidanceParams(**{field: math.nan})
    fault(lambda: _request(pipeline="dev", video_guidance=params),
          rf"video guidance {field} must be a finite number, got nan", InvalidRequestError)


def test_checkpoint_envelope_narrows_the_duration(fault):
    """A checkpoint whose temporal RoPE range is 5 s refuses a 9 s clip, naming its own limit."""
    from model_runtime.pipelines.envelope import ModelEnvelope, check_within

    envelope = ModelEnvelope.for_config({"transformer": {"positional_embedding_max_pos": [5, 2048, 2048]}})
    assert envelope.max_duration_s == 5
    fault(lambda: check_within(envelope, _request(frames=217)),
          r"217 frames at 24 fps is 9.04 s, above the model's limit of 5 s: use at most 113 frames", InvalidRequestError)


def test_unexpected_error_is_one_line_not_a_traceback(cli_fault, monkeypatch):
    """The CLI's last line of defence: an error nobody foresaw still prints one line and where to look."""
    import model_runtime.cli.export as export_cli

    def broken(args):
        raise ValueError("a bug we did not foresee\nsecond line")

    monkeypatch.setattr(export_cli, "_presets", broken)
    cli_fault(["presets"], r"^error: unexpected ValueError: a bug we did not foresee \(run again with -v for "
                           r"details, and please report it\)$", rc=1)


def test_out_of_memory_is_one_line(cli_fault, monkeypatch):
    import model_runtime.cli.export as export_cli

    def greedy(args):
        raise MemoryError()

    monkeypatch.setattr(export_cli, "_presets", greedy)
    cli_fault(["presets"], r"^error: out of memory: ask for a smaller size or fewer frames, or close other programs$")
