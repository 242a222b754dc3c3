"""helpers.download.fetch_movielens against a real HTTP server on 127.0.0.1 serving zips built here.

Every failure must raise its specific error with a readable message, leave no partial file or
temporary folder behind, and leave an existing good copy untouched. No test touches the internet.
"""

from __future__ import annotations

import hashlib
import io
import re
import stat
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from helpers import download
from helpers.download import (
    ArchiveError,
    ChecksumError,
    DownloadTimeoutError,
    HTTPStatusError,
    IncompleteDownloadError,
    SizeError,
    UnknownVariantError,
    UnsafeArchiveError,
    fetch_movielens,
)

VARIANT = "ml-latest-small"
FILES = {
    "ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n",
    "movies.csv": b"movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n",
    "README.txt": b"a small test copy\n",
}
FILES_V2 = {**FILES, "README.txt": b"the second release\n"}


# ----------------------------------------------------------------------------- zips and server


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def make_zip(
    files: dict[str, bytes], top: str = VARIANT, extra: list[zipfile.ZipInfo] = ()
) -> bytes:
    """A zip like GroupLens publishes: every file under one top-level folder."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/", b"")
        for name, payload in files.items():
            zf.writestr(f"{top}/{name}", payload)
        for info in extra:
            zf.writestr(info, b"payload")
    return buf.getvalue()


def checks(body: bytes, files: dict[str, bytes] = FILES) -> dict:
    """Explicit overrides so fetch_movielens accepts ``body`` as the variant's zip."""
    return {
        "expected_size": len(body),
        "expected_sha256": sha(body),
        "expected_files": {name: sha(payload) for name, payload in files.items()},
    }


Behaviour = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """Routes a path to a list of behaviours, one per request (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Behaviour]] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()  # ends stalled responses at teardown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                plan = server.routes.get(self.path, [status(404)])
                plan[min(server.hits[self.path], len(plan)) - 1](self)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def serve(self, *plan: Behaviour, variant: str = VARIANT) -> None:
        self.routes[f"/{variant}.zip"] = list(plan)

    def count(self, variant: str = VARIANT) -> int:
        return self.hits.get(f"/{variant}.zip", 0)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(body: bytes) -> Behaviour:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/zip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return send


def status(code: int) -> Behaviour:
    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return send


def truncated(body: bytes) -> Behaviour:
    """Announce the full length, send half, close the connection."""

    def send(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        h.close_connection = True

    return send


def stall(server: Server, body: bytes, after_headers: bool) -> Behaviour:
    """Wait (until teardown) before the headers, or after the headers and a few bytes."""

    def send(h: BaseHTTPRequestHandler) -> None:
        if after_headers:
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:10])
            h.wfile.flush()
        server.release.wait(10)
        h.close_connection = True

    return send


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


FAST = {"timeout": 5.0, "retries": 0, "backoff": 0.0, "progress": False}


def fetch(server: Server, data_dir: Path, **kw: object) -> Path:
    return fetch_movielens(VARIANT, data_dir, base_url=server.url, **{**FAST, **kw})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def good_copy(server: Server, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A data folder holding a verified copy fetched from the test server."""
    body = make_zip(FILES)
    server.serve(ok(body))
    target = fetch(server, tmp_path, **checks(body))
    server.hits.clear()
    return tmp_path, snapshot(target)


def assert_untouched(data_dir: Path, before: dict[str, bytes]) -> None:
    """Only the good copy is left: no .part file, no temporary or backup folder, no zip."""
    assert sorted(p.name for p in data_dir.iterdir()) == [VARIANT]
    assert snapshot(data_dir / VARIANT) == before


# ----------------------------------------------------------------------------- success paths


def test_success_extracts_verified_files_and_leaves_nothing_else(server, tmp_path):
    body = make_zip(FILES)
    server.serve(ok(body))
    target = fetch(server, tmp_path, **checks(body))
    assert target == tmp_path / VARIANT
    assert snapshot(target) == dict(sorted(FILES.items()))
    assert sorted(p.name for p in tmp_path.iterdir()) == [VARIANT]
    assert server.count() == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o755  # readable by others, like the files


