"""Signed webhooks (Standard Webhooks) and the process-wide feed service that derives and delivers.

- `settings`: ``NTK_FEED_*`` switches (polling, lease, retries and backoff).
- `signing`: secrets, and signing a payload with the `standardwebhooks` package.
- `deliver`: one worker per endpoint: in order, at least once, retries with backoff, dead letters.
- `service`: the lease holder derives events (`graph.feed.deriver`) and runs the workers.
"""
