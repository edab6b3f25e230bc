"""The needtoknow domain: model, stores, the decision function, commands, analytics.

Logs are structlog events written to standard error: standard output belongs to what a
command prints (JSON answers, CSV, tokens), and a log line there would corrupt it.
Tracebacks are plain text: the default (rich, with every frame's local variables) is slow
enough to stretch a retry loop and would copy secrets held in locals into the log.
"""

import sys

import structlog

structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
    ],
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)
