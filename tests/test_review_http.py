"""Staff review page over HTTP: login, no page without it, wrong PINs, CSRF, audit, export.

Most tests talk to the app under a real waitress server on 127.0.0.1; one starts
the real `massage-check review` command.
"""
from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
from store_support import REPO, Browser, add_session, env_for, live_server

from massage_check.review.app import ReviewSettings, create_app
from massage_check.review.auth import LoginLimiter, hash_pin
from massage_check.store import TranscriptStore
from rules import load_questionnaire

PIN = "470215"
HASH = hash_pin(PIN)
RULES = load_questionnaire()
RULE = RULES.rules[2]            # a real rule, with a real source citation


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path):
    s = TranscriptStore.open(tmp_path / "data")
    now = datetime.now(timezone.utc)
    s.older = add_session(s, started=now - timedelta(days=1), outcome="likely_to_help")
    sid = s.begin_session({"mode": "voice", "rules_sha256": RULES.sha256, "model": "answer-model"})
    s.add_turn(sid, {"index": 0, "question_id": "blood_clot", "prompt": "Have you had a blood clot?",
                     "heard": "yes <script>alert(1)</script>", "confidence": 0.41,
                     "interpretation": "yes", "answer": "yes"})
    s.finish_session(sid, "see_doctor_first", [RULE.id, "retired_rule"], "You reported a clot.",
                     {"blood_clot": "yes"}, "result", completed=True)
    s.newest = sid
    return s


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(store, clock):
    settings = ReviewSettings(pin_hash=HASH, idle_minutes=15, clock=clock,
                              limiter=LoginLimiter(free=5, base=30, clock=clock))
    with live_server(create_app(store, settings)) as (host, port):
        yield host, port


def test_no_page_without_a_login(server, store):
    b = Browser(*server)
    for path in ("/", f"/session/{store.newest}", "/export.csv", "/session/nope"):
        status, headers, body = b.request("GET", path)
        assert status == 302 and headers["location"].endswith("/login"), path
        assert b"blood clot" not in body and store.newest.encode() not in body
    forged = Browser(*server)
    forged.cookies["mc_review"] = "eyJsb2dpbiI6ImZha2UifQ.ZZZZ.forged"
    assert forged.request("GET", "/")[0] == 302
    assert sum(e["action"] == "denied_no_login" for e in store.audit_log()) >= 5


