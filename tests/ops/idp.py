"""A signing identity provider for the JWT tests: RSA keys, and their JWKS served on a loopback socket.

The keys are the test's own so that it can sign what a provider would (and what it must
not: expired, for another audience, with a key it never published). The JWKS is a real
HTTP endpoint (http.server in a thread); `publish` swaps the key set the way a provider
rotates keys, and `fetches` counts how often the server under test asked for it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["Idp"]


class Idp:
    """Keys by kid, the published subset, and a JWKS server."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.fetches += 1
                keys = []
                for kid in idp.published:
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(idp.keys[kid].public_key()))
                    keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.jwks_uri = f"{self.issuer}/jwks"

    def key(self, kid: str) -> rsa.RSAPrivateKey:
        """The private key `kid` (made on first use; not published until `publish`)."""
        if kid not in self.keys:
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def publish(self, *kids: str) -> None:
        """Publish exactly these keys in the JWKS."""
        for kid in kids:
            self.key(kid)
        self.published = list(kids)

    def token(self, kid: str = "k1", *, audience: str = "needtoknow", lifetime: float = 300, **claims: Any) -> str:
        """A signed access token: iss, aud, iat, exp, sub plus `claims`."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": audience, "iat": now, "exp": now + int(lifetime), "sub": "user-1", **claims}
        return jwt.encode(body, self.key(kid), algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()
