"""A verified copy of MovieLens on disk: the registry of official zips, download, safe extraction.

``fetch_movielens`` returns the folder of a verified copy of a MovieLens variant. When the files
are already there and their SHA-256 match, nothing touches the network. Otherwise the official zip
is downloaded (streaming, timeouts, bounded retries), checked against the published byte size and
SHA-256, extracted safely into a temporary sibling folder, checked again file by file where the
hashes are known, and only then moved into place. After any failure nothing partial is left and an
existing copy is untouched. Reading the files is :mod:`helpers.data`'s job.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import requests

from helpers.checks import check_bool, check_int, check_positive, check_real

#: Where the official zips live. A mirror (or a test server) can stand in via ``base_url``.
BASE_URL = "https://files.grouplens.org/datasets/movielens/"
#: Environment variable that overrides the default data folder (``<repository>/data``).
DATA_DIR_ENV = "MOVIELENS_DATA_DIR"
#: File, written next to the extracted files, recording their SHA-256 when the registry has none.
MANIFEST = ".sha256"

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Variant:
    """One published MovieLens zip: its file name, byte size, SHA-256, and the SHA-256 of the
    extracted files where known (relative path -> hex digest)."""

    name: str
    size: int
    sha256: str
    files: Mapping[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"


#: The official zips, with the byte size and SHA-256 GroupLens publishes.
REGISTRY: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant(
            "ml-latest-small",
            978202,
            "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            {
                "README.txt": "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
                "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
                "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
                "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
                "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
            },
        ),
        Variant(
            "ml-100k", 4924029, "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"
        ),
        Variant(
            "ml-1m", 5917549, "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
        ),
        Variant(
            "ml-20m", 198702078, "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"
        ),
        Variant(
            "ml-25m", 261978986, "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"
        ),
    ]
}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DownloadError(Exception):
    """Base class of every failure of :func:`fetch_movielens`."""

    #: Whether trying again might succeed (network trouble, 5xx, a body cut short).
    retryable = False


class UnknownVariantError(DownloadError, ValueError):
    """The variant is not in :data:`REGISTRY`."""

    def __init__(self, variant: str) -> None:
        known = ", ".join(sorted(REGISTRY))
        super().__init__(f"unknown MovieLens variant {variant!r}; known variants: {known}")


class HTTPStatusError(DownloadError):
    """The server answered with a status other than 200."""

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        self.url, self.status = url, status
        self.retryable = status >= 500 or status == 429
        super().__init__(f"HTTP {status} {reason}".rstrip() + f" for {url}")


class DownloadTimeoutError(DownloadError, TimeoutError):
    """The server did not connect or send data within the timeout."""

    retryable = True

    def __init__(self, url: str, timeout: float | tuple[float, float]) -> None:
        self.url = url
        super().__init__(f"timed out after {_seconds(timeout)} waiting for {url}")


class DownloadConnectionError(DownloadError, ConnectionError):
    """The connection failed or broke."""

    retryable = True

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(f"connection to {url} failed: {detail}")


class SizeError(DownloadError):
    """The download does not have the expected number of bytes."""

    def __init__(self, what: str, expected: int, actual: int, note: str = "") -> None:
        self.expected, self.actual = expected, actual
        extra = f" ({note})" if note else ""
        super().__init__(
            f"size mismatch for {what}: expected {expected} bytes, got {actual}{extra}"
        )


class IncompleteDownloadError(SizeError):
    """The server closed the connection before sending the whole body."""

    retryable = True


class ChecksumError(DownloadError):
    """A SHA-256 does not match the expected one."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"SHA-256 mismatch for {what}: expected {expected}, got {actual}")


class ArchiveError(DownloadError):
    """The zip cannot be used (not a zip, or a file the variant needs is missing)."""


