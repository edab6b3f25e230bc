"""OpenTelemetry traces: off by default; with ``NTK_OTEL_ENABLED`` spans go to an OTLP/HTTP collector.

The code always asks `tracer` for spans; until a tracer provider is installed they are
the API's no-op spans (nothing recorded, nothing sent). `start_tracing` installs the SDK's
provider with a batching OTLP exporter for this process; ``OTEL_*`` variables the exporter
reads (headers, certificates, timeouts) apply as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from api.config import ApiSettings

__all__ = ["server_span", "span", "start_tracing", "stop_tracing", "tracer"]

tracer: Final = trace.get_tracer("needtoknow")
"""The tracer every span comes from (a proxy: it follows the provider installed later)."""

_provider: object | None = None


def span(name: str) -> AbstractContextManager[object]:
    """A span named `name` under the current one while tracing is on; else nothing at all.

    Why not always the API's no-op span: entering one costs about 20 µs (context attach and
    detach), several per check, and a check itself takes a few hundred.
    """
    return tracer.start_as_current_span(name) if _provider is not None else nullcontext()


def server_span(name: str, raw_headers: Iterable[tuple[bytes, bytes]]) -> AbstractContextManager[Span | None]:
    """The span of one request (`raw_headers`: the ASGI scope's), continuing the caller's
    ``traceparent``; nothing while tracing is off (the headers are not even decoded then)."""
    if _provider is None:
        return nullcontext()
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers}
    return tracer.start_as_current_span(name, context=propagate.extract(headers), kind=SpanKind.SERVER)


def start_tracing(settings: ApiSettings) -> bool:
    """Install the SDK tracer provider and OTLP exporter when ``settings.otel_enabled``; True if tracing is on.

    Once per process: a second call keeps the first provider (OpenTelemetry allows one).
    """
    global _provider
    if not settings.otel_enabled:
        return False
    if _provider is not None:
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint)))
    trace.set_tracer_provider(provider)
    _provider = provider
    return True


def stop_tracing() -> None:
    """Send the spans still queued (on shutdown)."""
    flush = getattr(_provider, "force_flush", None)
    if flush is not None:
        flush()
