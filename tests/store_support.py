"""Shared helpers for the transcript store and review page tests (test_store_*, test_review_*)."""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent


def turn(i: int, qid: str | None = "blood_clot", heard: str | None = "no", conf: float | None = 0.9,
         answer: str | None = "no", time: str | None = None) -> dict[str, Any]:
    return {"index": i, "time": time or datetime.now(timezone.utc).isoformat(), "question_id": qid,
            "prompt": f"Question {i}: have you had a blood clot?", "heard": heard, "confidence": conf,
            "interpretation": answer or "not_understood", "answer": answer}


def add_session(store, *, started: datetime | None = None, turns: int = 3, outcome: str = "likely_to_help",
                finish: bool = True, heard: str = "no") -> str:
    started = started or datetime.now(timezone.utc)
    sid = store.begin_session({"session_id": uuid.uuid4().hex, "started_at": started.isoformat(),
                               "mode": "text", "rules_file": "rules/massage.yaml", "rules_sha256": "0" * 64})
    for i in range(turns):
        store.add_turn(sid, turn(i, heard=heard, time=(started + timedelta(seconds=i)).isoformat()))
    if finish:
        store.finish_session(sid, outcome, ["r_test"], "Because the test said so.", {"blood_clot": "no"},
                             "result", completed=True)
    return sid


def mode(path: Path | str) -> int:
    return os.stat(path).st_mode & 0o777


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A real, small file system (so 'disk full' and 'read-only' are the kernel's, not a fake)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def env_for(data_dir: Path, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MASSAGE_CHECK_DATA_DIR"] = str(data_dir)
    env["MASSAGE_CHECK_CONFIG"] = str(config)
    return env


class Browser:
    """A minimal cookie-keeping HTTP client for a real server (no redirects followed)."""

    def __init__(self, host: str, port: int, tls: Any = None) -> None:
        self.host, self.port = host, port
        self.tls = tls                                  # an ssl.SSLContext: talk HTTPS
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []                # every Set-Cookie header seen, as sent

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = (http.client.HTTPSConnection(self.host, self.port, timeout=20, context=self.tls) if self.tls
                else http.client.HTTPConnection(self.host, self.port, timeout=20))
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                self.set_cookies.append(value)
                k, v = value.split(";", 1)[0].split("=", 1)
                if v:
                    self.cookies[k] = v
                else:
                    self.cookies.pop(k, None)
        out = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return resp.status, out, data

    def csrf(self, path: str = "/login") -> str:
        status, _, body = self.request("GET", path)
        m = re.search(rb'name="csrf" value="([^"]+)"', body)
        assert m, f"no CSRF token on {path} ({status})"
        return m.group(1).decode()

    def login(self, pin: str, name: str = "JD") -> int:
        token = self.csrf()
        status, _, _ = self.request("POST", "/login", {"csrf": token, "name": name, "pin": pin})
        return status


@contextlib.contextmanager
def live_server(app) -> Iterator[tuple[str, int]]:  # noqa: ANN001 - a WSGI app
    """The app under waitress on 127.0.0.1 (a free port), in a thread."""
    import waitress.server
    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=4)
    closing = threading.Event()

    def run() -> None:
        try:
            server.asyncore.loop(timeout=0.2, map=server._map)
        except OSError:
            if not closing.is_set():      # closing the socket under select() is how it stops
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.effective_port
    finally:
        closing.set()
        server.task_dispatcher.shutdown()
        server.close()
        thread.join(timeout=5)


@contextlib.contextmanager
def live_https_server(app, files) -> Iterator[tuple[str, int]]:  # noqa: ANN001 - a WSGI app, TlsFiles
    """The app under the product's HTTPS server (cheroot) on 127.0.0.1 (a free port), in a thread."""
    from massage_check.review.https import https_server
    server = https_server(app, "127.0.0.1", 0, files)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.bind_addr[1]
    finally:
        server.stop()
        thread.join(timeout=10)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
