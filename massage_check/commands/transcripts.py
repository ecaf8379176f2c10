"""`massage-check transcripts list|show|export|delete|purge|ack`: stored sessions for staff.

Every command is written to the audit log (actor cli:<user>), like page views.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path

from massage_check.errors import UserError
from massage_check.store import TranscriptStore, acknowledge, list_attention
from massage_check.store.db import to_utc_iso
from massage_check.store.export import FORMATS, export_bytes
from rules import Outcome

OUTCOMES = tuple(o.value for o in Outcome)


def since_arg(text: str) -> datetime:
    """DATE (YYYY-MM-DD, local midnight) or an ISO date-time."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day).astimezone()
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD (e.g. 2026-11-01) or YYYY-MM-DDTHH:MM") from None


def local_time(iso: str | None) -> str:
    """UTC ISO from the store -> this machine's local time, minutes, for people."""
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in a container is not an error
        return f"cli:uid{os.getuid()}"


def open_store() -> TranscriptStore:
    store = TranscriptStore.from_config()
    for notice in store.report.notices:
        print(f"massage-check: note: {notice}", file=sys.stderr)
    return store


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("transcripts", help="list, show, export or delete stored sessions",
                              description="Stored patient sessions (health information: handle with care).")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    ls = sub.add_parser("list", help="sessions, newest first")
    ls.add_argument("--since", type=since_arg, metavar="DATE", help="only sessions started on/after DATE")
    ls.add_argument("--outcome", choices=OUTCOMES, help="only sessions with this outcome")
    ls.add_argument("--attention", action="store_true",
                    help="only sessions that need a member of staff and are not acknowledged yet "
                         "(most urgent first, then longest waiting)")
    ls.set_defaults(func=cmd_list)

    ack = sub.add_parser("ack", help="acknowledge a session that needs attention (kept in the audit log)")
    ack.add_argument("id", help="session id (a unique prefix of 4+ characters is enough)")
    ack.add_argument("--by", required=True, metavar="NAME", help="your name or initials")
    ack.set_defaults(func=cmd_ack)

    show = sub.add_parser("show", help="one session: every question, what was heard, the outcome and why")
    show.add_argument("id", help="session id (a unique prefix of 4+ characters is enough)")
    show.add_argument("--json", action="store_true", help="print the stored record as JSON")
    show.set_defaults(func=cmd_show)

    ex = sub.add_parser("export", help="write sessions as CSV (one row per turn) or JSON")
    ex.add_argument("--format", choices=FORMATS, default="csv",
                    help="csv: one row per turn, UTF-8 with header (default); json: full records")
    ex.add_argument("--since", type=since_arg, metavar="DATE", help="only sessions started on/after DATE")
    ex.add_argument("--outcome", choices=OUTCOMES, help="only sessions with this outcome")
    ex.add_argument("--output", "-o", type=Path, metavar="FILE",
                    help="file to write (created readable by you only); default: standard output")
    ex.set_defaults(func=cmd_export)

    rm = sub.add_parser("delete", help="delete one session, its turns and audio")
    rm.add_argument("id")
    rm.set_defaults(func=cmd_delete)

    pg = sub.add_parser("purge", help="delete sessions older than retention_days, then compact the file")
    pg.add_argument("--older-than", type=int, metavar="DAYS", help="override retention_days")
    pg.set_defaults(func=cmd_purge)


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store()
    if args.attention:
        return list_needing_attention(store, args)
    rows = store.list_sessions(since=args.since, outcome=args.outcome)
    store.audit(actor(), "list", detail=f"{len(rows)} sessions")
    if not rows:
        print(f"No sessions stored in {store.path}" + (" matching that filter." if args.since or args.outcome
                                                        else "."))
        return 0
    print(f"{'ID':<10} {'STARTED':<16} {'MODE':<5} {'STATUS':<11} {'TURNS':>5}  OUTCOME")
    for s in rows:
        print(f"{s.id[:8]:<10} {local_time(s.started_at):<16} {s.mode:<5} {s.status:<11} {s.turns:>5}  "
              f"{s.outcome or '-'}")
    return 0


