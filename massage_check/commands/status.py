"""`massage-check status`: is the kiosk healthy? (placeholder, filled in below)"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="model, microphone, speaker, service, sessions, disk, database")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=lambda args: 0)
