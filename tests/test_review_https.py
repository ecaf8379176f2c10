"""HTTPS for the review page: when it is required, the certificate, and the page over TLS.

Everything binds to 127.0.0.1 only; "the clinic network" is exercised through the
same code with `--scheme https`, and the refusal of plain HTTP off loopback
happens before anything binds.
"""
from __future__ import annotations

import hashlib
import os
import socket
import ssl
import subprocess
import sys

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from store_support import REPO, Browser, add_session, env_for, free_port, live_https_server
from test_review_browser import CHROMIUM, DRIVER, _click_and_wait

from massage_check.review.app import ReviewSettings, create_app
from massage_check.review.auth import hash_pin
from massage_check.review.tls import TlsError, choose_scheme, tls_files
from massage_check.store import TranscriptStore, list_attention

PIN = "728140"


@pytest.mark.parametrize("host, scheme, cert, want", [
    ("127.0.0.1", "auto", None, "http"),
    ("localhost", "auto", None, "http"),
    ("::1", "auto", None, "http"),
    ("0.0.0.0", "auto", None, "https"),
    ("192.168.1.20", "auto", None, "https"),
    ("127.0.0.1", "auto", "/etc/c.pem", "https"),        # a certificate set: use it
    ("127.0.0.1", "https", None, "https"),
    ("127.0.0.1", "http", None, "http"),
])
def test_scheme_choice(host, scheme, cert, want):
    assert choose_scheme(host, scheme, cert, cert and "/etc/k.pem") == want


@pytest.mark.parametrize("host, scheme, cert, key, message", [
    ("0.0.0.0", "http", None, None, r"refusing plain HTTP on 0\.0\.0\.0.*review_scheme.*review_host"),
    ("10.0.0.7", "http", None, None, r"review_tls_cert and review_tls_key"),
    ("127.0.0.1", "auto", "/etc/c.pem", None, r"review_tls_cert and review_tls_key go together"),
    ("127.0.0.1", "tls", None, None, r"review_scheme 'tls' is not known"),
])
def test_bad_settings_are_refused_naming_the_keys(host, scheme, cert, key, message):
    with pytest.raises(TlsError, match=message):
        choose_scheme(host, scheme, cert, key)