class UnsafeArchiveError(ArchiveError):
    """A zip member would be written outside the target folder or is not a regular file."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        super().__init__(f"unsafe archive member {member!r}: {reason}")


def _seconds(timeout: float | tuple[float, float]) -> str:
    if isinstance(timeout, tuple):
        return f"{timeout[0]:g} s (connect) / {timeout[1]:g} s (read)"
    return f"{timeout:g} s"


# --------------------------------------------------------------------------------------------
# Hashing and verification
# --------------------------------------------------------------------------------------------

# Per-process cache of file digests, keyed by what changes when a file is rewritten.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 64 KiB chunks. Cached per process by (path, inode, size,
    modification time), so verifying an unchanged copy again is free."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _bad_files(folder: Path, expected: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(name, expected, actual) for each expected file that is missing (actual "missing") or
    differs."""
    bad = []
    for name, digest in sorted(expected.items()):
        path = folder / name
        actual = sha256_file(path) if path.is_file() else "missing"
        if actual != digest.lower():
            bad.append((name, digest, actual))
    return bad


def _read_manifest(folder: Path) -> dict[str, str] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and name:
            entries[name] = digest
    return entries or None


def is_verified(folder: str | Path, expected: Mapping[str, str] | None = None) -> bool:
    """True if ``folder`` holds every file in ``expected`` (name -> SHA-256) with that digest.

    With ``expected=None`` the folder's own manifest (written by :func:`fetch_movielens` for
    variants whose file hashes are not in the registry) is used; no manifest means not verified.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return False
    expected = expected if expected else _read_manifest(folder)
    return bool(expected) and not _bad_files(folder, expected)


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """``$MOVIELENS_DATA_DIR`` if set, else the repository's ``data/`` folder."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def _download(
    url: str,
    dest: Path,
    *,
    size: int,
    sha256: str,
    timeout: float | tuple[float, float],
    retries: int,
    backoff: float,
    progress: bool,
) -> None:
    """Download ``url`` to ``dest``, retrying transient failures; ``dest`` appears (by rename)
    only once its size and SHA-256 are verified."""
    for attempt in range(retries + 1):
        try:
            _download_once(url, dest, size=size, sha256=sha256, timeout=timeout, progress=progress)
            return
        except DownloadError as exc:
            if not exc.retryable or attempt == retries:
                if attempt:
                    exc.add_note(f"gave up after {attempt + 1} attempts")
                raise
        time.sleep(backoff * 2**attempt)


def _download_once(
    url: str,
    dest: Path,
    *,
    size: int,
    sha256: str,
    timeout: float | tuple[float, float],
    progress: bool,
) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest, received = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                headers = {"Accept-Encoding": "identity"}
                with requests.get(url, stream=True, timeout=timeout, headers=headers) as resp:
                    if resp.status_code != 200:
                        raise HTTPStatusError(url, resp.status_code, resp.reason or "")
                    declared = resp.headers.get("Content-Length")
                    declared = int(declared) if declared and declared.isdigit() else None
                    if declared is not None and declared != size:
                        raise SizeError(url, size, declared, "announced by the server")
                    bar = _progress_bar(dest.name, size) if progress else None
                    try:
                        for chunk in resp.iter_content(chunk_size=_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            if bar is not None:
                                bar.update(len(chunk))
                            if received > size:
                                raise SizeError(url, size, received, "body longer than expected")
                    finally:
                        if bar is not None:
                            bar.close()
            except requests.exceptions.Timeout as exc:
                raise DownloadTimeoutError(url, timeout) from exc
            except requests.exceptions.ConnectionError as exc:
                # requests reports a read that stalls mid-body as a ConnectionError.
                if "timed out" in str(exc).lower():
                    raise DownloadTimeoutError(url, timeout) from exc
                raise DownloadConnectionError(url, _short(exc)) from exc
            except requests.exceptions.ChunkedEncodingError as exc:
                raise IncompleteDownloadError(
                    url, size, received, "connection closed early"
                ) from exc
            except requests.exceptions.RequestException as exc:
                raise DownloadConnectionError(url, _short(exc)) from exc
        if received < size:
            raise IncompleteDownloadError(url, size, received, "body shorter than expected")
        if digest.hexdigest() != sha256.lower():
            raise ChecksumError(url, sha256.lower(), digest.hexdigest())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."


def _progress_bar(name: str, total: int):  # -> tqdm.tqdm, imported only when needed
    from tqdm.auto import tqdm

    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr
    )


