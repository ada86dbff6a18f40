"""Conditioning: what directs a clip besides its prompt (images at frames, a clip to retake or extend, a
soundtrack), as typed data, and the latent-state mechanisms that apply it.

* `items`: the request-side data (`ImageKeyframe`, `Retake`, `Extend`, `AudioTrack`, `Conditioning`);
  validated against the clip's length before any job exists.
* `image`: the reference's image preprocessing (H.264 re-encode of the still, fill/fit to the format).
* `media_input`: decoding a source clip's frames and audio, waveform -> log-mel as the audio VAE expects.
* `state`: token-layout latent states with a denoise mask, clean latent and positions; first-frame
  replacement (latent index), appended keyframe guide tokens, a time-span mask, the masked noiser.
"""
