"""The staff review web app (Flask): log in with the PIN, list sessions, read one, export CSV,
and the desk's "needs attention" list (refreshes itself; acknowledge with a name).

Why these defences on a page that listens on 127.0.0.1: the kiosk runs a browser
that patients may touch, and what they answered is health information. So:
nothing is shown without a server-side login session (revocable, idle timeout),
the cookie is HttpOnly + SameSite=Strict, every POST carries a CSRF token, wrong
PINs are rate-limited, pages are never cached, only known Host headers are
served (DNS rebinding), and every access goes to the audit log (the list's own
automatic refreshes excepted: they would add thousands of lines a day; each one
notes the desk as watching instead, see store.attention).
"""
from __future__ import annotations

import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for

from massage_check.review.auth import LoginLimiter, verify_pin
from massage_check.review.chime import chime_wav
from massage_check.review.citations import RulesInfo, load_rules_info
from massage_check.store import (AttentionError, TranscriptStore, UnknownSession, acknowledge, list_attention,
                                 note_desk_view)
from massage_check.store.export import csv_bytes

OUTCOME_LABELS = {
    "see_doctor_first": "See a doctor first",
    "ask_staff": "Ask staff",
    "massage_with_care": "Massage with care",
    "likely_to_help": "Likely to help",
    "no_clear_need": "No clear need",
}
_SID = re.compile(r"^[0-9a-zA-Z]{1,64}$")
_NAME = re.compile(r"^[\w .'-]{1,40}$")
_SEEN = re.compile(r"^[0-9T:.+-]{0,40}$")       # an ISO time as written by the store
PUBLIC_ENDPOINTS = {"login", "login_post"}


@dataclass
class ReviewSettings:
    pin_hash: str
    idle_minutes: int = 15
    allowed_hosts: frozenset[str] | None = None   # Host header values served; None = any (tests)
    list_limit: int = 500
    rules_info: RulesInfo | None = None
    refresh_seconds: int = 20                      # the list page reloads itself (0 = never)
    alert_sound: bool = True                       # chime when a new session needs attention
    secure_cookies: bool = False                   # True when served over HTTPS
    clock: Callable[[], float] = time.monotonic
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


class _Logins:
    """Server-side login sessions: token -> (staff name, last activity). Logout revokes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._active: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def start(self, name: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._active[token] = (name, self.clock())
        return token

    def touch(self, token: str | None, idle_seconds: float) -> str | None:
        """The staff name if the login is live (and mark activity), else None."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            entry = self._active.get(token)
            if entry is None:
                return None
            if now - entry[1] > idle_seconds:
                del self._active[token]
                return None
            self._active[token] = (entry[0], now)
            return entry[0]

    def end(self, token: str | None) -> None:
        with self._lock:
            self._active.pop(token or "", None)


