"""A real HTTP server on 127.0.0.1 that serves model archives for the fetch tests.

It honours `Range: bytes=N-` (206 + Content-Range) and `If-Range` (ETag), records every
request, and can be told to misbehave the way real networks and mirrors do: cut the
connection part-way, flip bytes, or declare a wrong Content-Length.
"""
from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Served:
    """One file and how to (mis)serve it."""

    body: bytes
    cut_after: int | None = None  # close the connection after this many body bytes...
    cuts_left: int = 0  # ...for this many requests
    corrupt_at: int | None = None  # flip the byte at this offset in every response
    declared_length: int | None = None  # Content-Length to claim instead of the true one
    ignore_range: bool = False  # answer a Range request with the full body (200)
    chunk_delay: float = 0.0  # seconds to wait after each 4 KiB sent (a slow link)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class ModelServer:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> "ModelServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                req = Request(self.path, {k: v for k, v in self.headers.items()})
                owner.requests.append(req)
                served = owner.files.get(self.path)
                if served is None:
                    req.status = 404
                    self.send_error(404, "Not Found")
                    return
                body = bytearray(served.body)
                if served.corrupt_at is not None:
                    body[served.corrupt_at] ^= 0xFF
                total = len(body)
                start = 0
                rng = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if rng and not served.ignore_range and (if_range is None or if_range == served.etag):
                    m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
                    start = int(m.group(1)) if m else 0
                    if start >= total:
                        req.status = 416
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{total}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    req.status = 206
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                else:
                    req.status = 200
                    self.send_response(200)
                chunk = bytes(body[start:])
                length = served.declared_length if served.declared_length is not None else len(chunk)
                self.send_header("Content-Length", str(length))
                self.send_header("Content-Type", "application/zip")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", served.etag)
                self.end_headers()
                if served.cuts_left > 0 and served.cut_after is not None:
                    served.cuts_left -= 1
                    self.wfile.write(chunk[: served.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if served.chunk_delay:
                    for i in range(0, length, 4096):
                        try:
                            self.wfile.write(chunk[i:min(i + 4096, length)])
                            self.wfile.flush()
                        except OSError:  # the client went away
                            self.close_connection = True
                            return
                        time.sleep(served.chunk_delay)
                else:
                    self.wfile.write(chunk[:length])
                if length != len(chunk):
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, **how: object) -> Served:
        served = Served(body, **how)  # type: ignore[arg-type]
        self.files[path] = served
        return served


def zip_model_dir(src: Path, top: str, *, skip: tuple[str, ...] = ()) -> bytes:
    """Zip a model directory the way official archives are laid out (`<top>/am/...`).

    `skip` leaves out every file whose path (relative to `src`) starts with one of its prefixes.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src).as_posix()
            if path.is_file() and not rel.startswith(skip):
                zf.write(path, f"{top}/{rel}")
    return buf.getvalue()
