"""Download, resume, verify and install official Vosk models (`massage-check models fetch`).

Nothing is ever half-installed: the archive is downloaded to
`<models>/.downloads/<name>.zip.part` (kept on interruption so the next run resumes
with an HTTP Range request), checked (size, sha256 when pinned, zip CRCs, safe member
paths), extracted into a hidden temporary directory beside the target, checked as a
model directory (and loaded with libvosk), and only then renamed into place.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from massage_check.cli import UserError
from models.answer_model import sha256_file
from models.registry import SOURCE_FILE, check_model_dir, load_model

CATALOG_FILE = Path(__file__).resolve().with_name("catalog.yaml")
DEFAULT_BASE_URL = "https://alphacephei.com/vosk/models"
DOWNLOADS = ".downloads"
CHUNK = 64 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FetchError(UserError):
    """A download or an archive failed; the message says what happened and what to do."""


@dataclass(frozen=True)
class CatalogEntry:
    """One known official model (models/catalog.yaml)."""

    name: str
    language: str
    description: str
    url: str | None  # None = <base url>/<name>.zip
    size: int | None  # exact zip size in bytes, None when not pinned
    sha256: str | None  # hex digest of the zip, None when not pinned
    approx_mb: float | None
    grammar: str
    license: str


@dataclass(frozen=True)
class FetchResult:
    """What `fetch_model` installed."""

    name: str
    path: Path
    url: str
    size: int  # archive bytes
    sha256: str
    resumed_from: int  # bytes already on disk when this run started (0 = fresh download)
    sha256_pinned: bool


def load_catalog(path: Path = CATALOG_FILE) -> dict[str, CatalogEntry]:
    """Read and validate the catalog of known official models."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FetchError(f"{path}: cannot read the model catalog: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise FetchError(f"{path}: expected a mapping with a 'models' mapping")
    entries: dict[str, CatalogEntry] = {}
    for name, spec in data["models"].items():
        where = f"{path}: model '{name}'"
        if not isinstance(spec, dict):
            raise FetchError(f"{where}: expected a mapping of fields")
        if not _NAME_RE.match(str(name)):
            raise FetchError(f"{where}: a name may hold only letters, digits, '.', '_' and '-'")
        unknown = set(spec) - {"language", "description", "url", "size", "sha256", "approx_mb",
                               "grammar", "license"}
        if unknown:
            raise FetchError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        size, sha = spec.get("size"), spec.get("sha256")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
            raise FetchError(f"{where}: size must be a positive number of bytes or null")
        if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise FetchError(f"{where}: sha256 must be 64 lower-case hex digits or null")
        if not isinstance(spec.get("language"), str):
            raise FetchError(f"{where}: language is required (e.g. en-us)")
        entries[name] = CatalogEntry(
            name=name, language=spec["language"], description=str(spec.get("description", "")),
            url=spec.get("url"), size=size, sha256=sha, approx_mb=spec.get("approx_mb"),
            grammar=str(spec.get("grammar", "?")), license=str(spec.get("license", "?")),
        )
    return entries


def model_url(name: str, base_url: str | None = None, url: str | None = None,
              entry: CatalogEntry | None = None) -> str:
    """Where to download `name` from: `url` (a .zip URL, or a base URL), else the catalog's
    url, else `<base_url>/<name>.zip`."""
    if url:
        return url if url.lower().split("?")[0].endswith(".zip") else f"{url.rstrip('/')}/{name}.zip"
    if entry is not None and entry.url:
        return entry.url
    return f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{name}.zip"


# --- download -----------------------------------------------------------------------------

def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass


