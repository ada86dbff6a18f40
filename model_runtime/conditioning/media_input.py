"""Reading conditioning media: a source clip's frames and sound, a soundtrack, and the log-mel the audio VAE
encodes. Each follows ltx-pipelines 1.0.0 so the encoded latents match the reference:

* frames: PyAV decode, `frame.to_rgb()` (H.264 yuv420p -> rgb24), at most `frame_cap` frames;
* audio: PyAV decode to float in [-1, 1] (ints divided by 2^(bits-1)), channels first, the frames that
  overlap [start, start + duration) then trimmed to exactly that window in samples;
* log-mel (`AudioProcessor.waveform_to_mel`): resample to the VAE's rate with a Hann-windowed sinc
  (torchaudio's default: 6 zero crossings, rolloff 0.99), magnitude STFT (Hann, centre, reflect),
  Slaney mel filterbank with Slaney norm, log(clamp(., 1e-5)) -> `[B, channels, T, mels]`.
  Written out in torch here (torchaudio is not a dependency); checked against the goldens' mel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_runtime.errors import InvalidRequestError

_INT_SCALE = {"u8": 128.0, "u8p": 128.0, "s16": 32768.0, "s16p": 32768.0, "s32": 2147483648.0, "s32p": 2147483648.0}


@dataclass(frozen=True)
class Waveform:
    samples: torch.Tensor  # float32 [1, channels, N]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise InvalidRequestError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except Exception as exc:  # PyAV raises several error classes for unreadable input
        raise InvalidRequestError(f"{path}: not a readable media file ({exc.__class__.__name__})") from exc


def read_frames(path: str | Path, frame_cap: int) -> torch.Tensor:
    """uint8 `[F, H, W, 3]`, the first `frame_cap` frames (PyAV `to_rgb`, as the reference reads them)."""
    out = []
    with _open(path) as container:
        stream = next(s for s in container.streams if s.type == "video")
        for frame in container.decode(stream):
            out.append(torch.from_numpy(frame.to_rgb().to_ndarray()))
            if len(out) == frame_cap:
                break
    if not out:
        raise InvalidRequestError(f"{path}: no video frames could be decoded")
    return torch.stack(out)


def _frame_to_float(frame) -> np.ndarray:
    name = frame.format.name
    array = frame.to_ndarray().astype(np.float32)
    if name in _INT_SCALE:
        array = array / _INT_SCALE[name]
    if not frame.format.is_planar:
        array = array.reshape(-1, len(frame.layout.channels)).T
    return array


def read_sound(path: str | Path, start: float = 0.0, duration: float | None = None) -> Waveform | None:
    """The sound of `path` from `start` for `duration` s (to the end when None); None when it has none."""
    with _open(path) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            return None
        rate = stream.rate
        end = start + duration if duration else float(stream.duration * stream.time_base)
        container.seek(int(start / stream.time_base), stream=stream)
        chunks, first = [], None
        for frame in container.decode(audio=0):
            if frame.pts is None:
                continue
            t = float(frame.pts * stream.time_base)
            if t + frame.samples / frame.sample_rate < start:
                continue
            if t > end:
                break
            first = t if first is None else first
            chunks.append(_frame_to_float(frame))
    if not chunks:
        return None
    audio = np.concatenate(chunks, axis=-1)
    skip = round((start - first) * rate)
    if skip > 0:
        audio = audio[..., skip:]
    if duration is not None:
        audio = audio[..., :round(duration * rate)]
    return Waveform(torch.from_numpy(np.ascontiguousarray(audio)).unsqueeze(0), int(rate))


def read_soundtrack(path: str | Path, start: float, seconds: float) -> Waveform:
    """A soundtrack for a clip of `seconds`: refused (clear message) when unreadable, silent-less or short."""
    wave = read_sound(path, start, seconds)
    if wave is None:
        raise InvalidRequestError(f"{Path(path).name}: has no audio stream (give a WAV, FLAC, MP3, M4A, ... file)")
    if wave.samples.shape[-1] + 1 < round(seconds * wave.sample_rate):
        raise InvalidRequestError(f"{Path(path).name}: too short: {wave.seconds + start:.2f} s of sound, the clip "
                                  f"needs {seconds:.2f} s from {start:g} s")
    return wave


# --- waveform -> log-mel ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MelParams:
    """The audio VAE's input spectrogram, from the checkpoint config's `audio_vae.preprocessing`."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    mels: int = 64

    @classmethod
    def from_config(cls, config: dict) -> MelParams:
        pre = config.get("audio_vae", {}).get("preprocessing", {})
        return cls(int(pre.get("audio", {}).get("sampling_rate", cls.sample_rate)),
                   int(pre.get("stft", {}).get("filter_length", cls.n_fft)),
                   int(pre.get("stft", {}).get("hop_length", cls.hop_length)),
                   int(pre.get("mel", {}).get("n_mel_channels", cls.mels)))


