"""OpenTelemetry traces: off by default; when on, a span per request and per engine step reach an OTLP collector.

The collector is a real OTLP/HTTP endpoint on loopback (http.server decoding the protobuf
export requests with opentelemetry-proto); the server is a `needtoknow serve` process, so
its tracer provider (one per process) is its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from api.config import ApiSettings
from api.observability.tracing import span, tracer
from tests.api.conftest import build_db, make_tokens
from tests.ops.test_metrics import Workers

CHECK = 'query { check(request: {providerId: "ana", studentId: "sam", purpose: "academic_support"}) { allowed } }'
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Collector:
    """Spans received: (name, trace id hex, span id hex, parent span id hex)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, str]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for s in scope.spans:
                            collector.spans.append((s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex()))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()


def test_tracing_is_off_by_default() -> None:
    assert ApiSettings().otel_enabled is False
    with span("engine.check_many") as nothing:  # not even a no-op span is made
        assert nothing is None
    with tracer.start_as_current_span("anything") as noop:
        assert not noop.is_recording()


def test_a_request_and_its_engine_steps_are_spans_of_the_callers_trace(
    collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "traced.db"
    build_db(db)
    tokens = make_tokens(db)
    monkeypatch.setenv("NTK_OTEL_ENABLED", "true")
    monkeypatch.setenv("NTK_OTEL_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("NTK_FEED_ENABLED", "false")  # only the request's spans
    with Workers(db) as server:
        r = httpx.post(
            f"{server.url}/graphql",
            json={"query": CHECK},
            headers={"Authorization": f"Bearer {tokens['admin']}", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            timeout=20,
        )
        assert r.json()["data"]["check"]["allowed"] is True
    # The server flushed its spans on shutdown.
    mine = [s for s in collector.spans if s[1] == TRACE_ID]
    names = {s[0] for s in mine}
    assert {"POST graphql", "engine.check_many", "store.sync", "engine.gather", "engine.record", "audit.record"} <= names, names
    (request_span,) = [s for s in mine if s[0] == "POST graphql"]
    assert request_span[3] == "00f067aa0ba902b7"  # continues the caller's trace
    check_many = next(s for s in mine if s[0] == "engine.check_many")
    assert check_many[3] == request_span[2]  # a child of the request span
