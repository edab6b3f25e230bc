"""`needtoknow feed tail` and `needtoknow webhooks ...` as a user runs them (subprocesses).

the tests/world.py base: ana (ptn-hope) serves sam under cns-1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.timeutil import utcnow
from tests.world import World


def ntk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from api.cli import main; main()", *args], capture_output=True, text=True, timeout=120)


def test_feed_tail_derives_and_prints_changes(tmp_path: Path) -> None:
    store = World.base().store(tmp_path)
    db = str(store.path)
    first = ntk("feed", "tail", "--db", db, "--json")
    assert first.returncode == 0, first.stderr
    [granted] = [json.loads(line) for line in first.stdout.splitlines()]
    assert (granted["type"], granted["providerId"], granted["studentId"]) == ("access.granted", "ana", "sam")
    revoke_consent(store, RevokeConsent("cns-1", at=utcnow() - timedelta(minutes=1)), now=utcnow())
    store.close()
    status = ntk("feed", "status", "--db", db, "--json")  # the revocation is not derived yet: one commit behind
    assert status.returncode == 0, status.stderr
    lag = json.loads(status.stdout)
    assert (lag["lagRows"], lag["events"], lag["lastError"], lag["leaseHolder"]) == (1, 1, None, None) and lag["lagSeconds"] > 0
    second = ntk("feed", "tail", "--db", db, "--after", granted["cursor"])
    assert second.returncode == 0, second.stderr
    assert "revoked" in second.stdout and "ana -> sam" in second.stdout and "consent_revoked" in second.stdout
    assert "granted" not in second.stdout


def test_webhooks_add_list_redeliver_remove(tmp_path: Path) -> None:
    World.base().store(tmp_path).close()
    db = str(tmp_path / "world.db")
    added = ntk("webhooks", "add", "http://127.0.0.1:9/hook", "--role", "app", "--subject", "hope-cm", "--partner", "ptn-hope", "--db", db)
    assert added.returncode == 0, added.stderr
    endpoint_id, secret = added.stdout.split()
    assert endpoint_id.startswith("whk-") and secret.startswith("whsec_")
    listed = ntk("webhooks", "list", "--db", db)
    assert endpoint_id in listed.stdout and "ptn-hope" in listed.stdout and secret not in listed.stdout
    assert ntk("webhooks", "redeliver", endpoint_id, "--from", "0", "--db", db).returncode == 0
    assert ntk("webhooks", "remove", endpoint_id, "--db", db).returncode == 0
    again = ntk("webhooks", "remove", endpoint_id, "--db", db)
    assert again.returncode == 2 and "already removed" in again.stderr
    assert endpoint_id not in ntk("webhooks", "list", "--db", db).stdout


def test_webhooks_add_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    World.base().store(tmp_path).close()
    db = str(tmp_path / "world.db")
    cases = [
        (("ftp://x/hook", "--role", "admin"), "http(s)"),
        (("http://127.0.0.1/hook", "--role", "app"), "partners"),
        (("http://127.0.0.1/hook", "--role", "app", "--partner", "ptn-nope"), "ptn-nope"),
        (("http://127.0.0.1/hook", "--role", "provider", "--subject", "sam"), "sam"),
        (("http://127.0.0.1/hook", "--role", "staff"), "role"),
    ]
    for args, words in cases:
        r = ntk("webhooks", "add", *args, "--db", db)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
