"""Download and model-folder errors: each message says what happened and what the user can do next."""

from __future__ import annotations

from model_runtime.errors import RuntimeErrorBase


class DownloadError(RuntimeErrorBase):
    """A download could not finish (network, server); bytes already on disk are kept for a resume."""


class AccessError(DownloadError):
    """The repository is gated or private and this user may not read it yet (licence, sign-in)."""


class DiskSpaceError(DownloadError):
    """Not enough free space in the models folder (checked before starting, and on ENOSPC while writing)."""


class FolderNotWritableError(DownloadError):
    """The models folder is read-only or not ours to write."""


class VerificationError(DownloadError):
    """A downloaded or adopted file's checksum differs from the hub's: it was quarantined, never used."""


class DownloadPaused(DownloadError):  # noqa: N818 - reads as the event it reports
    """Raised inside a transfer when the user paused it; the partial file stays for a resume."""


class DownloadCancelled(DownloadError):  # noqa: N818
    """Raised inside a transfer when the user cancelled it; the partial file is deleted."""


class TokenStoreError(RuntimeErrorBase):
    """A token could not be stored (no OS keyring on this machine)."""
