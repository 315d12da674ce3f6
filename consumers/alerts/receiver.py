"""A local HTTP receiver for alert webhooks, as the mail catcher is for mail: it records every POST
(body and headers), for trying a rule on this host, the tests and the benchmarks."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


class WebhookReceiver:
    def __init__(self, port: int, redirect_to: str | None = None) -> None:
        self.port = port
        self.redirect_to = redirect_to  # answer every POST with a redirect there (and record nothing)
        self.posts: list[tuple[dict, dict[str, str], bytes]] = []  # (body, headers, raw body)
        self.arrivals: list[float] = []  # when each POST arrived (epoch seconds)
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.end_headers()
                    return
                receiver.arrivals.append(time.time())
                receiver.posts.append((orjson.loads(raw), dict(self.headers), raw))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, predicate, timeout: float = 120.0) -> list[dict]:
        """Until `predicate(bodies)` holds; the bodies received."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = [body for body, _, _ in self.posts]
            if predicate(bodies):
                return bodies
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhooks received: {bodies}")
            time.sleep(0.2)
