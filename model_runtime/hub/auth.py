"""The Hugging Face token for gated repositories: the OS keyring first, then the user's `hf auth login`.

A token pasted into the app goes to the OS keyring (never into settings.json, which is plain text and
often synced or shared). Without a keyring backend the app says so and points at `hf auth login`, whose
token huggingface_hub already keeps in the user's HF home with owner-only permissions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from model_runtime.hub.errors import TokenStoreError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "ltx-studio"
KEYRING_USER = "huggingface-token"


@dataclass(frozen=True)
class TokenInfo:
    token: str | None
    source: str  # "keyring", "hf auth login / HF_TOKEN", or "none"

    @property
    def present(self) -> bool:
        return bool(self.token)


def _keyring_token() -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
    except (KeyringError, RuntimeError) as exc:  # locked or absent backend: fall through to hf login
        log.info("keyring unavailable: %s", exc)
        return None


def find_token() -> TokenInfo:
    """The token to send: one stored by the app in the keyring, else the one `hf auth login` saved."""
    token = _keyring_token()
    if token:
        return TokenInfo(token, "keyring")
    from huggingface_hub import get_token

    token = get_token()
    return TokenInfo(token, "hf auth login / HF_TOKEN") if token else TokenInfo(None, "none")


def store_token(token: str) -> None:
    """Keep a pasted token in the OS keyring; refuse (never fall back to a plain file) without one."""
    token = token.strip()
    if not token.startswith("hf_"):
        raise TokenStoreError("that does not look like a Hugging Face token (they start with 'hf_')")
    try:
        import keyring
        from keyring.errors import KeyringError, NoKeyringError
    except ImportError:
        raise TokenStoreError("the keyring package is missing: run `hf auth login` in a terminal instead") from None
    try:
        keyring.set_password(KEYRING_SERVICE, KEYRING_USER, token)
    except NoKeyringError:
        raise TokenStoreError("this system has no OS keyring: run `hf auth login` in a terminal instead "
                              "(LTX Studio reads the token from there)") from None
    except KeyringError as exc:
        raise TokenStoreError(f"the OS keyring refused the token: {exc}") from None


def forget_token() -> None:
    try:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError
    except ImportError:
        return
    try:
        keyring.delete_password(KEYRING_SERVICE, KEYRING_USER)
    except (PasswordDeleteError, KeyringError):
        pass
