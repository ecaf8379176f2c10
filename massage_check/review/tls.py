"""HTTPS for the review page: when it is needed, and the certificate it uses.

Why: the desk is usually another computer, and the PIN and patients' answers
must not cross the clinic network in clear. So plain HTTP is served on a
loopback address only; anywhere else the page needs a certificate and key,
either named in the config or a self-signed pair made here on first start.
A self-signed certificate makes browsers warn; staff compare its SHA-256
fingerprint (printed at every start) with what the browser shows, once.

The pair is made with the `openssl` program (in every Debian and Raspberry Pi
OS, and in install.sh): Python's ssl module can use certificates but not make
them, and one subprocess call beats a new compiled dependency on the Pi.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from massage_check.errors import UserError

SCHEMES = ("auto", "https", "http")
TLS_DIR = "review-tls"
CERT_NAME, KEY_NAME = "cert.pem", "key.pem"
VALID_DAYS = 3650
KEYS_HINT = "review_host, review_scheme, review_tls_cert and review_tls_key in the config file"


class TlsError(UserError):
    """HTTPS cannot be set up as configured: says which setting or file, and the fix."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    fingerprint: str            # SHA-256 of the certificate (DER), "AB:CD:..." as browsers show it
    self_signed: bool           # made by this program (in the data dir)
    created: bool = False       # made just now


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_scheme(host: str, scheme: str, cert: str | None, key: str | None) -> str:
    """'https' or 'http' for this host and these settings; refuses plain HTTP off loopback."""
    if scheme not in SCHEMES:
        raise TlsError(f"review_scheme {scheme!r} is not known: use auto, https or http")
    if bool(cert) != bool(key):
        raise TlsError("review_tls_cert and review_tls_key go together: set both (PEM files), "
                       "or neither for a self-signed pair made on first start")
    if scheme == "http":
        if not is_loopback(host):
            raise TlsError(f"refusing plain HTTP on {host}: the staff PIN and patients' answers would cross "
                           "the network unencrypted. Set review_scheme: https (or auto, the default), "
                           f"or review_host: 127.0.0.1 to keep the page on this machine ({KEYS_HINT}).")
        return "http"
    if scheme == "https" or cert or not is_loopback(host):
        return "https"
    return "http"


def fingerprint(cert: Path) -> str:
    """SHA-256 of the (first) certificate in a PEM file, colon-separated upper-case hex."""
    try:
        der = ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise TlsError(f"{cert}: not a readable PEM certificate ({exc}). Fix review_tls_cert, "
                       "or remove it to use a self-signed certificate.") from exc
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def check_pair(cert: Path, key: Path) -> None:
    """The certificate and key load together (right files, matching, key readable)."""
    for path, setting in ((cert, "review_tls_cert"), (key, "review_tls_key")):
        if not path.is_file():
            raise TlsError(f"{path}: no such file ({setting}). Fix the path, or set both TLS settings to null "
                           "for a self-signed certificate.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"{cert} and {key} cannot be used together ({exc}). Check that review_tls_key is the "
                       "private key of review_tls_cert, both PEM, and readable by this user.") from exc


def tls_files(data_dir: Path, host: str, cert: str | None = None, key: str | None = None) -> TlsFiles:
    """The configured pair, else the self-signed one in <data dir>/review-tls (made if missing)."""
    if cert and key:
        c, k = Path(cert).expanduser(), Path(key).expanduser()
        check_pair(c, k)
        return TlsFiles(c, k, fingerprint(c), self_signed=False)
    folder = data_dir / TLS_DIR
    c, k = folder / CERT_NAME, folder / KEY_NAME
    created = False
    if not (c.is_file() and k.is_file()):
        make_self_signed(folder, host)
        created = True
    check_pair(c, k)
    return TlsFiles(c, k, fingerprint(c), self_signed=True, created=created)


def subject_names(host: str) -> list[str]:
    """Names the certificate is for: this machine's name, loopback, and the listening address."""
    name = socket.gethostname() or "localhost"
    names = [f"DNS:{name}", f"DNS:{name}.local", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        if not ip.is_unspecified and f"IP:{ip}" not in names:
            names.append(f"IP:{ip}")
    except ValueError:
        if host and f"DNS:{host}" not in names:
            names.append(f"DNS:{host}")
    return names


def make_self_signed(folder: Path, host: str) -> None:
    """A new EC P-256 key and a self-signed certificate in `folder`, made whole or not at all."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("the `openssl` program is needed to make a self-signed certificate: install it "
                       "(sudo apt install openssl), or set review_tls_cert and review_tls_key to your own PEM files")
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{TLS_DIR}-", dir=folder.parent))   # 0700
    try:
        cmd = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-sha256", "-days", str(VALID_DAYS), "-keyout", str(tmp / KEY_NAME),
               "-out", str(tmp / CERT_NAME), "-subj", f"/CN=massage-check review on {socket.gethostname()}",
               "-addext", "subjectAltName=" + ",".join(subject_names(host))]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            raise TlsError(f"openssl could not make a certificate: {run.stderr.strip()[-300:]}. Set "
                           "review_tls_cert and review_tls_key to your own PEM files instead.")
        os.chmod(tmp / KEY_NAME, 0o600)
        os.chmod(tmp / CERT_NAME, 0o644)
        if folder.exists():          # a pair cut short earlier: only ever our own two files
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except OSError as exc:
        raise TlsError(f"{folder}: cannot write the certificate ({exc.strerror}). Make the data directory "
                       "writable, or set review_tls_cert and review_tls_key.") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