def _read_meta(meta: Path) -> dict[str, Any]:
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _discard(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def download(url: str, part: Path, *, expected_size: int | None = None, timeout: float = 30.0,
             progress: bool = True, label: str = "") -> tuple[int, int]:
    """Download `url` into `part`, resuming what is already there.

    Returns (total bytes, bytes that were already on disk). An interrupted transfer keeps
    `part` (and a small `.json` beside it with the URL and the server's ETag, sent back as
    If-Range so a changed file is downloaded afresh) and raises FetchError.
    """
    from tqdm import tqdm

    meta_path = part.with_name(part.name + ".json")
    part.parent.mkdir(parents=True, exist_ok=True)
    meta = _read_meta(meta_path)
    if part.exists() and meta.get("url") != url:
        _discard(part, meta_path)  # a partial file from another URL is worthless here
        meta = {}
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        _discard(part, meta_path)
        have, meta = 0, {}
    resumed_from = have

    headers = {"User-Agent": "massage-check (model fetch)", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            m = re.search(r"/(\d+)", exc.headers.get("Content-Range", "") or "")
            if m and int(m.group(1)) == have:
                return have, resumed_from  # everything was already downloaded
            _discard(part, meta_path)
            raise FetchError(f"{url}: the server refused to resume (HTTP 416); the partial download "
                             "was removed, run the same command again to start afresh") from exc
        raise FetchError(f"{url}: the server answered HTTP {exc.code} {exc.reason}. Check the model "
                         "name (massage-check models list) and the URL (--url or config "
                         "model_base_url)") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {url}: {reason}. Check the network, or download from a "
                         "mirror with --url or the config key model_base_url") from exc

    with resp:
        if resp.status == 206:
            m = _RANGE_RE.match(resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                _discard(part, meta_path)
                raise FetchError(f"{url}: the server resumed at the wrong place "
                                 f"(Content-Range {resp.headers.get('Content-Range')!r}); the partial "
                                 "download was removed, run the same command again")
            total = int(m.group(3)) if m.group(3) != "*" else None
            mode = "ab"
        elif resp.status == 200:
            have, resumed_from, mode = 0, 0, "wb"  # full body: start over
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise FetchError(f"{url}: unexpected HTTP status {resp.status}")
        meta = {"url": url, "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"), "total": total}
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
        if expected_size is not None and total is not None and total != expected_size:
            _discard(part, meta_path)
            raise FetchError(f"{url}: the server offers {total} bytes but the catalog pins "
                             f"{expected_size} bytes: wrong or changed file, nothing was installed. "
                             "Check the mirror, or the catalog entry (models/catalog.yaml)")
        with part.open(mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=label or part.stem,
                                          disable=not progress, leave=False) as bar:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (http.client.HTTPException, socket.timeout, OSError) as exc:
                    out.flush()
                    raise _interrupted(url, part, have, total, exc) from exc
                if not chunk:
                    break
                out.write(chunk)
                have += len(chunk)
                bar.update(len(chunk))
    if total is not None and have != total:
        raise _interrupted(url, part, have, total, None)
    return have, resumed_from


def _interrupted(url: str, part: Path, have: int, total: int | None, exc: BaseException | None) -> FetchError:
    why = f" ({exc})" if exc else ""
    of = f" of {total}" if total is not None else ""
    return FetchError(f"download of {url} was interrupted after {have}{of} bytes{why}. Nothing was "
                      f"installed; run the same command again to resume (partial file: {part})")


# --- archive checks and installation -------------------------------------------------------

def check_archive(archive: Path, dest_dir: Path) -> zipfile.ZipFile:
    """Open the zip and check every member's CRC, member paths and the free disk space."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"the downloaded file is not a valid zip archive ({exc}): a damaged "
                         "download or a wrong URL. Nothing was installed") from exc
    try:
        for info in zf.infolist():
            name = info.filename
            parts = Path(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
                raise FetchError(f"the archive holds an unsafe path {name!r}; refusing to unpack it")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise FetchError(f"the archive holds a symbolic link {name!r}; refusing to unpack it")
        try:
            bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise FetchError(f"the archive is damaged ({exc}). Nothing was installed; run the "
                             "command again to download it afresh") from exc
        if bad is not None:
            raise FetchError(f"the archive is damaged: {bad!r} fails its CRC check. Nothing was "
                             "installed; run the command again to download it afresh")
        needed = sum(i.file_size for i in zf.infolist())
        free = shutil.disk_usage(dest_dir).free
        if needed > free:
            raise FetchError(f"not enough disk space in {dest_dir}: the model needs "
                             f"{needed / 1e6:.0f} MB, {free / 1e6:.0f} MB are free")
    except BaseException:
        zf.close()
        raise
    return zf


def _model_root(unpacked: Path) -> Path:
    """The model directory inside an unpacked archive: the top level, or its only directory."""
    if (unpacked / "am").exists() or (unpacked / "conf").exists():
        return unpacked
    children = [c for c in unpacked.iterdir() if not c.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return unpacked


def _clean_stale(models_dir: Path, name: str) -> None:
    """Remove unpack/replace directories a killed earlier run left behind.

    A run killed between the two renames of --force leaves the old model only in
    `.<name>.old-*/<name>`: it is put back rather than deleted.
    """
    target = models_dir / name
    for stale in sorted(models_dir.glob(f".{name}.*")):
        if not stale.is_dir():
            continue
        if stale.name.startswith(f".{name}.old-") and not target.exists() and (stale / name).is_dir():
            os.rename(stale / name, target)
        shutil.rmtree(stale, ignore_errors=True)


def install_archive(archive: Path, models_dir: Path, name: str, *, force: bool = False,
                    load_check: bool = True, source: dict[str, Any] | None = None) -> Path:
    """Unpack `archive` as model `name` in `models_dir`, atomically; return the model path."""
    target = models_dir / name
    _clean_stale(models_dir, name)
    if target.exists() and not force:
        raise FetchError(f"{target} already exists; add --force to replace it")
    work = Path(tempfile.mkdtemp(prefix=f".{name}.unpack-", dir=models_dir))
    try:
        with check_archive(archive, models_dir) as zf:
            zf.extractall(work)
        root = _model_root(work)
        try:
            check_model_dir(root)
        except UserError as exc:
            raise FetchError(f"the archive from {(source or {}).get('url', archive)} is not a usable "
                             f"Vosk model: {exc.args[0].replace(str(root), 'the unpacked archive')} "
                             "Nothing was installed") from exc
        if load_check:
            try:
                model = load_model(root)
                del model
            except UserError as exc:
                raise FetchError("the downloaded model does not load, nothing was installed: "
                                 + exc.args[0].replace(str(root), "the unpacked archive")) from exc
        if source is not None:
            (root / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        if target.exists():  # --force: swap in, then remove the old one
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=models_dir))
            os.rename(target, old / name)
            try:
                os.rename(root, target)
            except OSError:
                os.rename(old / name, target)  # put the old model back
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(root, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def fetch_model(name: str, models_dir: Path, *, base_url: str | None = None, url: str | None = None,
                force: bool = False, progress: bool = True, timeout: float = 30.0,
                load_check: bool = True, catalog: dict[str, CatalogEntry] | None = None) -> FetchResult:
    """Download (resuming), verify and install official model `name` into `models_dir`."""
    if not _NAME_RE.match(name):
        raise FetchError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")
    catalog = load_catalog() if catalog is None else catalog
    entry = catalog.get(name)
    if entry is None and not url:
        known = ", ".join(sorted(catalog)) or "none"
        raise FetchError(f"unknown model '{name}'. Known models: {known}. For another model give "
                         "its zip URL with --url")
    target = models_dir / name
    if models_dir.is_dir():
        _clean_stale(models_dir, name)
    if target.exists() and not force:
        raise FetchError(f"model '{name}' is already installed at {target}; add --force to "
                         "download it again")
    models_dir.mkdir(parents=True, exist_ok=True)
    src = model_url(name, base_url, url, entry)
    part = models_dir / DOWNLOADS / f"{name}.zip.part"
    meta = part.with_name(part.name + ".json")
    expected_size = entry.size if entry else None
    expected_sha = entry.sha256 if entry else None

    try:
        size, resumed_from = download(src, part, expected_size=expected_size, timeout=timeout,
                                      progress=progress, label=name)
    except UserError:
        _remove_if_empty(models_dir / DOWNLOADS)  # a kept partial file keeps the directory
        raise
    try:
        if expected_size is not None and size != expected_size:
            raise FetchError(f"{src}: downloaded {size} bytes but the catalog pins {expected_size}: "
                             "wrong file. Nothing was installed")
        digest = sha256_file(part)
        if expected_sha is not None and digest != expected_sha:
            raise FetchError(f"{src}: sha256 mismatch, got {digest}, the catalog pins {expected_sha}: "
                             "damaged or wrong file. Nothing was installed; run the command again to "
                             "download it afresh")
        source = {"name": name, "url": src, "size": size, "sha256": digest,
                  "sha256_pinned": expected_sha is not None,
                  "language": entry.language if entry else "?",
                  "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        path = install_archive(part, models_dir, name, force=force, load_check=load_check,
                               source=source)
    except UserError:
        _discard(part, meta)  # a complete but bad archive must not be "resumed" next time
        _remove_if_empty(models_dir / DOWNLOADS)
        raise
    _discard(part, meta)
    _remove_if_empty(models_dir / DOWNLOADS)
    return FetchResult(name=name, path=path, url=src, size=size, sha256=digest,
                       resumed_from=resumed_from, sha256_pinned=expected_sha is not None)
