"""Serve the review page over HTTPS with cheroot.

Why cheroot and not waitress for this: waitress has no TLS, and TLS grafted onto
its non-blocking sockets by hand is exactly the code that should not be written
here. cheroot (CherryPy's server: pure Python, thread pool, maintained for many
years) wraps each connection with Python's own ssl module. Plain HTTP on
127.0.0.1 keeps using waitress.
"""
from __future__ import annotations

from typing import Any

from massage_check.review.tls import TlsFiles

THREADS = 4


def https_server(app: Any, host: str, port: int, files: TlsFiles) -> Any:
    """A cheroot server for `app` on host:port with this certificate (port 0: any free port).

    Call `.prepare()` to bind (then `.bind_addr` has the real port), `.serve()` to run,
    `.stop()` from another thread to end it; or `.safe_start()` for all of it.
    """
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    server = wsgi.Server((host, port), app, numthreads=THREADS, server_name="massage-check")
    server.ssl_adapter = BuiltinSSLAdapter(str(files.cert), str(files.key))
    return server
