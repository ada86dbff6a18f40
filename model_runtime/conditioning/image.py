"""Conditioning-image preprocessing, as the reference does it (ltx-pipelines 1.0.0 `load_image_conditioning`).

1. decode (PIL, first three channels), 2. the H.264 round trip: the model was trained on video frames,
   so a crisp still is given the compression look of one: crop to even size from the top-left, encode as
   ONE libx264 frame (crf, preset veryfast, yuv420p) with PyAV and decode back to rgb24 (crf 0 skips it),
3. "fill": scale to cover the target (scale = max(H/h, W/w), size = ceil), bilinear without antialias,
   centre crop; "fit": scale to fit inside and pad with black (never stretched),
4. x / 127.5 - 1 -> `[1, 3, 1, H, W]` float32.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from model_runtime.conditioning.items import Fit
from model_runtime.errors import InvalidRequestError


def read_image(path: str | Path) -> np.ndarray:
    """uint8 RGB `[H, W, 3]`; a clear error for a missing or unreadable file."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidRequestError(f"image {path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            array = np.array(im.convert("RGBA") if im.mode in ("P", "LA", "PA") else im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidRequestError(f"image {path}: not a readable image ({exc.__class__.__name__})") from exc
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.dtype != np.uint8:
        raise InvalidRequestError(f"image {path}: {array.dtype} pixels; use an 8-bit image")
    return np.ascontiguousarray(array[..., :3])


def h264_roundtrip(image: np.ndarray, crf: int) -> np.ndarray:
    """The reference's `media_io.preprocess`: one frame through libx264 at `crf` and back (even size)."""
    if crf == 0:
        return image
    import av

    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    if height == 0 or width == 0:
        raise InvalidRequestError(f"image of {image.shape[1]}x{image.shape[0]} px is too small")
    image = np.ascontiguousarray(image[:height, :width])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1, options={"crf": str(crf), "preset": "veryfast"})
        stream.height, stream.width = height, width
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with av.open(io.BytesIO(buffer.getvalue())) as container:
        stream = next(s for s in container.streams if s.type == "video")
        decoded = next(container.decode(stream))
        return decoded.to_ndarray(format="rgb24")


def fit_to_format(pixels: torch.Tensor, height: int, width: int, fit: Fit = "fill") -> torch.Tensor:
    """`[F, h, w, 3]` (or `[h, w, 3]`) float pixels -> `[1, 3, F, height, width]`.

    "fill" is the reference's `resize_and_center_crop`; "fit" letterboxes with black (pixel value 0).
    """
    x = pixels.unsqueeze(0) if pixels.ndim == 3 else pixels
    x = x.permute(0, 3, 1, 2)  # [F, 3, h, w]
    src_h, src_w = x.shape[-2:]
    if fit == "fill":
        scale = max(height / src_h, width / src_w)
        new_h, new_w = math.ceil(src_h * scale), math.ceil(src_w * scale)
        x = torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        top, left = (new_h - height) // 2, (new_w - width) // 2
        x = x[:, :, top:top + height, left:left + width]
    else:
        scale = min(height / src_h, width / src_w)
        new_h, new_w = min(height, max(1, round(src_h * scale))), min(width, max(1, round(src_w * scale)))
        x = torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)
        canvas = torch.zeros(x.shape[0], 3, height, width, dtype=x.dtype)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        canvas[:, :, top:top + new_h, left:left + new_w] = x
        x = canvas
    return x.permute(1, 0, 2, 3).unsqueeze(0).contiguous()


def to_model_range(pixels: torch.Tensor) -> torch.Tensor:
    """0..255 -> [-1, 1] as the reference normalises (x / 127.5 - 1)."""
    return pixels / 127.5 - 1.0


def image_pixels(image: np.ndarray, height: int, width: int, fit: Fit = "fill") -> torch.Tensor:
    """An (already re-encoded) uint8 image -> `[1, 3, 1, height, width]` model-range pixels."""
    return to_model_range(fit_to_format(torch.tensor(image, dtype=torch.float32), height, width, fit))


def load_conditioning_image(path: str | Path, height: int, width: int, crf: int, fit: Fit = "fill") -> torch.Tensor:
    """The whole preprocessing of one conditioning image at one stage's size."""
    return image_pixels(h264_roundtrip(read_image(path), crf), height, width, fit)
