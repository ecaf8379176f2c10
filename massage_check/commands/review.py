"""`massage-check review`: the staff review page; `review set-pin`; `review audit`."""
from __future__ import annotations

import argparse
import getpass
import ipaddress
import sys

from massage_check.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "review", help="staff web page to review stored sessions (127.0.0.1 only by default)",
        description="Serve the staff review page. Set the staff PIN first with `massage-check review set-pin`.")
    p.add_argument("--host", help="address to listen on (default: review_host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: review_port, 8080)")
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
    if not _is_loopback(host):
        print(f"massage-check: warning: serving on {host}: the page is plain HTTP, reachable from the "
              "network. Use only on a trusted network.", file=sys.stderr)
    store = TranscriptStore.from_config(cfg)
    for notice in store.report.notices:
        print(f"massage-check: note: {notice}", file=sys.stderr)
    names = (host, "127.0.0.1", "localhost", "[::1]")
    hosts = {f"{h}:{port}" for h in names} | (set(names) if port == 80 else set())  # browsers omit :80
    app = create_app(store, ReviewSettings(pin_hash=pin_hash, idle_minutes=int(cfg.get("review_idle_minutes") or 15),
                                           allowed_hosts=None if host in ("0.0.0.0", "::") else frozenset(hosts)))
    store.audit("system", "review_server_start", detail=f"{host}:{port}")
    print(f"Staff review page: http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/ "
          "(Ctrl+C to stop)", flush=True)
    return serve(app, host, port)


def serve(app, host: str, port: int) -> int:  # noqa: ANN001 - a WSGI app
    """Run under waitress (a production WSGI server; pure Python, fine on a Pi)."""
    import waitress
    try:
        waitress.serve(app, host=host, port=port, threads=4, ident="massage-check")
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}. "
                        "Choose another --port or stop the program using it.") from exc
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