def local_time(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def create_app(store: TranscriptStore, settings: ReviewSettings) -> Flask:
    """The WSGI app; `store` is shared (one SQLite connection per server thread)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),          # new per start: old cookies die with the server
        SESSION_COOKIE_NAME="mc_review",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,   # HTTPS: never sent in clear
        MAX_CONTENT_LENGTH=16 * 1024,
    )
    logins = _Logins(settings.clock)
    idle_seconds = settings.idle_minutes * 60
    rules_info = settings.rules_info or load_rules_info()
    app.jinja_env.globals.update(outcome_label=lambda o: OUTCOME_LABELS.get(o or "", o or "-"),
                                 local_time=local_time)

    def who() -> str:
        return f"{g.get('staff') or 'anonymous'}@{request.remote_addr or '?'}"

    def audit(action: str, session_id: str | None = None, detail: str | None = None) -> None:
        store.audit(f"review:{who()}", action, session_id, detail)

    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def guard() -> Any:
        if settings.allowed_hosts is not None and request.host not in settings.allowed_hosts:
            abort(400, "unknown Host header")
        if request.method == "POST":
            sent = request.form.get("csrf", "")
            if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
                audit("csrf_rejected", detail=request.path)
                abort(403, "the form was out of date or not sent from this page: reload and try again")
        g.staff = logins.touch(session.get("login"), idle_seconds)
        if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
            audit("denied_no_login", detail=request.path)
            return redirect(url_for("login"))
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; media-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @app.get("/login")
    def login() -> Any:
        if g.staff:
            return redirect(url_for("sessions"))
        return render_template("login.html", error=None)

    @app.post("/login")
    def login_post() -> Any:
        attempt = settings.limiter.check()
        if not attempt.allowed:
            audit("login_locked")
            wait = int(attempt.retry_after) + 1
            resp = Response(render_template("login.html", error=f"Too many wrong PINs. Try again in {wait} seconds."),
                            status=429)
            resp.headers["Retry-After"] = str(wait)
            return resp
        name = (request.form.get("name") or "").strip()
        pin = request.form.get("pin") or ""
        if not _NAME.match(name):
            return render_template("login.html", error="Enter your name or initials (for the access log)."), 400
        if not verify_pin(pin, settings.pin_hash):
            wait = settings.limiter.failed()
            g.staff = name
            audit("login_failed", detail="locked for %d s" % wait if wait else None)
            return render_template("login.html", error="Wrong PIN."), 401
        settings.limiter.succeeded()
        logins.end(session.get("login"))
        session.clear()
        session["login"] = logins.start(name)
        session["csrf"] = secrets.token_urlsafe(32)   # new token after login (no fixation)
        g.staff = name
        audit("login")
        return redirect(url_for("sessions"))

    @app.post("/logout")
    def logout() -> Any:
        audit("logout")
        logins.end(session.get("login"))
        session.clear()
        return redirect(url_for("login"))

    @app.get("/")
    def sessions() -> Any:
        outcome = request.args.get("outcome") or None
        if outcome and outcome not in OUTCOME_LABELS:
            abort(400, "unknown outcome filter")
        auto = request.args.get("auto") == "1"        # the page's own refresh, not a person
        seen = request.args.get("seen") or ""          # newest flag the page has already shown
        if not _SEEN.match(seen):
            seen = ""
        store.maybe_purge()
        store.mark_interrupted()                       # a kiosk that died mid-session shows up now
        attention = list_attention(store)
        rows = store.list_sessions(outcome=outcome, limit=settings.list_limit)
        note_desk_view(store, who())
        if not auto:
            audit("view_list", detail=f"{len(rows)} sessions, {len(attention)} need attention"
                  + (f", outcome={outcome}" if outcome else ""))
        newest = max([a.flagged_at for a in attention] + [seen])
        chime = settings.alert_sound and any(a.flagged_at > seen for a in attention)
        refresh_url = url_for("sessions", outcome=outcome, auto=1, seen=newest or None)
        return render_template("list.html", rows=rows, outcome=outcome, outcomes=OUTCOME_LABELS,
                               staff=g.staff, limit=settings.list_limit, attention=attention,
                               refresh=settings.refresh_seconds, refresh_url=refresh_url, chime=chime)

    @app.post("/attention/<sid>/ack")
    def ack(sid: str) -> Any:
        if not _SID.match(sid):
            abort(404)
        try:
            acknowledge(store, sid, request.form.get("by") or "", actor=f"review:{who()}")
        except UnknownSession:
            abort(404, "no such session (it may have been deleted)")
        except AttentionError as exc:
            abort(409, str(exc))
        back = url_for("session_view", sid=sid) if request.form.get("back") == "session" else url_for("sessions")
        return redirect(back, code=303)

    @app.get("/alert.wav")
    def alert_sound() -> Any:
        return Response(chime_wav(), mimetype="audio/wav")

    @app.get("/session/<sid>")
    def session_view(sid: str) -> Any:
        if not _SID.match(sid):
            abort(404)
        try:
            rec = store.get_session(sid)
        except UnknownSession:
            audit("view_session_missing", sid)
            abort(404, "no such session (it may have been deleted)")
        audit("view_session", sid)
        fired = [rules_info.rule(rid) for rid in rec["rules"]]
        return render_template("session.html", rec=rec, fired=fired, info=rules_info,
                               same_rules=rules_info.same_rules(rec), staff=g.staff)

    @app.get("/export.csv")
    def export_csv() -> Any:
        outcome = request.args.get("outcome") or None
        if outcome and outcome not in OUTCOME_LABELS:
            abort(400, "unknown outcome filter")
        records = list(store.iter_sessions(outcome=outcome))
        audit("export_csv", detail=f"{len(records)} sessions" + (f", outcome={outcome}" if outcome else ""))
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        return Response(csv_bytes(records), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="massage-check-{stamp}.csv"'})

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(409)
    def error(exc: Any) -> Any:
        return render_template("error.html", code=exc.code, message=exc.description), exc.code

    return app
