"""Logs as JSON lines on standard error (structlog), with the request id bound per request.

Every line has ``event``, ``level``, ``timestamp`` (ISO 8601 UTC) and whatever the call
site bound (ids and codes, never record contents), plus ``request_id`` inside a request.
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_json_logs"]


def configure_json_logs(level: str = "info") -> None:
    """Send every structlog event to standard error as one JSON object per line, from `level` up.

    Raises
    ------
    ValueError
        `level` is not debug, info, warning or error.
    """
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"log level {level!r}: one of debug, info, warning, error")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
