"""What a catalogue item is on the hub right now: its files, pinned to one commit, with sizes and checksums.

Asked through huggingface_hub (HEAD on the resolve URL for a file, the tree API for a folder), so the
same code talks to huggingface.co, a mirror, or a local hub-compatible server (`HF_ENDPOINT`). Access
errors become one actionable sentence: which page to accept the licence on, and how to sign in.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from model_runtime.hub.catalogue import CatalogueItem
from model_runtime.hub.errors import AccessError, DownloadError

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteFile:
    path: str  # in the repository
    size: int
    sha256: str  # the LFS oid (sha256 of the content); "" for small git files
    git_sha1: str  # the git blob id, for small non-LFS files
    url: str  # resolve URL pinned to `commit`


@dataclass(frozen=True)
class RemoteItem:
    item: CatalogueItem
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def access_message(item: CatalogueItem, signed_in: bool) -> str:
    page = item.licence_url
    if signed_in:
        return (f"{item.repo} refused your token: accept the licence at {page} with the account the token "
                "belongs to (approval can take a moment), then try again")
    return (f"{item.repo} is gated: accept the licence at {page}, then sign in (`hf auth login` in a terminal, "
            "or paste a token in Settings → Models)")


def _translate(exc: Exception, item: CatalogueItem, token: str | None) -> DownloadError:
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, GatedRepoError) or status in (401, 403) or (
            isinstance(exc, RepositoryNotFoundError) and item.gated):
        return AccessError(access_message(item, bool(token)))
    if isinstance(exc, HfHubHTTPError):
        return DownloadError(f"{item.repo}: the hub answered {status}: {str(exc).splitlines()[0]}")
    return DownloadError(f"cannot reach the hub for {item.repo}: {exc}; nothing was lost, try again")


def _check_catalogue(item: CatalogueItem, f: RemoteFile) -> None:
    """A pinned catalogue entry and the hub must agree; otherwise someone changed the file (or the entry)."""
    if item.sha256 and f.sha256 and item.sha256 != f.sha256:
        raise DownloadError(f"{item.id}: the hub's sha256 for {f.path} ({f.sha256[:12]}…) differs from the "
                            f"catalogue's ({item.sha256[:12]}…); refusing to download an unexpected file")
    if item.size_bytes and f.size != item.size_bytes:
        raise DownloadError(f"{item.id}: the hub says {f.path} has {f.size} bytes, the catalogue {item.size_bytes}")


def hub_endpoint() -> str:
    """HF_ENDPOINT as set now (huggingface_hub reads it once at import), else huggingface.co."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")


def resolve(item: CatalogueItem, token: str | None, endpoint: str | None = None) -> RemoteItem:
    """Ask the hub for the item's files (one HEAD per file item, one tree listing for a folder)."""
    import httpx2
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = endpoint or hub_endpoint()
    try:
        if item.is_folder:
            api = HfApi(endpoint=endpoint)
            commit = api.repo_info(item.repo, revision=item.revision, token=token).sha or item.revision
            files = []
            for entry in api.list_repo_tree(item.repo, revision=commit, token=token):
                if not hasattr(entry, "size") or not item.selects(entry.path):
                    continue
                lfs = getattr(entry, "lfs", None)
                files.append(RemoteFile(entry.path, entry.size, lfs.sha256 if lfs else "",
                                        "" if lfs else entry.blob_id, hf_hub_url(item.repo, entry.path, revision=commit,
                                                                   endpoint=endpoint)))
            if not files:
                raise DownloadError(f"{item.repo}@{commit[:12]} has no files matching {', '.join(item.allow)}")
            return RemoteItem(item, commit, tuple(sorted(files, key=lambda f: f.path)))
        path = item.files[0]
        meta = get_hf_file_metadata(hf_hub_url(item.repo, path, revision=item.revision, endpoint=endpoint),
                                    token=token, endpoint=endpoint)
        commit = meta.commit_hash or item.revision
        etag = (meta.etag or "").lower()
        sha = etag if _SHA256.match(etag) else item.sha256
        f = RemoteFile(path, meta.size or item.size_bytes, sha, "" if sha else etag,
                       hf_hub_url(item.repo, path, revision=commit, endpoint=endpoint))
        if not f.sha256 and not f.git_sha1:
            raise DownloadError(f"{item.repo}: the hub gave no checksum for {path}; refusing an unverifiable file")
        _check_catalogue(item, f)
        return RemoteItem(item, commit, (f,))
    except (HfHubHTTPError, httpx2.HTTPError, OSError) as exc:
        raise _translate(exc, item, token) from None