def test_verified_copy_is_returned_without_network(server, good_copy):
    data_dir, before = good_copy
    server.serve(status(404))  # would fail if contacted
    files = {name: sha(payload) for name, payload in FILES.items()}
    assert fetch(server, data_dir, expected_files=files) == data_dir / VARIANT
    assert server.count() == 0
    assert_untouched(data_dir, before)


def test_corrupted_copy_is_downloaded_again_and_replaced(server, good_copy):
    data_dir, _ = good_copy
    (data_dir / VARIANT / "ratings.csv").write_bytes(b"tampered, and longer than before\n" * 9)
    body = make_zip(FILES)
    server.serve(ok(body))
    fetch(server, data_dir, **checks(body))
    assert server.count() == 1
    assert_untouched(data_dir, dict(sorted(FILES.items())))


def test_force_replaces_a_good_copy_with_a_new_release(server, good_copy):
    data_dir, _ = good_copy
    body = make_zip(FILES_V2)
    server.serve(ok(body))
    fetch(server, data_dir, force=True, **checks(body, FILES_V2))
    assert_untouched(data_dir, dict(sorted(FILES_V2.items())))


def test_500_then_success_is_retried(server, tmp_path):
    body = make_zip(FILES)
    server.serve(status(500), status(503), ok(body))
    target = fetch(server, tmp_path, retries=2, backoff=0.001, **checks(body))
    assert server.count() == 3
    assert snapshot(target) == dict(sorted(FILES.items()))


def test_variant_without_known_file_hashes_gets_a_manifest(server, tmp_path):
    files = {"u.data": b"1\t1\t5\t874965758\n", "README": b"ml-100k test copy\n"}
    body = make_zip(files, top="ml-100k")
    server.serve(ok(body), variant="ml-100k")
    kw = {**FAST, "expected_size": len(body), "expected_sha256": sha(body)}
    target = fetch_movielens("ml-100k", tmp_path, base_url=server.url, **kw)
    manifest = (target / download.MANIFEST).read_text(encoding="utf-8")
    assert f"{sha(files['u.data'])}  u.data" in manifest
    assert download.is_verified(target)
    fetch_movielens("ml-100k", tmp_path, base_url=server.url, **kw)
    assert server.count("ml-100k") == 1  # second call: verified by the manifest, no network
    (target / "u.data").write_bytes(b"1\t1\t1\t874965758\n2\t2\t2\t874965758\n")
    assert not download.is_verified(target)


def test_keep_zip_reuses_the_verified_zip_without_network(server, tmp_path):
    body = make_zip(FILES)
    server.serve(ok(body))
    target = fetch(server, tmp_path, keep_zip=True, **checks(body))
    assert (tmp_path / f"{VARIANT}.zip").read_bytes() == body
    (target / "movies.csv").unlink()
    fetch(server, tmp_path, keep_zip=True, **checks(body))
    assert server.count() == 1
    assert snapshot(target) == dict(sorted(FILES.items()))


def test_progress_bar_only_when_asked(server, tmp_path, capsys):
    body = make_zip(FILES)
    server.serve(ok(body))
    fetch(server, tmp_path / "a", progress=None, **checks(body))  # stderr is not a terminal
    assert capsys.readouterr().err == ""
    fetch(server, tmp_path / "b", progress=True, **checks(body))
    assert f"{VARIANT}.zip" in capsys.readouterr().err


# ----------------------------------------------------------------------------- failures


def test_404_is_not_retried_and_names_url_and_status(server, good_copy):
    data_dir, before = good_copy
    server.serve(status(404))
    url = f"{server.url}{VARIANT}.zip"
    with pytest.raises(HTTPStatusError, match=rf"HTTP 404 Not Found for {url}") as info:
        fetch(server, data_dir, force=True, retries=3, backoff=0.001)
    assert info.value.status == 404
    assert server.count() == 1
    assert_untouched(data_dir, before)


