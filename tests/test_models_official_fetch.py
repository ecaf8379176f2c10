"""`models fetch` mechanics against a real HTTP server on 127.0.0.1: full download, resume
with Range, corruption and interruption never leave a half-installed model."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from models.official import (DOWNLOADS, CatalogEntry, FetchError, fetch_model, load_catalog,
                             model_url)
from models.registry import SOURCE_FILE, check_model_dir
from official_model_server import ModelServer, zip_model_dir

NAME = "vosk-model-small-en-us-0.15"


def make_structural_model(root: Path) -> Path:
    """A directory with every file a v2 Vosk model needs (contents are not a real model:
    these tests are about transport and installation, so the libvosk load check is off)."""
    for rel, text in {
        "am/final.mdl": "x" * 40_000,  # big enough that a cut half-way means something
        "conf/model.conf": "--beam=10\n",
        "conf/mfcc.conf": "--use-energy=false\n",
        "graph/HCLr.fst": "hcl", "graph/Gr.fst": "g", "graph/disambig_tid.int": "1\n",
        "graph/words.txt": "<eps> 0\nyes 1\nno 2\n",
        "ivector/final.ie": "ie",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def incompressible(n: int) -> str:
    """Hex text that deflate cannot shrink much, so the archive has a real size."""
    out, block = [], b"seed"
    while sum(map(len, out)) < n:
        block = hashlib.sha256(block).digest()
        out.append(block.hex())
    return "".join(out)[:n]


@pytest.fixture
def archive(tmp_path: Path) -> bytes:
    src = make_structural_model(tmp_path / "src")
    (src / "am/final.mdl").write_text(incompressible(200_000))
    return zip_model_dir(src, NAME)


@pytest.fixture
def server():
    with ModelServer() as srv:
        yield srv


def catalog(**pins: object) -> dict[str, CatalogEntry]:
    entry = load_catalog()[NAME]
    return {NAME: replace(entry, **pins)}


def installed_entries(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def fetch(server: ModelServer, models: Path, **kw: object):
    kw.setdefault("catalog", catalog())
    return fetch_model(NAME, models, base_url=server.base_url, progress=False, load_check=False,
                       timeout=10, **kw)


def test_catalog_knows_the_small_english_model_with_official_url() -> None:
    entry = load_catalog()[NAME]
    assert entry.language == "en-us"
    assert entry.grammar == "runtime"
    assert model_url(NAME, "https://alphacephei.com/vosk/models", None, entry) == \
        "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
    assert model_url(NAME, None, "http://mirror.local/m/", entry) == \
        "http://mirror.local/m/vosk-model-small-en-us-0.15.zip"
    assert model_url(NAME, None, "http://mirror.local/x.zip", entry) == "http://mirror.local/x.zip"


def test_full_fetch_installs_model_and_records_source(server, archive, tmp_path) -> None:
    server.serve(f"/{NAME}.zip", archive)
    models = tmp_path / "models"
    result = fetch(server, models)
    assert result.path == models / NAME
    assert result.size == len(archive) and result.resumed_from == 0
    assert result.sha256 == hashlib.sha256(archive).hexdigest()
    layout = check_model_dir(models / NAME)
    assert layout.grammar == "runtime"
    assert (models / NAME / "am/final.mdl").read_text() == incompressible(200_000)
    source = json.loads((models / NAME / SOURCE_FILE).read_text())
    assert source["url"] == server.url(f"/{NAME}.zip") and source["sha256_pinned"] is False
    assert installed_entries(models) == [NAME]  # no partial file or unpack dir left behind
    assert [r.status for r in server.requests] == [200]


def test_pinned_size_and_sha256_accept_the_right_file(server, archive, tmp_path) -> None:
    server.serve(f"/{NAME}.zip", archive)
    pins = catalog(size=len(archive), sha256=hashlib.sha256(archive).hexdigest())
    result = fetch(server, tmp_path / "models", catalog=pins)
    assert result.sha256_pinned and (tmp_path / "models" / NAME / "am/final.mdl").exists()


def test_interrupted_download_installs_nothing_then_resumes_with_range(server, archive, tmp_path) -> None:
    half = len(archive) // 2
    server.serve(f"/{NAME}.zip", archive, cut_after=half, cuts_left=1)
    models = tmp_path / "models"
    with pytest.raises(FetchError, match=r"interrupted after \d+ of \d+ bytes.*run the same command again"):
        fetch(server, models)
    assert installed_entries(models) == [DOWNLOADS]  # only the partial download
    part = models / DOWNLOADS / f"{NAME}.zip.part"
    assert 0 < part.stat().st_size < len(archive)
    have = part.stat().st_size

    result = fetch(server, models)
    assert result.resumed_from == have
    second = server.requests[-1]
    assert second.headers["Range"] == f"bytes={have}-" and second.status == 206
    assert second.headers["If-Range"].startswith('"')
    assert result.sha256 == hashlib.sha256(archive).hexdigest()
    assert installed_entries(models) == [NAME]
    check_model_dir(models / NAME)


def test_resume_restarts_when_the_file_changed_on_the_server(server, archive, tmp_path) -> None:
    served = server.serve(f"/{NAME}.zip", archive, cut_after=1000, cuts_left=1)
    models = tmp_path / "models"
    with pytest.raises(FetchError, match="interrupted"):
        fetch(server, models)
    # The mirror now has a different archive: If-Range no longer matches, so the server sends
    # all of it (200) and the client must start over instead of appending.
    src = make_structural_model(tmp_path / "src2")
    served.body = zip_model_dir(src, NAME)
    result = fetch(server, models)
    assert server.requests[-1].status == 200 and result.resumed_from == 0
    assert result.sha256 == hashlib.sha256(served.body).hexdigest()


def test_server_ignoring_range_still_gives_a_correct_file(server, archive, tmp_path) -> None:
    server.serve(f"/{NAME}.zip", archive, cut_after=5000, cuts_left=1, ignore_range=True)
    models = tmp_path / "models"
    with pytest.raises(FetchError, match="interrupted"):
        fetch(server, models)
    result = fetch(server, models)
    assert server.requests[-1].status == 200
    assert result.sha256 == hashlib.sha256(archive).hexdigest()


def test_already_complete_partial_is_not_downloaded_again(server, archive, tmp_path) -> None:
    server.serve(f"/{NAME}.zip", archive)
    models = tmp_path / "models"
    part = models / DOWNLOADS / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive)
    part.with_name(part.name + ".json").write_text(json.dumps({"url": server.url(f"/{NAME}.zip")}))
    result = fetch(server, models)
    assert server.requests[-1].status == 416 and result.resumed_from == len(archive)
    assert installed_entries(models) == [NAME]


@pytest.mark.parametrize("how, pins, message", [
    ({"corrupt_at": 200}, {}, r"damaged|CRC|not a valid zip"),
    ({}, {"sha256": "0" * 64}, r"sha256 mismatch, got [0-9a-f]{64}, the catalog pins 0{64}"),
    ({}, {"size": 12345}, r"server offers \d+ bytes but the catalog pins 12345 bytes"),
    ({"declared_length": 100}, {}, r"not a valid zip archive"),
])
def test_bad_download_installs_nothing_and_says_why(server, archive, tmp_path, how, pins, message) -> None:
    server.serve(f"/{NAME}.zip", archive, **how)
    models = tmp_path / "models"
    with pytest.raises(FetchError, match=message) as err:
        fetch(server, models, catalog=catalog(**pins))
    assert "Nothing was installed" in str(err.value) or "nothing was installed" in str(err.value)
    assert installed_entries(models) == []  # not even a partial file to "resume" next time


def test_wrong_length_cut_short_is_an_interruption_not_an_install(server, archive, tmp_path) -> None:
    server.serve(f"/{NAME}.zip", archive, declared_length=len(archive) + 5000)
    models = tmp_path / "models"
    with pytest.raises(FetchError, match="interrupted"):
        fetch(server, models)
    assert not (models / NAME).exists()


@pytest.mark.parametrize("skip, missing", [
    (("am/",), "am/final.mdl"),
    (("conf/",), "conf/model.conf"),
    (("graph/",), "a decoding graph"),
])
def test_archive_without_model_parts_installs_nothing(server, tmp_path, skip, missing) -> None:
    src = make_structural_model(tmp_path / "src")
    server.serve(f"/{NAME}.zip", zip_model_dir(src, NAME, skip=skip))
    models = tmp_path / "models"
    with pytest.raises(FetchError, match="not a usable Vosk model") as err:
        fetch(server, models)
    assert missing in str(err.value) and "Nothing was installed" in str(err.value)
    assert installed_entries(models) == []


def test_archive_with_unsafe_path_is_refused(server, tmp_path) -> None:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{NAME}/am/final.mdl", "x")
        zf.writestr("../../evil.txt", "boom")
    server.serve(f"/{NAME}.zip", buf.getvalue())
    with pytest.raises(FetchError, match="unsafe path"):
        fetch(server, tmp_path / "models")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_http_error_and_unreachable_host_are_clear(server, tmp_path) -> None:
    with pytest.raises(FetchError, match=r"HTTP 404.*models list.*--url"):
        fetch(server, tmp_path / "models")
    with pytest.raises(FetchError, match=r"cannot reach http://127\.0\.0\.1:9/.*mirror"):
        fetch_model(NAME, tmp_path / "models", base_url="http://127.0.0.1:9", progress=False,
                    load_check=False, catalog=catalog(), timeout=5)


def test_unknown_name_needs_a_url_and_existing_model_needs_force(server, archive, tmp_path) -> None:
    with pytest.raises(FetchError, match=r"unknown model 'nope'.*Known models: vosk-model-small-en-us-0\.15"):
        fetch_model("nope", tmp_path / "models", progress=False, catalog=catalog())
    server.serve(f"/{NAME}.zip", archive)
    models = tmp_path / "models"
    fetch(server, models)
    with pytest.raises(FetchError, match="already installed.*--force"):
        fetch(server, models)
    # --force replaces the model in one rename; the old one is gone, nothing else is left.
    (models / NAME / "stale-file").write_text("old")
    fetch(server, models, force=True)
    assert not (models / NAME / "stale-file").exists()
    assert installed_entries(models) == [NAME]


def test_leftovers_of_a_killed_run_are_cleaned(server, archive, tmp_path) -> None:
    models = tmp_path / "models"
    (models / f".{NAME}.unpack-dead" / NAME / "am").mkdir(parents=True)
    server.serve(f"/{NAME}.zip", archive)
    fetch(server, models)
    assert installed_entries(models) == [NAME]


def test_old_model_left_by_a_run_killed_mid_replace_is_restored_not_deleted(server, archive, tmp_path) -> None:
    models = tmp_path / "models"
    old = models / f".{NAME}.old-dead" / NAME
    (old / "am").mkdir(parents=True)
    (old / "am/final.mdl").write_text("the old model")
    server.serve(f"/{NAME}.zip", archive)
    with pytest.raises(FetchError, match="already installed"):  # restored first, so not replaced
        fetch(server, models)
    assert (models / NAME / "am/final.mdl").read_text() == "the old model"
    assert installed_entries(models) == [NAME]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_fetch_killed_mid_download_leaves_nothing_installed_and_resumes(server, archive, tmp_path, sig) -> None:
    """A real `massage-check models fetch` process is killed (SIGKILL: no clean-up code runs;
    SIGINT: Ctrl-C) while the archive trickles in; the next fetch resumes from the bytes on disk."""
    served = server.serve(f"/{NAME}.zip", archive, chunk_delay=0.02)
    models = tmp_path / "models"
    part = models / DOWNLOADS / f"{NAME}.zip.part"
    env = {**os.environ, "MASSAGE_CHECK_CONFIG": str(tmp_path / "config.yaml")}
    repo = Path(__file__).resolve().parent.parent
    # A shell's background job (`cmd &`) starts with SIGINT ignored, and Python then keeps it ignored:
    # give the child the default disposition a user's Ctrl-C meets in a terminal.
    proc = subprocess.Popen([sys.executable, "-m", "massage_check.cli", "models", "fetch", NAME,
                             "--url", server.base_url, "--dir", str(models), "--no-progress"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= 40_000):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err.decode(errors="replace")
        assert "interrupted, nothing was installed; run the same command again to resume" in err.decode()
    have = part.stat().st_size
    assert 40_000 <= have < len(archive)
    assert installed_entries(models) == [DOWNLOADS]  # no model, no unpack directory

    served.chunk_delay = 0.0
    result = fetch(server, models)
    assert result.resumed_from == have and server.requests[-1].status == 206
    assert result.sha256 == hashlib.sha256(archive).hexdigest()
    assert installed_entries(models) == [NAME]
