"""A tiny Hugging Face hub on 127.0.0.1 for download tests: the file endpoints the hub client reads, nothing else.

`HEAD|GET /{org}/{repo}/resolve/{revision}/{path}` answers as huggingface.co does:
- a small file: 200 with `X-Repo-Commit`, `ETag` (its git blob id) and `Content-Length`;
- a large (LFS) file (`lfs=True`, every .safetensors / pickle by default): 302 to a second server on 127.0.0.2
  (another host, as the hub's CDN is) with `X-Repo-Commit`, `X-Linked-Etag` (the content's sha256),
  `X-Linked-Size` and `ETag`; the CDN serves the bytes with `Range: bytes=N-` support (206);
- errors with the hub's `X-Error-Code`: RepoNotFound (404), RevisionNotFound (404), EntryNotFound (404),
  GatedRepo (401 without a token, 403 with a wrong one).
Faults for tests: `cut(path, after)` closes the CDN connection after `after` bytes once, `fail_ranges(path)`
answers 503 to every Range request of that file, `lie_sha(path, sha)` reports another sha256 than the content's.
Every request is recorded in `requests` (method, path, Range, Authorization).
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")


@dataclass
class Repo:
    files: dict[str, bytes]
    revision: str = "main"
    gated_token: str | None = None  # a gated repository serves only to "Bearer <gated_token>"
    commit: str = ""
    lfs: set[str] = field(default_factory=set)


class FakeHub:
    """Two loopback HTTP servers (hub and CDN) over one set of repositories; use as a context manager."""

    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.requests: list[dict] = []
        self.cuts: dict[str, int] = {}
        self.range_failures: set[str] = set()
        self.lies: dict[str, str] = {}
        self._blobs: dict[str, bytes] = {}
        self._servers = []

    # ------------------------------------------------------------------ set-up
    def add(self, repo: str, files: dict[str, bytes], *, revision: str = "main", gated_token: str | None = None,
            lfs: set[str] | None = None) -> Repo:
        """Serve a repository; `lfs` names the files served as LFS objects (default: weights files)."""
        commit = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
        lfs = set(lfs) if lfs is not None else {p for p in files if p.endswith(LFS_SUFFIXES)}
        self.repos[repo] = Repo(dict(files), revision, gated_token, commit, lfs)
        for data in files.values():
            self._blobs[hashlib.sha256(data).hexdigest()] = data
        return self.repos[repo]

    def cut(self, path: str, after: int) -> None:
        """The next CDN answer for a file ending in `path` stops after `after` bytes and drops the connection."""
        self.cuts[path] = after

    def fail_ranges(self, path: str) -> None:
        """Every Range request for a file ending in `path` gets HTTP 503 (a download that cannot resume now)."""
        self.range_failures.add(path)

    def lie_sha(self, path: str, sha256: str) -> None:
        """Report `sha256` as the LFS sha of a file ending in `path` (the bytes stay the real ones)."""
        self.lies[path] = sha256

    # ------------------------------------------------------------------ servers
    def __enter__(self) -> "FakeHub":
        for host in ("127.0.0.1", "127.0.0.2"):
            server = ThreadingHTTPServer((host, 0), _handler(self))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return self

    def __exit__(self, *exc) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        """The hub's endpoint (HF_ENDPOINT)."""
        return f"http://127.0.0.1:{self._servers[0].server_port}"

    @property
    def cdn(self) -> str:
        """The CDN host the hub redirects large files to."""
        return f"http://127.0.0.2:{self._servers[1].server_port}"

    def gets(self, suffix: str) -> list[dict]:
        """The GET requests for a file ending in `suffix` (on the hub or the CDN)."""
        return [r for r in self.requests if r["method"] == "GET" and r["file"].endswith(suffix)]


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, headers: dict, body: bytes = b"") -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, str(value))
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _error(self, status: int, code: str, commit: str | None = None) -> None:
            headers = {"X-Error-Code": code, "X-Error-Message": code}
            if commit:
                headers["X-Repo-Commit"] = commit
            self._send(status, headers, code.encode())

        def do_HEAD(self):
            self._serve()

        def do_GET(self):
            self._serve()

        def _serve(self):
            path = unquote(self.path.split("?")[0])
            record = {"method": self.command, "file": path, "range": self.headers.get("Range"),
                      "authorization": self.headers.get("Authorization"), "host": self.headers.get("Host")}
            hub.requests.append(record)
            if path.startswith("/cdn/"):
                return self._cdn(path[len("/cdn/"):].split("/")[0], path.rsplit("/", 1)[-1])
            parts = path.strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return self._error(404, "RepoNotFound")
            repo_id, revision, file = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound")
            if repo.gated_token is not None:
                given = self.headers.get("Authorization")
                if given is None:
                    return self._error(401, "GatedRepo")
                if given != f"Bearer {repo.gated_token}":
                    return self._error(403, "GatedRepo")
            if revision not in (repo.revision, repo.commit):
                return self._error(404, "RevisionNotFound")
            if file not in repo.files:
                return self._error(404, "EntryNotFound", repo.commit)
            data = repo.files[file]
            sha = hashlib.sha256(data).hexdigest()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            if file in repo.lfs:
                reported = next((v for k, v in hub.lies.items() if file.endswith(k)), sha)
                return self._send(302, {"Location": f"{hub.cdn}/cdn/{sha}/{file.rsplit('/', 1)[-1]}",
                                        "X-Repo-Commit": repo.commit, "X-Linked-Etag": f'"{reported}"',
                                        "X-Linked-Size": len(data), "ETag": f'"{blob}"', "Content-Length": 0})
            return self._send(200, {"X-Repo-Commit": repo.commit, "ETag": f'"{blob}"', "Accept-Ranges": "bytes"}, data)

        def _cdn(self, sha: str, name: str):
            data = hub._blobs.get(sha)
            if data is None:
                return self._error(404, "NotFound")
            wanted = self.headers.get("Range")
            if wanted and any(name.endswith(p.rsplit("/", 1)[-1]) for p in hub.range_failures):
                return self._send(503, {}, b"busy")
            start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
            body = data[start:]
            headers = {"Content-Length": len(body), "Accept-Ranges": "bytes", "ETag": f'"{sha}"'}
            status = 200
            if wanted:
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            cut = next((k for k in hub.cuts if name.endswith(k.rsplit("/", 1)[-1])), None)
            if cut is not None and self.command == "GET":
                after = hub.cuts.pop(cut)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, str(value))
                self.end_headers()
                self.wfile.write(body[:after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # SHUT_RDWR: the client sees the body end early
                return None
            return self._send(status, headers, body)

    return Handler