def resample(waveform: torch.Tensor, orig: int, new: int, zero_crossings: int = 6, rolloff: float = 0.99) -> torch.Tensor:
    """Band-limited resampling with a Hann-windowed sinc kernel (torchaudio's `sinc_interp_hann`)."""
    if orig == new:
        return waveform
    gcd = math.gcd(int(orig), int(new))
    o, n = int(orig) // gcd, int(new) // gcd
    base = min(o, n) * rolloff
    width = math.ceil(zero_crossings * o / base)
    dtype = waveform.dtype
    idx = torch.arange(-width, width + o, dtype=dtype)[None, None] / o
    t = torch.arange(0, -n, -1, dtype=dtype)[:, None, None] / n + idx
    t *= base
    t = t.clamp_(-zero_crossings, zero_crossings)
    window = torch.cos(t * math.pi / zero_crossings / 2) ** 2
    t *= math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernel *= window * (base / o)
    shape = waveform.shape
    x = waveform.reshape(-1, shape[-1])
    length = x.shape[-1]
    x = torch.nn.functional.pad(x, (width, width + o))
    y = torch.nn.functional.conv1d(x[:, None], kernel.to(waveform.device), stride=o)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[..., :math.ceil(n * length / o)]
    return y.reshape(*shape[:-1], y.shape[-1])


def _hz_to_mel(freq: float) -> float:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    if freq < min_log_hz:
        return freq / f_sp
    return min_log_hz / f_sp + math.log(freq / min_log_hz) / (math.log(6.4) / 27.0)


def _mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    freqs = f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * torch.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def slaney_mel_filterbank(n_freqs: int, sample_rate: int, mels: int) -> torch.Tensor:
    """`[n_freqs, mels]` triangular filters on the Slaney mel scale, Slaney-normalised (0 .. rate/2)."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), mels + 2)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down, up))
    return fb * (2.0 / (f_pts[2:mels + 2] - f_pts[:mels])).unsqueeze(0)


def waveform_to_mel(wave: Waveform, params: MelParams) -> torch.Tensor:
    """`[B, channels, N]` at any rate -> log-mel `[B, channels, T, mels]` (float32)."""
    x = resample(wave.samples.float(), wave.sample_rate, params.sample_rate)
    shape = x.shape
    spec = torch.stft(x.reshape(-1, shape[-1]), n_fft=params.n_fft, hop_length=params.hop_length,
                      win_length=params.n_fft, window=torch.hann_window(params.n_fft, device=x.device),
                      center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = spec.abs().reshape(*shape[:-1], *spec.shape[-2:])  # [B, ch, freq, T]
    fb = slaney_mel_filterbank(params.n_fft // 2 + 1, params.sample_rate, params.mels).to(x.device)
    mel = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)
    return torch.log(torch.clamp(mel, min=1e-5)).permute(0, 1, 3, 2).contiguous()


def fit_audio_frames(latent: torch.Tensor, frames: int) -> torch.Tensor:
    """Trim or zero-pad an audio latent `[B, C, T, M]` to `frames` latent frames (retake's rule)."""
    have = latent.shape[2]
    if have >= frames:
        return latent[:, :, :frames]
    pad = latent.new_zeros(latent.shape[0], latent.shape[1], frames - have, latent.shape[3])
    return torch.cat([latent, pad], dim=2)
