"""The needtoknow domain: model, stores, the decision function, commands, analytics.

Logs are structlog events written to standard error: standard output belongs to what a
command prints (JSON answers, CSV, tokens), and a log line there would corrupt it.
"""

import sys

import structlog

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
