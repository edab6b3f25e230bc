"""Metrics (Prometheus), traces (OpenTelemetry) and JSON-line logs of the server.

==================  ==========================================================================
module              job
==================  ==========================================================================
`metrics`           the series, and ``GET /metrics`` (multiprocess-safe with ``--workers N``)
`tracing`           the tracer; an OTLP exporter when ``NTK_OTEL_ENABLED`` (off by default)
`logs`              structlog to standard error as JSON lines
`requests`          ASGI middleware: request id, access log line, request span and counters
`instrument`        spans and timings around the engine's steps, the record write and the feed
==================  ==========================================================================

docs/operations.md, "Observability", lists every series and span.
"""