def test_persistent_500_gives_up_after_the_retries(server, good_copy):
    data_dir, before = good_copy
    server.serve(status(500))
    with pytest.raises(HTTPStatusError, match=r"HTTP 500 Internal Server Error") as info:
        fetch(server, data_dir, force=True, retries=2, backoff=0.001)
    assert "gave up after 3 attempts" in info.value.__notes__
    assert server.count() == 3
    assert_untouched(data_dir, before)


def test_truncated_body_is_an_incomplete_download(server, good_copy):
    data_dir, before = good_copy
    body = make_zip(FILES_V2)
    server.serve(truncated(body))
    with pytest.raises(IncompleteDownloadError, match=rf"expected {len(body)} bytes, got \d+"):
        fetch(server, data_dir, force=True, **checks(body, FILES_V2))
    assert_untouched(data_dir, before)


def test_truncated_body_then_success_is_retried(server, tmp_path):
    body = make_zip(FILES)
    server.serve(truncated(body), ok(body))
    fetch(server, tmp_path, retries=1, backoff=0.001, **checks(body))
    assert server.count() == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [VARIANT]


def test_checksum_mismatch_shows_expected_and_actual(server, good_copy):
    data_dir, before = good_copy
    body = make_zip(FILES_V2)
    server.serve(ok(body))
    wrong = "0" * 64
    kw = {**checks(body, FILES_V2), "expected_sha256": wrong}
    with pytest.raises(ChecksumError, match=rf"expected {wrong}, got {sha(body)}"):
        fetch(server, data_dir, force=True, retries=2, backoff=0.001, **kw)
    assert server.count() == 1  # a wrong checksum is not retried
    assert_untouched(data_dir, before)


def test_registry_size_is_enforced_without_overrides(server, good_copy):
    data_dir, before = good_copy
    body = make_zip(FILES_V2)
    server.serve(ok(body))
    expected = download.REGISTRY[VARIANT].size
    with pytest.raises(SizeError, match=rf"expected {expected} bytes, got {len(body)}"):
        fetch(server, data_dir, force=True)
    assert_untouched(data_dir, before)


def test_extracted_file_with_wrong_hash_is_rejected(server, good_copy):
    data_dir, before = good_copy
    body = make_zip(FILES_V2)
    server.serve(ok(body))
    kw = {**checks(body, FILES_V2), "expected_files": {"README.txt": sha(FILES["README.txt"])}}
    with pytest.raises(ChecksumError, match=r"extracted file README\.txt: expected [0-9a-f]{64}"):
        fetch(server, data_dir, force=True, **kw)
    assert_untouched(data_dir, before)


def test_archive_missing_an_expected_file(server, good_copy):
    data_dir, before = good_copy
    body = make_zip({"README.txt": FILES["README.txt"]})
    server.serve(ok(body))
    with pytest.raises(ArchiveError, match=r"lacks expected file\(s\): movies\.csv, ratings\.csv"):
        fetch(server, data_dir, force=True, **checks(body))
    assert_untouched(data_dir, before)


@pytest.mark.parametrize("after_headers", [False, True], ids=["before-headers", "mid-body"])
def test_stalled_server_times_out(server, good_copy, after_headers):
    data_dir, before = good_copy
    body = make_zip(FILES_V2)
    server.serve(stall(server, body, after_headers))
    with pytest.raises(DownloadTimeoutError, match=r"timed out after 0\.5 s waiting for http"):
        fetch(server, data_dir, force=True, timeout=0.5, **checks(body, FILES_V2))
    assert_untouched(data_dir, before)


def unsafe_member(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (unsafe_member("ml-latest-small/../../evil.txt"), "path contains '..'"),
        (unsafe_member("../evil.txt"), "path contains '..'"),
        (unsafe_member("/abs/evil.txt"), "absolute path"),
        (unsafe_member("C:/evil.txt"), "absolute path"),
        (unsafe_member("ml-latest-small/link", stat.S_IFLNK | 0o777), "symbolic link"),
        (unsafe_member("ml-latest-small/fifo", stat.S_IFIFO | 0o644), "not a regular file"),
    ],
    ids=["dotdot-nested", "dotdot", "absolute", "drive", "symlink", "fifo"],
)
def test_unsafe_archive_member_is_rejected(server, good_copy, member, reason):
    data_dir, before = good_copy
    body = make_zip(FILES_V2, extra=[member])
    server.serve(ok(body))
    with pytest.raises(UnsafeArchiveError, match=rf"member {member.filename!r}: {reason}"):
        fetch(server, data_dir, force=True, **checks(body, FILES_V2))
    assert not (data_dir.parent / "evil.txt").exists()
    assert_untouched(data_dir, before)


