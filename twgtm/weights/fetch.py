"""Download registry entries from the Hugging Face hub (`python -m twgtm models fetch`): explicit, never at run time.

For each entry:
- its licence must have been accepted when it is non-commercial or restrictive (`accept=True`);
- with HF_HUB_OFFLINE set nothing is downloaded: the error names each file, its URL and the folder;
- a file already there with the published size and sha256 is kept; one that differs is fetched again;
- the repositories are asked in order (HEAD of every file: X-Repo-Commit, ETag / X-Linked-Etag, size); one
  that is gone, lacks a file, or refuses access (gated, HF_TOKEN missing or without access) is skipped for
  the next, and the error lists each repository with why;
- each file streams into `.<name>.<etag>.part` beside its destination, resuming what an earlier run left
  (an HTTP Range request; the hub client also resumes a connection cut in the middle), then is checked:
  size, sha256 (the registry's, else the one the hub reports for an LFS file), and for `.safetensors` a
  header that parses; a mismatch deletes the file and says so; only then is it renamed into place
  (atomic: a reader never sees a partial file);
- a published pickle (`.bin`, `.ckpt`, ...) is refused, or with `convert=True` read with
  `torch.load(weights_only=True)` (tensors only, no code is unpickled) and written as `.safetensors`.

HF_ENDPOINT (a mirror) and HF_TOKEN are read when a fetch starts. Progress goes to the hub client's bars and
the "twgtm" logger; the CLI prints the results.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import CheckpointError, ConfigError
from .file_kind import safetensors_problem
from .model_files import file_status, partial_files, sha256_of
from .registry import ModelEntry, ModelFile

log = logging.getLogger("twgtm")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TRUE = {"1", "on", "yes", "true"}


class FetchError(CheckpointError):
    """A model file could not be downloaded, or what came down was not the published file."""


@dataclass(frozen=True)
class Fetched:
    """One file of a fetch: where it is and what happened ('kept', 'downloaded', 'converted')."""

    entry: str
    path: Path
    action: str
    repo: str | None = None


def hub_endpoint() -> str:
    """The hub or mirror to download from: HF_ENDPOINT as set now, else the client's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    """Whether downloads are off (HF_HUB_OFFLINE as set now, or as the hub client read it at import)."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE or constants.is_offline_mode()


def _token() -> str | None:
    """HF_TOKEN as set now (None: the hub client's own look-up, a token saved by `huggingface-cli login`)."""
    return os.environ.get("HF_TOKEN") or None


def _has_token() -> bool:
    from huggingface_hub import get_token

    return _token() is not None or get_token() is not None


def check_licences(entries: list[ModelEntry], accepted: bool) -> None:
    """A ConfigError naming each licence that must be accepted, unless `accepted`."""
    needed = [e for e in entries if e.accept]
    if needed and not accepted:
        lines = "\n".join(f"  - {e.name}: {e.licence} ({e.licence_url})" for e in needed)
        raise ConfigError(f"these files come under licences you must accept before downloading:\n{lines}\n"
                          "Read them; if you accept, run the same command with --accept-licence")


def _offline_error(entry: ModelEntry, todo: list[tuple[ModelFile, Path]], revision: str) -> FetchError:
    endpoint = hub_endpoint()
    lines = [f"  - {f.path}: from {entry.url(f, revision=revision, endpoint=endpoint)} into {p.parent}{os.sep}"
             for f, p in todo]
    return FetchError(f"HF_HUB_OFFLINE is set: {entry.name} is not downloaded. Put its files there by hand:\n"
                      + "\n".join(lines) + "\nor unset HF_HUB_OFFLINE and run the fetch again")


def _hub_errors():
    from huggingface_hub import errors

    return errors


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The hub client's connection-level exception classes (its HTTP library's), plus OSError."""
    found: list[type[BaseException]] = [OSError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "RequestException")):
        try:
            found.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _why(err: Exception, entry: ModelEntry) -> str:
    """A short reason a repository could not serve a file."""
    errors = _hub_errors()
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, errors.GatedRepoError) or (status == 403 and not isinstance(err, errors.EntryNotFoundError)):
        if not _has_token():
            return (f"access refused (HTTP {status}): the repository is gated; accept its terms on its page and set "
                    "HF_TOKEN to a token of that account")
        return f"access refused (HTTP {status}) for your token (HF_TOKEN): accept the repository's terms on its page"
    if isinstance(err, errors.RevisionNotFoundError):
        return "no such revision"
    if isinstance(err, errors.EntryNotFoundError):
        return "file not found (HTTP 404)"
    if isinstance(err, errors.RepositoryNotFoundError) or status == 401:
        hint = "; it is gated: set HF_TOKEN" if entry.gated and not _has_token() else ""
        return f"repository not found (HTTP {status}: deleted, renamed or private){hint}"
    return f"HTTP {status}: {str(err).splitlines()[0][:200]}"


def _metadata(entry: ModelEntry, files: list[ModelFile], revision: str, endpoint: str):
    """(repo, {file path: hub metadata}) of the first repository that serves every file; FetchError otherwise."""
    from huggingface_hub import get_hf_file_metadata

    errors = _hub_errors()
    reasons = []
    for repo in entry.repos:
        try:
            found = {f.path: get_hf_file_metadata(entry.url(f, repo, revision, endpoint), token=_token()) for f in files}
        except errors.HfHubHTTPError as err:
            reasons.append(f"  - {repo}: {_why(err, entry)}")
            if len(entry.repos) > 1:
                log.warning("%s: %s cannot serve it (%s); trying the next repository", entry.name, repo,
                            reasons[-1].split(": ", 1)[1])
            continue
        except _transport_errors() as err:
            raise FetchError(f"cannot reach {endpoint} ({err}); check the connection, or set HF_ENDPOINT to a "
                             "mirror of the hub") from err
        return repo, found
    page = f"{endpoint}/{entry.repos[0]}"
    raise FetchError(f"{entry.name}: no repository serves {', '.join(f.path for f in files)} at revision "
                     f"{revision} from {endpoint}:\n" + "\n".join(reasons)
                     + f"\n(the first repository's page: {page})")


def _expected_sha(file: ModelFile, meta) -> tuple[str | None, str]:
    """The sha256 the download must have and who says so (the registry, or the hub for an LFS file)."""
    if file.sha256 is not None:
        return file.sha256, "the published sha256"
    etag = (meta.etag or "").lower()
    return (etag, "the sha256 the hub reports") if SHA256.match(etag) else (None, "")


def _headers(location: str, endpoint: str) -> dict:
    """The hub client's request headers; the token only for the hub itself, never for a CDN it redirects to."""
    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=_token())
    if urlparse(location).netloc != urlparse(endpoint).netloc:
        headers.pop("authorization", None)
    return headers


