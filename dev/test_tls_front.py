"""Unit test of the TLS front's AWS-like latency (dev/tls_front.py): each call through it is held
at least `latency`, settable while it runs. Only lower bounds: a slow machine cannot fail it. Run
by dev/test (with dev/.venv's Python: the front makes its CA with `cryptography`)."""
from __future__ import annotations

import http.client
import ssl
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tls_front import TlsFront


class Backend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class Latency(unittest.TestCase):
    def test_every_call_is_held_the_latency(self) -> None:
        backend = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
        threading.Thread(target=backend.serve_forever, daemon=True).start()
        front = TlsFront(backend.server_address[1], latency=0.3)
        try:
            context = ssl.create_default_context(cafile=str(front.ca_bundle))
            connection = http.client.HTTPSConnection("127.0.0.1", front.ports[0], context=context, timeout=30)
            connection.connect()  # the handshake is not delayed: time the calls alone
            for latency in (0.3, 0.5):  # the second after a change while it runs, on the same connection
                front.latency = latency
                started = time.monotonic()
                connection.request("GET", "/")
                self.assertEqual(connection.getresponse().read(), b"ok")
                self.assertGreaterEqual(time.monotonic() - started, latency)
            connection.close()
        finally:
            front.close()
            backend.shutdown()


if __name__ == "__main__":
    unittest.main()