# --------------------------------------------------------------------------------------------
# Safe extraction and atomic replacement
# --------------------------------------------------------------------------------------------


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeArchiveError` if it is absolute, climbs out
    with ``..``, or is a link or special file."""
    name = info.filename
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(name, "absolute path")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(name, "path contains '..'")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(name, "symbolic link")
    kind = stat.S_IFMT(mode)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise UnsafeArchiveError(name, "not a regular file or folder")
    if not parts:
        raise UnsafeArchiveError(name, "empty path")
    return PurePosixPath(*parts)


def extract_zip(zip_path: str | Path, dest: str | Path) -> list[str]:
    """Extract ``zip_path`` into the existing folder ``dest`` after checking every member (see
    :func:`_member_path`). A single top-level folder (``ml-100k/...``) is stripped. Returns the
    relative paths of the files written."""
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"{Path(zip_path).name} is not a valid zip file: {exc}") from exc
    with zf:
        members = [(info, _member_path(info)) for info in zf.infolist()]
        tops = {p.parts[0] for _, p in members}
        strip = len(tops) == 1 and all(len(p.parts) > 1 or info.is_dir() for info, p in members)
        written = []
        root = dest.resolve()
        for info, rel in members:
            rel = PurePosixPath(*rel.parts[1:]) if strip else rel
            if not rel.parts:
                continue
            target = dest.joinpath(*rel.parts)
            if not target.resolve().is_relative_to(root):  # defence in depth
                raise UnsafeArchiveError(info.filename, "resolves outside the target folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                out = target.open("xb")
            except FileExistsError as exc:
                raise UnsafeArchiveError(info.filename, "duplicate member") from exc
            with zf.open(info) as src, out:
                shutil.copyfileobj(src, out, _CHUNK)
            written.append(rel.as_posix())
    return written


def _replace_dir(new: Path, target: Path) -> None:
    """Move folder ``new`` to ``target``; an existing ``target`` is swapped out by renames and
    deleted only once ``new`` is in place (restored if the swap fails)."""
    if not (target.exists() or target.is_symlink()):
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def _install(zip_path: Path, target: Path, expected_files: Mapping[str, str]) -> None:
    """Extract into a temporary sibling folder, verify, then swap it in for ``target``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        written = extract_zip(zip_path, staging)
        if expected_files:
            bad = _bad_files(staging, expected_files)
            missing = [name for name, _, actual in bad if actual == "missing"]
            if missing:
                raise ArchiveError(f"{zip_path.name} lacks expected file(s): {', '.join(missing)}")
            if bad:
                name, exp, act = bad[0]
                raise ChecksumError(f"extracted file {name}", exp, act)
        else:
            lines = [f"{sha256_file(staging / name)}  {name}\n" for name in sorted(written)]
            (staging / MANIFEST).write_text("".join(lines), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp creates it private (0o700); the data folder is not secret
        _replace_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# fetch_movielens and its argument checks
# --------------------------------------------------------------------------------------------


def _check_timeout(timeout) -> float | tuple[float, float]:
    """A positive number of seconds, or a ``(connect, read)`` pair of them."""
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ValueError(f"timeout must be seconds or a (connect, read) pair, got {timeout!r}")
        return (check_positive("timeout[0]", timeout[0]), check_positive("timeout[1]", timeout[1]))
    return check_positive("timeout", timeout)


def _check_digest(name: str, digest) -> str:
    """A hex SHA-256 (64 hex digits, any case), lower-cased."""
    if not isinstance(digest, str):
        raise TypeError(f"{name} must be a hex SHA-256 string, got {type(digest).__name__}")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise ValueError(f"{name} must be 64 hex digits (a SHA-256), got {digest!r}")
    return digest.lower()


def fetch_movielens(
    variant: str = "ml-latest-small",
    data_dir: str | Path | None = None,
    *,
    base_url: str = BASE_URL,
    force: bool = False,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    expected_files: Mapping[str, str] | None = None,
    timeout: float | tuple[float, float] = (10.0, 60.0),
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool | None = None,
    keep_zip: bool = False,
) -> Path:
    """Return ``data_dir/variant``, a verified copy of a MovieLens variant; download if needed.

    Parameters
    ----------
    variant : a key of :data:`REGISTRY` (ml-latest-small, ml-100k, ml-1m, ml-20m, ml-25m).
    data_dir : parent folder; default :func:`default_data_dir` (``$MOVIELENS_DATA_DIR`` or the
        repository's ``data/``).
    base_url : where ``<variant>.zip`` is fetched from (the official GroupLens site by default).
    force : download and replace even if a verified copy is present.
    expected_size, expected_sha256, expected_files : explicit overrides of the registry's zip size
        (bytes), zip SHA-256 and per-file SHA-256 (relative path -> digest). Meant for tests and
        mirrors of other releases; nothing else changes what is trusted.
    timeout : seconds, ``(connect, read)`` or one number for both.
    retries : extra attempts after connection errors, timeouts, truncated bodies and 5xx answers,
        waiting ``backoff * 2**attempt`` seconds between attempts.
    progress : show a tqdm bar on stderr; default only when stderr is a terminal.
    keep_zip : keep the verified ``<variant>.zip`` in ``data_dir`` (it is reused next time).

    If the folder's files match the known SHA-256 (or the manifest written at extraction for
    variants without known file hashes) nothing touches the network. Raises a
    :class:`DownloadError` subclass on failure; afterwards no partial file or folder is left and an
    existing copy is untouched.
    """
    if not isinstance(variant, str):
        raise TypeError(f"variant must be a string such as 'ml-latest-small', got {variant!r}")
    if variant not in REGISTRY:
        raise UnknownVariantError(variant)
    retries = check_int("retries", retries, minimum=0)
    backoff = check_real("backoff", backoff, minimum=0.0)
    timeout = _check_timeout(timeout)
    force, keep_zip = check_bool("force", force), check_bool("keep_zip", keep_zip)
    if progress is not None:
        progress = check_bool("progress", progress)
    spec = REGISTRY[variant]
    size = (
        spec.size if expected_size is None else check_int("expected_size", expected_size, minimum=1)
    )
    sha256 = (
        spec.sha256
        if expected_sha256 is None
        else _check_digest("expected_sha256", expected_sha256)
    )
    if expected_files is None:
        files = dict(spec.files)
    elif isinstance(expected_files, Mapping):
        files = {n: _check_digest(f"expected_files[{n!r}]", d) for n, d in expected_files.items()}
    else:
        raise TypeError(
            "expected_files must be a mapping of relative path -> SHA-256, got "
            f"{type(expected_files).__name__}"
        )

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    target = data_dir / variant
    if not force and is_verified(target, files or None):
        return target

    data_dir.mkdir(parents=True, exist_ok=True)
    zip_path = data_dir / spec.filename
    reuse = (
        not force
        and zip_path.is_file()
        and zip_path.stat().st_size == size
        and sha256_file(zip_path) == sha256
    )
    if not reuse:
        if progress is None:
            progress = sys.stderr.isatty()
        url = base_url.rstrip("/") + "/" + spec.filename
        _download(
            url,
            zip_path,
            size=size,
            sha256=sha256,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            progress=progress,
        )
    try:
        _install(zip_path, target, files)
    except BaseException:
        zip_path.unlink(missing_ok=True)
        raise
    if not keep_zip:
        zip_path.unlink(missing_ok=True)
    return target
