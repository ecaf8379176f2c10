"""`massage-check review`: the staff review page; `review set-pin`; `review audit`."""
from __future__ import annotations

import argparse
import getpass
import socket
import sys

from massage_check.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "review", help="staff web page to review stored sessions (127.0.0.1 only by default)",
        description="Serve the staff review page. Set the staff PIN first with `massage-check review set-pin`.")
    p.add_argument("--host", help="address to listen on (default: review_host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: review_port, 8080)")
    p.add_argument("--scheme", choices=("auto", "https", "http"),
                   help="auto (default: review_scheme): HTTPS unless on 127.0.0.1 with no certificate set; "
                        "http is refused off loopback")
    p.set_defaults(func=cmd_serve)
    sub = p.add_subparsers(dest="action", metavar="[ACTION]")
    sp = sub.add_parser("set-pin", help="set the staff PIN (stored as a salted scrypt hash)")
    sp.add_argument("--pin-stdin", action="store_true",
                    help="read the PIN from standard input instead of asking twice (for scripts)")
    sp.set_defaults(func=cmd_set_pin)
    au = sub.add_parser("audit", help="print the access log, newest first")
    au.add_argument("--limit", type=int, default=50)
    au.set_defaults(func=cmd_audit)


def cmd_set_pin(args: argparse.Namespace) -> int:
    from massage_check import config
    from massage_check.review.auth import PinError, hash_pin
    if args.pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    else:
        pin = getpass.getpass("New staff PIN: ")
        if getpass.getpass("Again: ") != pin:
            raise UserError("the two PINs differ; nothing was changed")
    try:
        hashed = hash_pin(pin)
    except PinError as exc:
        raise UserError(f"{exc}; nothing was changed") from exc
    path = config.set_value("review_pin_hash", hashed)
    print(f"Staff PIN set (hash stored in {path}).")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from massage_check.store import TranscriptStore
    store = TranscriptStore.from_config()
    for e in store.audit_log(args.limit):
        print(f"{e['time']}  {e['actor']:<28} {e['action']:<22} {e['session_id'] or '':<32} {e['detail'] or ''}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from massage_check import config
    from massage_check.review.app import ReviewSettings, create_app
    from massage_check.review.auth import PinError, check_hash_format
    from massage_check.review.tls import choose_scheme, tls_files
    from massage_check.store import TranscriptStore
    cfg = config.load_config()
    pin_hash = cfg.get("review_pin_hash")
    if not pin_hash:
        raise UserError("no staff PIN is set: run `massage-check review set-pin` first")
    try:
        check_hash_format(pin_hash)
    except PinError as exc:
        raise UserError(f"{cfg.path}: {exc}") from exc
    host = args.host or cfg.get("review_host") or "127.0.0.1"
    port = args.port if args.port is not None else int(cfg.get("review_port") or 8080)
    if not 0 < port < 65536:
        raise UserError(f"port {port} is out of range: use 1-65535 (e.g. --port 8080)")
    cert, key = cfg.get("review_tls_cert"), cfg.get("review_tls_key")
    scheme = choose_scheme(host, args.scheme or cfg.get("review_scheme") or "auto", cert, key)
    refresh = int(cfg.get("review_refresh_seconds", 20) or 0)
    if refresh < 0:
        raise UserError(f"{cfg.path}: review_refresh_seconds must be 0 (off) or more, got {refresh}")
    store = TranscriptStore.from_config(cfg)
    for notice in store.report.notices:
        print(f"massage-check: note: {notice}", file=sys.stderr)
    files = tls_files(config.data_dir(cfg), host, cert, key) if scheme == "https" else None
    wildcard = host in ("0.0.0.0", "::")
    names = (host, "127.0.0.1", "localhost", "[::1]")
    default_port = {"http": 80, "https": 443}[scheme]
    hosts = {f"{h}:{port}" for h in names} | (set(names) if port == default_port else set())  # browsers omit it
    app = create_app(store, ReviewSettings(pin_hash=pin_hash, idle_minutes=int(cfg.get("review_idle_minutes") or 15),
                                           allowed_hosts=None if wildcard else frozenset(hosts),
                                           refresh_seconds=refresh, alert_sound=bool(cfg.get("review_alert_sound")),
                                           secure_cookies=scheme == "https"))
    store.audit("system", "review_server_start", detail=f"{scheme}://{host}:{port}"
                + (f" sha256 {files.fingerprint}" if files else ""))
    shown = socket.gethostname() if wildcard else host
    banner = f"Staff review page: {scheme}://{shown}:{port}/ (Ctrl+C to stop)"
    if files is None:
        print(banner, flush=True)
        return serve(app, host, port)
    made = " (self-signed, made now)" if files.created else " (self-signed)" if files.self_signed else ""
    return serve_https(app, host, port, files, ready=(
        f"{banner}\nTLS certificate: {files.cert}{made}\nSHA-256 fingerprint: {files.fingerprint}\n"
        "Before the first login on another computer, check that its browser shows this same "
        "fingerprint for the certificate."))


def serve(app, host: str, port: int) -> int:  # noqa: ANN001 - a WSGI app
    """Run under waitress (a production WSGI server; pure Python, fine on a Pi)."""
    import waitress
    try:
        waitress.serve(app, host=host, port=port, threads=4, ident="massage-check")
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}. "
                        "Choose another --port or stop the program using it.") from exc
    return 0


def serve_https(app, host: str, port: int, files, ready: str) -> int:  # noqa: ANN001 - a WSGI app, TlsFiles
    """Run under cheroot with TLS (waitress has none) until stopped; print `ready` once listening."""
    from massage_check.review.https import https_server
    server = https_server(app, host, port, files)
    try:
        server.prepare()
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}. "
                        "Choose another --port or stop the program using it.") from exc
    print(ready, flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0
