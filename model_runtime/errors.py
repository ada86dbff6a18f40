"""Errors the runtime raises. Each carries a message a creator can act on (shown verbatim in the UI/CLI)."""

from __future__ import annotations


class RuntimeErrorBase(Exception):
    """Base of every error model_runtime raises on purpose."""


class CheckpointError(RuntimeErrorBase):
    """A model file is missing, unreadable, corrupt, of the wrong kind or version, or incomplete."""


class UnsupportedModelError(CheckpointError):
    """The file is a valid checkpoint of a model this runtime does not run (e.g. LTX-Video 0.9, LTX-2.5)."""


class MissingKeysError(CheckpointError):
    """A component's weights are not all in the file."""


class UnexpectedKeysError(CheckpointError):
    """Strict mode: the file has tensors no module of the component uses."""


class InvalidRequestError(RuntimeErrorBase):
    """A generation request cannot be run as asked (off-grid size, empty prompt, ...)."""


class GenerationCancelled(RuntimeErrorBase):  # noqa: N818 - the name reads as the event it reports
    """Raised from inside a generation when its CancelToken was cancelled; nothing runs after it."""


class MediaError(RuntimeErrorBase):
    """An output file cannot be written (unwritable folder, disk full, encoder failure) or read back."""


class LoraError(InvalidRequestError):
    """A LoRA cannot be used with this model: not safetensors, another model family, keys that match nothing,
    shapes or ranks that do not fit, a strength out of range, or a file that changed since it was chosen."""