def list_needing_attention(store: TranscriptStore, args: argparse.Namespace) -> int:
    since = to_utc_iso(args.since) or ""
    items = [a for a in list_attention(store)
             if (args.outcome is None or a.outcome == args.outcome) and a.started_at >= since]
    store.audit(actor(), "list_attention", detail=f"{len(items)} sessions")
    if not items:
        print("No sessions need attention.")
        return 0
    print(f"{'ID':<10} {'FLAGGED':<16} {'OUTCOME':<17} WHY")
    for a in items:
        print(f"{a.id[:8]:<10} {local_time(a.flagged_at):<16} {a.outcome or '-':<17} {a.reason}")
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    store = open_store()
    sid = store.resolve_id(args.id)
    item = acknowledge(store, sid, args.by, actor=actor())
    print(f"Session {sid[:8]} acknowledged by {item.ack_by} ({item.reason}).")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from massage_check.review.citations import load_rules_info
    store = open_store()
    sid = store.resolve_id(args.id)
    rec = store.get_session(sid)
    store.audit(actor(), "show", sid)
    if args.json:
        print(json.dumps(rec, indent=2, ensure_ascii=False))
        return 0
    info = load_rules_info()
    print(f"Session {rec['session_id']}  ({rec['mode']}, {rec['status']})")
    if rec["attention"]:
        a = rec["attention"]
        print(f"Needs attention since {local_time(a['flagged_at'])}: " + (
            f"acknowledged by {a['acknowledged_by']} at {local_time(a['acknowledged_at'])}"
            if a["acknowledged_at"] else f"NOT acknowledged (massage-check transcripts ack {sid[:8]} --by NAME)"))
    print(f"Started {local_time(rec['started_at'])}, ended {local_time(rec['ended_at'])}"
          f"{', by ' + rec['ended_by'] if rec['ended_by'] else ''}")
    print()
    for t in rec["turns"]:
        heard = "-" if t["heard"] is None else repr(t["heard"])
        conf = "" if t["confidence"] is None else f" ({t['confidence']:.2f})"
        print(f"{t['index']:>3}. [{t['question_id'] or '-'}] {t['prompt']}")
        print(f"     heard {heard}{conf} -> {t['interpretation'] or '-'}"
              f"{'; answer ' + t['answer'] if t['answer'] else ''}")
    print()
    print(f"Outcome: {rec['outcome'] or '(none: session did not finish)'}")
    for rid in rec["rules"]:
        r = info.rule(rid)
        print(f"  rule {rid}: {r.explain or '(rule no longer in the rules file)'}")
        if r.source:
            print(f"    source: {r.source}")
    if rec["explanation"]:
        print(f"Explanation: {rec['explanation']}")
    if info.problem:
        print(f"Note: {info.problem}")
    elif info.same_rules(rec) is False:
        print("Note: the rules file has changed since this session; citations are from the current file.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = open_store()
    records = list(store.iter_sessions(since=args.since, outcome=args.outcome))
    data = export_bytes(records, args.format)
    store.audit(actor(), f"export_{args.format}", detail=f"{len(records)} sessions -> {args.output or 'stdout'}")
    if args.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write the export: {exc.strerror}. "
                        "Choose another --output path.") from exc
    print(f"Wrote {len(records)} session(s) to {args.output} ({args.format}).", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    store = open_store()
    sid = store.resolve_id(args.id)
    store.delete_session(sid)
    store.audit(actor(), "delete", sid)
    print(f"Deleted session {sid}.")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    store = open_store()
    days = store.retention_days if args.older_than is None else args.older_than
    if days <= 0:
        raise UserError("retention_days is 0 (keep sessions until deleted by hand): give --older-than DAYS "
                        "or set retention_days in the config file")
    n = store.purge(days)
    n += store.report.purged
    store.audit(actor(), "purge", detail=f"{n} sessions older than {days} days")
    print(f"Deleted {n} session(s) older than {days} days; database compacted.")
    return 0
