"""`massage-check models list|fetch|use|verify`: the speech models on this machine.

The built-in answer model ships with the product; official Vosk models (larger,
open vocabulary) are downloaded into the data directory and chosen with `models use`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from massage_check import config
from massage_check.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list, download, choose and check speech models",
        description="List, download (official Vosk models), choose and check speech models.")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True
    dir_help = ("models directory (default: <data dir>/models; data dir = $MASSAGE_CHECK_DATA_DIR, "
                "config data_dir, or $XDG_DATA_HOME/massage-check)")

    p = sub.add_parser("list", help="installed and known models, and which one is active")
    p.add_argument("--dir", type=Path, help=dir_help)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("fetch", help="download and install an official Vosk model",
                       description="Download an official Vosk model (resuming a broken download), "
                       "verify it and install it. It is then selectable with `models use NAME`.")
    p.add_argument("name", metavar="NAME", help="model name, e.g. vosk-model-small-en-us-0.15")
    p.add_argument("--url", help="zip URL, or base URL of a mirror holding NAME.zip "
                   "(default: config model_base_url)")
    p.add_argument("--dir", type=Path, help=dir_help)
    p.add_argument("--force", action="store_true", help="replace an installed model of that name")
    p.add_argument("--use", action="store_true", help="also make it the active model")
    p.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds (30)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("use", help="make a model the active one (writes the config file)")
    p.add_argument("model", metavar="NAME_OR_PATH")
    p.add_argument("--dir", type=Path, help=dir_help)
    p.set_defaults(func=cmd_use)

    p = sub.add_parser("verify", help="load a model with libvosk and check it knows every dialog word")
    p.add_argument("model", metavar="NAME_OR_PATH", nargs="?",
                   help="model name or directory (default: the active model)")
    p.add_argument("--dir", type=Path, help=dir_help)
    p.set_defaults(func=cmd_verify)


def _models_dir(args: argparse.Namespace, cfg: config.Config) -> Path:
    return args.dir.expanduser() if args.dir else config.models_dir(cfg)


def _size(n: int | float | None) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return "-"


def _is_active(active: str, name: str, path: Path) -> bool:
    if active == name:
        return True
    candidate = Path(active).expanduser()
    return candidate.is_absolute() and candidate.resolve() == path.resolve()


def cmd_list(args: argparse.Namespace) -> int:
    from models.official import load_catalog
    from models.registry import active_model_name, installed_models

    cfg = config.load_config()
    mdir = _models_dir(args, cfg)
    active = active_model_name(cfg)
    installed = installed_models(mdir)
    rows = [("", "NAME", "LANGUAGE", "SIZE", "GRAMMAR", "WHERE")]
    active_found = False
    for m in installed:
        is_active = _is_active(active, m.name, m.path)
        active_found |= is_active
        where = str(m.path) if m.problem is None else f"{m.path} (BROKEN: {m.problem})"
        rows.append(("*" if is_active else "", m.name, m.language, _size(m.size_bytes),
                     m.grammar or "-", f"{m.kind}: {where}"))
    names = {m.name for m in installed}
    for entry in load_catalog().values():
        if entry.name not in names:
            approx = f"~{entry.approx_mb:.0f} MB" if entry.approx_mb else "-"
            rows.append(("", entry.name, entry.language, approx, entry.grammar,
                          f"not installed: massage-check models fetch {entry.name}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    print(f"\nmodels directory: {mdir}")
    print(f"active model: {active} (config key 'model', {cfg.path})")
    if not active_found:
        print(f"warning: the active model '{active}' is not installed; choose one with "
              "massage-check models use NAME", file=sys.stderr)
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from models.official import fetch_model

    cfg = config.load_config()
    mdir = _models_dir(args, cfg)
    try:
        result = fetch_model(args.name, mdir, base_url=cfg["model_base_url"], url=args.url,
                             force=args.force, progress=not args.no_progress, timeout=args.timeout)
    except KeyboardInterrupt:
        print(f"\nmassage-check: download of {args.name} interrupted, nothing was installed; run the "
              "same command again to resume", file=sys.stderr)
        return 130
    resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
    print(f"installed {result.name} in {result.path}")
    print(f"  from {result.url} ({result.size} bytes{resumed})")
    if result.sha256_pinned:
        print(f"  sha256 {result.sha256} (matches the catalog)")
    else:
        print(f"  sha256 {result.sha256} (not pinned in the catalog: only size and structure "
              "were checked)")
    if args.use:
        return _use(result.name, mdir, cfg)
    print(f"make it the active model with: massage-check models use {result.name}"
          + (f" --dir {mdir}" if args.dir else ""))
    return 0


def _use(name_or_path: str, mdir: Path, cfg: config.Config) -> int:
    from models.registry import check_model_dir, resolve_model

    model = resolve_model(name_or_path, mdir)
    check_model_dir(model.path)
    # A name only resolves through the default models directory; anything else is stored as a path.
    value = model.name if (model.kind == "built-in"
                           or (model.kind == "downloaded" and mdir == config.models_dir(cfg))) \
        else str(model.path.resolve())
    written = config.set_value("model", value, cfg.path)
    print(f"active model: {value} (written to {written})")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    cfg = config.load_config()
    return _use(args.model, _models_dir(args, cfg), cfg)


def cmd_verify(args: argparse.Namespace) -> int:
    from models.registry import active_model_name, resolve_model
    from models.verify import verify_model

    cfg = config.load_config()
    mdir = _models_dir(args, cfg)
    model = resolve_model(args.model or active_model_name(cfg), mdir)
    if model.kind == "built-in":
        from models.answer_model import verify_manifest

        check = verify_manifest(model.path)
        if not check.ok:
            raise UserError("the built-in model's files do not match its manifest: "
                            + "; ".join(check.problems[:5])
                            + ". Reinstall massage-check or rebuild it: python -m models.build")
    report = verify_model(model.path)
    print(f"model {model.name}: loaded by libvosk in {report.load_seconds:.2f} s from {report.path}")
    print(f"  grammar: {'runtime phrase lists (lookahead graph)' if report.grammar == 'runtime' else 'static graph (HCLG.fst)'}")
    if report.missing:
        raise UserError(
            f"model {model.name} ({report.path}) lacks {len(report.missing)} of the "
            f"{len(report.words)} words the dialog listens for: {', '.join(report.missing)}. "
            "The dialog would never hear them. Use a model that has them, or remove the "
            "phrases from the 'spoken' lists in dialog/vocabulary.yaml")
    if model.kind == "built-in":
        print("  files: match the manifest (sha256)")
    print(f"  vocabulary: all {len(report.words)} dialog words present")
    return 0