def test_not_a_zip_is_an_archive_error(server, good_copy):
    data_dir, before = good_copy
    body = b"<html>not a zip</html>"
    server.serve(ok(body))
    with pytest.raises(ArchiveError, match=r"ml-latest-small\.zip is not a valid zip file"):
        fetch(server, data_dir, force=True, **checks(body, FILES_V2))
    assert_untouched(data_dir, before)


def test_unknown_variant_lists_the_known_ones(server, tmp_path):
    with pytest.raises(
        UnknownVariantError, match=r"'ml-5m'; known variants: ml-100k, ml-1m, ml-20m"
    ):
        fetch_movielens("ml-5m", tmp_path / "data", base_url=server.url)
    assert issubclass(UnknownVariantError, ValueError)
    assert not (tmp_path / "data").exists()
    assert server.hits == {}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"retries": -1}, ValueError, "retries must be >= 0, got -1"),
        ({"retries": 1.5}, TypeError, "retries must be an integer, got float 1.5"),
        ({"backoff": -0.5}, ValueError, "backoff must be >= 0, got -0.5"),
        ({"timeout": 0}, ValueError, "timeout must be > 0, got 0"),
        ({"timeout": (1.0, 2.0, 3.0)}, ValueError, "a (connect, read) pair, got (1.0, 2.0, 3.0)"),
        ({"timeout": "10"}, TypeError, "timeout must be a number, got str '10'"),
        ({"force": "yes"}, TypeError, "force must be True or False, got str 'yes'"),
        ({"progress": 1}, TypeError, "progress must be True or False, got int 1"),
        ({"expected_size": 0}, ValueError, "expected_size must be >= 1, got 0"),
        ({"expected_sha256": "abc"}, ValueError, "expected_sha256 must be 64 hex digits"),
        ({"expected_files": {"a.csv": "x"}}, ValueError, "expected_files['a.csv'] must be 64 hex"),
        ({"expected_files": ["a.csv"]}, TypeError, "expected_files must be a mapping"),
    ],
)
def test_bad_settings_are_rejected_before_any_work(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        fetch_movielens(VARIANT, tmp_path / "data", **kwargs)
    assert not (tmp_path / "data").exists()


def test_numpy_integers_are_accepted(server, tmp_path):
    body = make_zip(FILES)
    server.serve(ok(body))
    kw = {**checks(body), "expected_size": np.int64(len(body))}
    fetch(server, tmp_path, retries=np.int64(0), **kw)
    assert server.count() == 1


def test_variant_must_be_a_string(tmp_path):
    with pytest.raises(TypeError, match=r"variant must be a string .*, got 3"):
        fetch_movielens(3, tmp_path)


def test_data_dir_defaults_to_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(download.DATA_DIR_ENV, str(tmp_path))
    assert download.default_data_dir() == tmp_path
    monkeypatch.delenv(download.DATA_DIR_ENV)
    assert download.default_data_dir() == Path(download.__file__).resolve().parents[1] / "data"


def test_registry_matches_the_published_checksums():
    assert download.BASE_URL == "https://files.grouplens.org/datasets/movielens/"
    published = {
        "ml-latest-small": (978202, "696d65a3dfceac7c"),
        "ml-100k": (4924029, "50d2a982c6698693"),
        "ml-1m": (5917549, "a6898adb50b9ca05"),
        "ml-20m": (198702078, "96f243c338a8665f"),
        "ml-25m": (261978986, "8b21cfb7eb1706b4"),
    }
    got = {name: (v.size, v.sha256[:16]) for name, v in download.REGISTRY.items()}
    assert got == published
    assert all(len(v.sha256) == 64 for v in download.REGISTRY.values())
