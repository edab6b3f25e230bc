"""A real webhook receiver: an HTTP server on a loopback port, in a thread, recording every POST.

``fail_first``: answer 503 to that many requests before accepting; ``delay``: seconds to wait
before answering each of the first ``delay_first`` requests (a slow receiver, to kill a server
mid-delivery).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    """One POST: headers (lower-cased names), body, monotonic arrival time."""

    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool | None = None
    """With the receiver's ``secret`` set: whether the `standardwebhooks` verifier accepted it on arrival."""


@dataclass
class Receiver:
    fail_first: int = 0
    delay: float = 0.0
    delay_first: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)
    _requests: int = 0
    secret: str | None = None

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                at = time.monotonic()
                with receiver.lock:
                    receiver._requests += 1
                    n = receiver._requests
                if n <= receiver.delay_first:
                    time.sleep(receiver.delay)
                if n <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = None
                if receiver.secret is not None:
                    try:
                        Webhook(receiver.secret).verify(body, headers)  # on arrival: the timestamp tolerance is 5 minutes
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver.arrived:
                    receiver.received.append(Received(headers, body, at, verified))
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def all_signed(self) -> bool:
        """Every request received verifies with `secret` now, also those that arrived before the
        test knew the secret (a webhook registered while the servers start can deliver at once)."""
        assert self.secret is not None
        try:
            for r in self.received:
                Webhook(self.secret).verify(r.body, r.headers)
        except WebhookVerificationError:
            return False
        return True

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        """Wait until predicate(received list) holds; False on timeout (the caller asserts)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
