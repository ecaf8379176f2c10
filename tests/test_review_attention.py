"""The review page's "needs attention" list over real HTTP: first on the page, refreshing, chime, acknowledge."""
from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import textwrap
import wave
from html import unescape

import pytest
from store_support import REPO, Browser, add_session, live_server

from massage_check.review.app import ReviewSettings, create_app
from massage_check.review.auth import hash_pin
from massage_check.store import TranscriptStore, desk_seen_within

PIN = "604213"
HASH = hash_pin(PIN)


@pytest.fixture
def store(tmp_path):
    s = TranscriptStore.open(tmp_path / "data")
    s.calm = add_session(s, outcome="likely_to_help")
    s.unsure = add_session(s, outcome="ask_staff")
    s.doctor = add_session(s, outcome="see_doctor_first")
    return s


def serve(store, **settings):
    return live_server(create_app(store, ReviewSettings(pin_hash=HASH, **settings)))


def logged_in(host: str, port: int, name: str = "Desk") -> Browser:
    b = Browser(host, port)
    assert b.login(PIN, name) == 302
    return b


def attention_ids(page: str) -> list[str]:
    table = page.split('id="attention"', 1)[1].split("</table>", 1)[0] if 'id="attention"' in page else ""
    return re.findall(r'id="attn-([0-9a-f]+)"', table)


def refresh_url(page: str) -> str:
    m = re.search(r'<meta http-equiv="refresh" content="(\d+);url=([^"]+)">', page)
    assert m, "no meta refresh on the list page"
    return unescape(m.group(2))


def test_flagged_sessions_come_first_with_banner_title_and_refresh(store):
    with serve(store, refresh_seconds=7) as (host, port):
        b = logged_in(host, port)
        status, _, body = b.request("GET", "/")
        page = body.decode()
    assert status == 200
    assert attention_ids(page) == [store.doctor, store.unsure]               # most urgent first
    assert page.index('id="alert"') < page.index('id="attention"') < page.index('id="sessions"')
    assert "2 patients need a member of staff now" in page
    assert re.search(r"<title>\(2\) NEEDS ATTENTION", page)
    assert 'content="7;url=/?auto=1' in page and "<script" not in page
    assert store.calm not in " ".join(attention_ids(page))
    row = page.split(f'id="attn-{store.unsure}"')[1].split("</tr>")[0]
    assert 'name="by" value="Desk"' in row and 'name="csrf"' in row           # prefilled with the login name


def test_no_refresh_when_turned_off_and_a_calm_page_without_flags(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    add_session(store, outcome="likely_to_help")
    with serve(store, refresh_seconds=0) as (host, port):
        page = logged_in(host, port).request("GET", "/")[2].decode()
    assert 'http-equiv="refresh"' not in page and 'id="no-attention"' in page and 'id="alert"' not in page
    assert re.search(r"<title>massage-check review</title>", page)


def test_chime_plays_for_new_flags_only_and_auto_refreshes_are_not_audited(store):
    with serve(store, refresh_seconds=5) as (host, port):
        b = logged_in(host, port)
        page = b.request("GET", "/")[2].decode()
        assert '<audio id="chime"' in page and "autoplay" in page             # first look: two waiting
        views = sum(e["action"] == "view_list" for e in store.audit_log())
        page = b.request("GET", refresh_url(page))[2].decode()
        assert '<audio id="chime"' not in page and len(attention_ids(page)) == 2   # same two: quiet
        newcomer = add_session(store, outcome="ask_staff")
        page = b.request("GET", refresh_url(page))[2].decode()
        assert '<audio id="chime"' in page and newcomer in attention_ids(page)     # a new one: chime
        page = b.request("GET", refresh_url(page))[2].decode()
        assert '<audio id="chime"' not in page
        assert sum(e["action"] == "view_list" for e in store.audit_log()) == views  # refreshes not logged
        assert desk_seen_within(store, 10)                                          # but the desk is watching
        status, headers, wav = b.request("GET", "/alert.wav")
        assert status == 200 and headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(wav)) as w:
            assert w.getnchannels() == 1 and 0.3 < w.getnframes() / w.getframerate() < 1.0
        assert "media-src 'self'" in headers["content-security-policy"]
        assert Browser(host, port).request("GET", "/alert.wav")[0] == 302        # not without a login
    with serve(store, alert_sound=False) as (host, port):
        page = logged_in(host, port).request("GET", "/")[2].decode()
        assert '<audio' not in page and 'id="alert"' in page                    # the banner still shows


def test_acknowledge_with_a_name_once_and_audited(store):
    with serve(store) as (host, port):
        b = logged_in(host, port, "Desk")
        token = b.csrf("/")
        assert b.request("POST", f"/attention/{store.doctor}/ack", {"by": "Ann Lee"})[0] == 403   # no CSRF
        status, headers, _ = b.request("POST", f"/attention/{store.doctor}/ack", {"csrf": token, "by": "Ann Lee"})
        assert status == 303 and headers["location"] == "/"
        page = b.request("GET", "/")[2].decode()
        assert attention_ids(page) == [store.unsure] and "1 patient needs a member of staff now" in page
        assert "acknowledged by Ann Lee" in page
        status, _, body = b.request("POST", f"/attention/{store.doctor}/ack", {"csrf": token, "by": "Bob"})
        assert status == 409 and "already acknowledged by Ann Lee" in body.decode()
        status, _, body = b.request("POST", f"/attention/{store.calm}/ack", {"csrf": token, "by": "Bob"})
        assert status == 409 and "not flagged" in body.decode()
        status, _, body = b.request("POST", f"/attention/{store.unsure}/ack", {"csrf": token, "by": "<b>"})
        assert status == 409 and "name or initials" in body.decode()
        status, headers, _ = b.request("POST", f"/attention/{store.unsure}/ack",
                                       {"csrf": token, "by": "Ann Lee", "back": "session"})
        assert status == 303 and headers["location"] == f"/session/{store.unsure}"
        page = b.request("GET", f"/session/{store.unsure}")[2].decode()
        assert 'id="acknowledged"' in page and "Ann Lee" in page
        page = b.request("GET", "/")[2].decode()
        assert attention_ids(page) == [] and 'id="no-attention"' in page
    acks = [e for e in store.audit_log() if e["action"] == "acknowledge"]
    assert {(e["session_id"], e["detail"], e["actor"]) for e in acks} == {
        (store.doctor, "by Ann Lee", "review:Desk@127.0.0.1"), (store.unsure, "by Ann Lee", "review:Desk@127.0.0.1")}


def test_a_kiosk_that_dies_mid_session_shows_up_on_the_next_refresh(store, tmp_path):
    writer = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[2])
        from massage_check.store import TranscriptStore
        s = TranscriptStore.open(sys.argv[1])
        print(s.begin_session({"mode": "voice"}), flush=True)
        time.sleep(60)
    """)
    with serve(store) as (host, port):
        b = logged_in(host, port)
        child = subprocess.Popen([sys.executable, "-c", writer, str(store.data_dir), str(REPO)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            sid = child.stdout.readline().strip()
            page = b.request("GET", "/")[2].decode()
            assert sid not in attention_ids(page)                  # still talking to a patient
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=20)
        page = b.request("GET", refresh_url(page))[2].decode()
        assert sid in attention_ids(page) and "session cut off before a result" in page