def test_login_list_session_and_export(server, store):
    b = Browser(*server)
    token = b.csrf()
    status, headers, _ = b.request("POST", "/login", {"csrf": token, "name": "J. Doe", "pin": PIN})
    assert status == 302 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie

    status, headers, body = b.request("GET", "/")
    page = body.decode()
    assert status == 200 and "J. Doe" in page
    assert page.index(store.newest[:8]) < page.index(store.older[:8])          # newest first
    assert "See a doctor first" in page and "Likely to help" in page
    assert headers["cache-control"] == "no-store"
    assert "default-src 'none'" in headers["content-security-policy"]
    head = page.split("<main>")[0]                                          # no external files (a meta refresh is fine)
    assert "<link" not in page and "<script" not in page and "//" not in head

    status, _, body = b.request("GET", f"/session/{store.newest}")
    page = body.decode()
    assert status == 200
    assert "Have you had a blood clot?" in page
    assert "yes &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'class="low">0.41' in page                                       # low confidence flagged
    assert RULE.source in page and RULE.explain[:40] in page                 # why: rule and citation
    assert "retired_rule" in page and "not in the current rules file" in page

    status, headers, body = b.request("GET", "/export.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["session_id"] for r in rows} == {store.newest, store.older}

    actions = [(e["action"], e["session_id"]) for e in store.audit_log()]
    assert ("login", None) in actions and ("view_list", None) in actions
    assert ("view_session", store.newest) in actions and ("export_csv", None) in actions
    assert all(e["actor"] == "review:J. Doe@127.0.0.1" for e in store.audit_log()
               if e["action"] in ("login", "view_list", "view_session", "export_csv"))


def test_wrong_pin_refused_then_rate_limited(server, store, clock):
    b = Browser(*server)
    for _ in range(4):
        assert b.login("999999") == 401
    assert b.login("999998") == 401                       # 5th wrong PIN: locked for 30 s
    token = b.csrf()
    status, headers, body = b.request("POST", "/login", {"csrf": token, "name": "JD", "pin": PIN})
    assert status == 429 and b"Too many wrong PINs" in body and int(headers["retry-after"]) > 0
    assert b.request("GET", "/")[0] == 302                # the right PIN did not get in while locked
    clock.t += 31
    assert b.login(PIN) == 302
    assert b.request("GET", "/")[0] == 200
    actions = [e["action"] for e in store.audit_log()]
    assert actions.count("login_failed") == 5 and "login_locked" in actions


def test_every_post_needs_the_csrf_token(server, store):
    b = Browser(*server)
    b.csrf()
    assert b.request("POST", "/login", {"name": "JD", "pin": PIN})[0] == 403
    assert b.request("POST", "/login", {"csrf": "forged", "name": "JD", "pin": PIN})[0] == 403
    assert b.login(PIN) == 302
    assert b.request("POST", "/logout", {"csrf": "forged"})[0] == 403
    assert b.request("GET", "/")[0] == 200                # still logged in
    assert "csrf_rejected" in [e["action"] for e in store.audit_log()]


def test_logout_revokes_the_cookie_and_idle_sessions_expire(server, store, clock):
    b = Browser(*server)
    assert b.login(PIN) == 302
    saved = dict(b.cookies)
    token = re.search(rb'name="csrf" value="([^"]+)"', b.request("GET", "/")[2]).group(1).decode()
    assert b.request("POST", "/logout", {"csrf": token})[0] == 302
    replay = Browser(*server)
    replay.cookies = saved                                # a copied cookie is useless after logout
    assert replay.request("GET", "/")[0] == 302

    assert b.login(PIN) == 302
    clock.t += 14 * 60
    assert b.request("GET", "/")[0] == 200
    clock.t += 16 * 60                                    # idle longer than 15 minutes
    assert b.request("GET", "/")[0] == 302


def test_unknown_host_header_is_refused(store, clock):
    settings = ReviewSettings(pin_hash=HASH, allowed_hosts=frozenset({"127.0.0.1:9"}), clock=clock)
    with live_server(create_app(store, settings)) as (host, port):
        b = Browser(host, port)
        status, _, _ = b.request("GET", "/login", headers={"Host": "rebound.example:80"})
        assert status == 400
        status, _, _ = b.request("GET", "/login", headers={"Host": "127.0.0.1:9"})
        assert status == 200


def test_review_page_while_a_session_is_being_written(server, store, tmp_path):
    """A second process writes turns while staff watch the session page."""
    writer = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[2])
        from massage_check.store import TranscriptStore
        s = TranscriptStore.open(sys.argv[1])
        sid = s.begin_session({"session_id": "cafe0001", "mode": "voice"})
        print("begun", flush=True)
        for i in range(40):
            s.add_turn(sid, {"index": i, "prompt": "q", "heard": "no", "confidence": 0.9,
                             "interpretation": "no", "answer": "no"})
            time.sleep(0.02)
        s.finish_session(sid, "no_clear_need", [], "done", {}, "result")
    """)
    child = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path / "data"), str(REPO)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "begun"
    b = Browser(*server)
    assert b.login(PIN) == 302
    counts = []
    while child.poll() is None:
        status, _, body = b.request("GET", "/session/cafe0001")
        assert status == 200
        counts.append(body.count(b"<td>no</td>") // 2)
        assert b.request("GET", "/")[0] == 200
    child.wait(timeout=30)
    status, _, body = b.request("GET", "/session/cafe0001")
    assert b"No clear need" in body and body.count(b"<td>no</td>") == 80
    assert counts == sorted(counts) and len(set(counts)) > 2     # saw it grow, never go back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_review_command_with_pin_set_by_the_cli(store, tmp_path):
    env = env_for(tmp_path / "data", tmp_path / "config.yaml")
    cli = [sys.executable, "-m", "massage_check.cli"]
    port = _free_port()
    no_pin = subprocess.run(cli + ["review", "--port", str(port)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert no_pin.returncode == 2 and "review set-pin" in no_pin.stderr
    weak = subprocess.run(cli + ["review", "set-pin", "--pin-stdin"], input="1234\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert weak.returncode == 2 and "at least 6" in weak.stderr
    ok = subprocess.run(cli + ["review", "set-pin", "--pin-stdin"], input="830571\n", env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    config_text = (tmp_path / "config.yaml").read_text()
    assert "830571" not in config_text and "review_pin_hash: scrypt$" in config_text

    server = subprocess.Popen(cli + ["review", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "review server did not start"
                time.sleep(0.1)
        b = Browser("127.0.0.1", port)
        assert b.login("000000") == 401
        assert b.login("830571") == 302
        status, _, body = b.request("GET", "/")
        assert status == 200 and store.newest[:8].encode() in body
        # bound to loopback only
        other = [a for a in socket.gethostbyname_ex(socket.gethostname())[2] if not a.startswith("127.")]
        for addr in other[:1]:
            with pytest.raises(OSError):
                socket.create_connection((addr, port), timeout=1).close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "review_server_start" in [e["action"] for e in store.audit_log()]


def test_missing_session_and_lower_priority_rules(server, store):
    other = next(r for r in RULES.rules if r.outcome.value != "see_doctor_first")
    sid = store.begin_session({"mode": "text", "rules_sha256": "0" * 64})
    store.finish_session(sid, "see_doctor_first", [RULE.id, other.id], "x", {}, "result")
    b = Browser(*server)
    assert b.login(PIN) == 302
    status, _, body = b.request("GET", f"/session/{sid}")
    page = body.decode()
    assert status == 200
    # only the lower-priority rule is marked as not deciding the outcome
    assert page.count("a higher-priority rule decided the outcome") == 1
    assert page.index(other.id) < page.index("a higher-priority rule decided")
    assert "The rules file has changed since this session" in page        # hash differs from the current file
    status, _, body = b.request("GET", "/session/0123456789abcdef")
    assert status == 404 and b"no such session" in body
    assert ("view_session_missing", "0123456789abcdef") in [(e["action"], e["session_id"]) for e in store.audit_log()]