def openssl_fingerprint(cert) -> str:  # noqa: ANN001 - a Path
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def test_self_signed_pair_is_made_once_privately_and_reused(tmp_path):
    data = tmp_path / "data"
    first = tls_files(data, "127.0.0.1")
    assert first.created and first.self_signed and first.cert.parent == data / "review-tls"
    assert os.stat(first.key).st_mode & 0o777 == 0o600 and os.stat(first.cert.parent).st_mode & 0o777 == 0o700
    assert first.fingerprint == openssl_fingerprint(first.cert)
    again = tls_files(data, "127.0.0.1")
    assert not again.created and again.fingerprint == first.fingerprint
    names = subprocess.run(["openssl", "x509", "-in", str(first.cert), "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in names and f"DNS:{socket.gethostname()}" in names


def test_configured_pair_is_checked(tmp_path):
    made = tls_files(tmp_path / "a", "127.0.0.1")
    other = tls_files(tmp_path / "b", "127.0.0.1")
    mine = tls_files(tmp_path / "c", "127.0.0.1", str(made.cert), str(made.key))
    assert not mine.self_signed and mine.fingerprint == made.fingerprint
    with pytest.raises(TlsError, match="cannot be used together"):
        tls_files(tmp_path / "c", "127.0.0.1", str(made.cert), str(other.key))     # key of another cert
    with pytest.raises(TlsError, match=r"no such file \(review_tls_key\)"):
        tls_files(tmp_path / "c", "127.0.0.1", str(made.cert), str(tmp_path / "missing.pem"))


def test_page_over_tls_verifies_against_its_own_certificate(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    sid = add_session(store, outcome="see_doctor_first")
    files = tls_files(tmp_path / "data", "127.0.0.1")
    app = create_app(store, ReviewSettings(pin_hash=hash_pin(PIN), secure_cookies=True))
    with live_https_server(app, files) as (host, port):
        trusting = ssl.create_default_context(cafile=str(files.cert))            # checks the name too
        b = Browser(host, port, tls=trusting)
        assert b.login(PIN, "Desk") == 302
        login_cookie = [c for c in b.set_cookies if c.startswith("mc_review=")][-1]
        assert "Secure" in login_cookie and "HttpOnly" in login_cookie
        status, _, body = b.request("GET", "/")
        assert status == 200 and f'id="attn-{sid}"' in body.decode()
        with socket.create_connection((host, port)) as raw, trusting.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        digest = hashlib.sha256(der).hexdigest().upper()
        assert ":".join(digest[i:i + 2] for i in range(0, 64, 2)) == files.fingerprint
        stranger = tls_files(tmp_path / "other", "127.0.0.1")                     # not this server's cert
        with pytest.raises(ssl.SSLCertVerificationError):
            Browser(host, port, tls=ssl.create_default_context(cafile=str(stranger.cert))).request("GET", "/login")
        with socket.create_connection((host, port), timeout=10) as plain:          # plain HTTP gets no page
            plain.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                reply = plain.recv(4096)
            except ConnectionResetError:
                reply = b""
        assert b"Staff log in" not in reply and b"csrf" not in reply


def test_real_command_serves_https_and_prints_the_fingerprint(tmp_path):
    env = env_for(tmp_path / "data", tmp_path / "config.yaml")
    cli = [sys.executable, "-m", "massage_check.cli"]
    assert subprocess.run(cli + ["review", "set-pin", "--pin-stdin"], input=f"{PIN}\n", env=env,
                          capture_output=True, text=True, cwd=REPO).returncode == 0
    refused = subprocess.run(cli + ["review", "--host", "0.0.0.0", "--scheme", "http"], env=env,
                             capture_output=True, text=True, cwd=REPO, timeout=60)
    assert refused.returncode == 2 and "refusing plain HTTP on 0.0.0.0" in refused.stderr
    assert "review_scheme" in refused.stderr and "review_tls_cert" in refused.stderr
    port = free_port()
    server = subprocess.Popen(cli + ["review", "--port", str(port), "--scheme", "https"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        lines = [server.stdout.readline() for _ in range(4)]
        assert lines[0].startswith(f"Staff review page: https://127.0.0.1:{port}/")
        assert "self-signed, made now" in lines[1]
        printed = lines[2].split("SHA-256 fingerprint: ")[1].strip()
        cert = tmp_path / "data" / "review-tls" / "cert.pem"
        assert printed == openssl_fingerprint(cert)
        b = Browser("127.0.0.1", port, tls=ssl.create_default_context(cafile=str(cert)))
        assert b.login(PIN, "Desk") == 302 and b.request("GET", "/")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    store = TranscriptStore.open(tmp_path / "data")
    start = [e for e in store.audit_log() if e["action"] == "review_server_start"][0]
    assert start["detail"] == f"https://127.0.0.1:{port} sha256 {printed}"


def spki_pin(cert) -> str:  # noqa: ANN001 - a Path
    """base64 SHA-256 of the certificate's public key: what Chromium's pin list takes."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    import base64
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_desk_in_a_real_browser_over_https(tmp_path):
    """Chromium trusts exactly this server's key; the list refreshes itself; a nurse acknowledges."""
    assert CHROMIUM, "chromium is not installed: run `sh install.sh --dev` (DEV_APT has chromium)"
    store = TranscriptStore.open(tmp_path / "data")
    waiting = add_session(store, outcome="ask_staff")
    files = tls_files(tmp_path / "data", "127.0.0.1")
    app = create_app(store, ReviewSettings(pin_hash=hash_pin(PIN), secure_cookies=True, refresh_seconds=3))
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                f"--ignore-certificate-errors-spki-list={spki_pin(files.cert)}"):
        opts.add_argument(arg)
    with live_https_server(app, files) as (host, port):
        url = f"https://{host}:{port}"
        driver = webdriver.Chrome(options=opts, service=Service(executable_path=DRIVER))
        try:
            driver.set_page_load_timeout(30)
            driver.get(url + "/login")
            driver.find_element(By.ID, "name").send_keys("Nurse K")
            driver.find_element(By.ID, "pin").send_keys(PIN)
            _click_and_wait(driver, driver.find_element(By.ID, "login"))
            assert driver.current_url == url + "/"
            cookie = driver.get_cookie("mc_review")
            assert cookie["secure"] and cookie["httpOnly"]
            assert driver.title.startswith("(1) NEEDS ATTENTION")
            assert "1 patient needs a member of staff now" in driver.find_element(By.ID, "alert").text
            assert driver.find_elements(By.CSS_SELECTOR, "audio#chime[autoplay]")

            newcomer = add_session(store, outcome="see_doctor_first")            # nobody touches the page
            WebDriverWait(driver, 20, poll_frequency=0.2).until(lambda d: d.find_elements(By.ID, f"attn-{newcomer}"))
            rows = driver.find_elements(By.CSS_SELECTOR, "#attention tbody tr")
            assert [r.get_attribute("id") for r in rows] == [f"attn-{newcomer}", f"attn-{waiting}"]
            assert driver.title.startswith("(2) NEEDS ATTENTION")

            name = driver.find_element(By.ID, f"by-{newcomer}")
            assert name.get_attribute("value") == "Nurse K"
            _click_and_wait(driver, driver.find_element(By.ID, f"ack-{newcomer}"))
            WebDriverWait(driver, 15).until(lambda d: not d.find_elements(By.ID, f"attn-{newcomer}"))
            assert driver.title.startswith("(1) NEEDS ATTENTION")
        finally:
            driver.quit()
    assert [a.id for a in list_attention(store)] == [waiting]
    acks = [e for e in store.audit_log() if e["action"] == "acknowledge"]
    assert [(e["session_id"], e["detail"]) for e in acks] == [(newcomer, "by Nurse K")]