def _download_one(entry: ModelEntry, file: ModelFile, path: Path, repo: str, meta, endpoint: str, *,
                  convert: bool) -> Fetched:
    """Stream one file into its .part beside `path` (resuming), check it, rename it into place."""
    from huggingface_hub.file_download import http_get

    size = file.size if file.size is not None else meta.size
    if file.size is not None and meta.size is not None and meta.size != file.size:
        raise FetchError(f"{repo} serves {file.path} with {meta.size} bytes, but the published file has {file.size}: "
                         "not downloaded (the repository or mirror holds another file)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = re.sub(r"[^0-9A-Za-z]", "", meta.etag or "")[:16] or "noetag"
    part = path.with_name(f".{Path(file.path).name}.{tag}.part")
    for stale in partial_files(path.with_name(Path(file.path).name)):
        if stale != part:
            stale.unlink()  # left by a download of another version
    resume = part.stat().st_size if part.is_file() else 0
    if size is not None and resume > size:
        part.unlink()
        resume = 0
    if resume:
        log.info("%s: resuming %s at byte %d", entry.name, file.path, resume)
    with open(part, "ab") as handle:
        try:
            http_get(meta.location, handle, resume_size=resume, headers=_headers(meta.location, endpoint),
                     expected_size=size, displayed_filename=Path(file.path).name)
        except _transport_errors() as err:
            raise FetchError(f"the download of {file.path} from {repo} broke off ({err}); {part.stat().st_size} bytes "
                             f"are kept in {part}: run the same fetch again to resume") from err
    expected, who = _expected_sha(file, meta)
    if expected is not None:
        digest = sha256_of(part)
        if digest != expected:
            part.unlink()
            raise FetchError(f"checksum mismatch: {file.path} from {repo} has sha256 {digest}, but {who} is "
                             f"{expected}; the file was deleted. Run the fetch again; if it repeats, the repository "
                             "or mirror serves another file")
    if file.pickle:
        return _convert(entry, file, path, part, repo, convert)
    if path.suffix == ".safetensors":
        problem = safetensors_problem(part)
        if problem:
            part.unlink()
            raise FetchError(f"{file.path} from {repo} is not a safetensors file ({problem}); it was deleted")
    os.replace(part, path)
    return Fetched(entry.name, path, "downloaded", repo)


def _convert(entry: ModelEntry, file: ModelFile, path: Path, part: Path, repo: str, convert: bool) -> Fetched:
    """A downloaded pickle: converted to safetensors with weights_only loading (convert=True), else refused."""
    if not convert:
        part.unlink()
        raise FetchError(f"{repo} publishes {file.path} only as a pickle, which this pack never loads. Run the fetch "
                         f"with --convert to turn it into {path.name} (read with torch.load(weights_only=True): "
                         "tensors only, no code)")
    from ..metrics.convert import convert_to_safetensors

    staged = path.with_name(f".{path.name}.converting")
    try:
        convert_to_safetensors(part, staged)
        os.replace(staged, path)
    finally:
        part.unlink(missing_ok=True)
        staged.unlink(missing_ok=True)
    return Fetched(entry.name, path, "converted", repo)


def fetch_entry(entry: ModelEntry, root: Path, *, revision: str | None = None, accept_licence: bool = False,
                convert: bool = False) -> list[Fetched]:
    """Make every file of `entry` present below `root`, downloading what is missing or wrong."""
    if not entry.on_hub:
        raise FetchError(f"{entry.name} ({entry.title}) is not on the Hugging Face hub: {entry.how}")
    check_licences([entry], accept_licence)
    revision = revision or entry.revision
    done, todo = [], []
    for file, path in entry.targets(root):
        status = file_status(file, path)
        if status.present:
            done.append(Fetched(entry.name, path, "kept"))
        else:
            if status.state == "wrong":
                log.warning("%s: %s is not the published file (%s): downloading it again", entry.name, path,
                            status.detail)
            todo.append((file, path))
    if not todo:
        return done
    if offline():
        raise _offline_error(entry, todo, revision)
    endpoint = hub_endpoint()
    repo, metadata = _metadata(entry, [f for f, _ in todo], revision, endpoint)
    for file, path in todo:
        done.append(_download_one(entry, file, path, repo, metadata[file.path], endpoint, convert=convert))
    return done
