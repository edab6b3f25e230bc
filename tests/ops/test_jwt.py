"""JWT access tokens from an identity provider: accepted only when every rule holds (api/auth/jwt.py).

A real server (uvicorn on loopback) trusts the issuer of `tests.ops.idp.Idp`, whose JWKS is
served over HTTP. Each row signs one token and expects the server's answer: 200 with data,
or 401 UNAUTHENTICATED (a refused token is answered like an unknown one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from api.config import ApiSettings
from tests.api.conftest import Server, build_db, make_tokens
from tests.ops.idp import Idp

WHO = "{ __typename }"
CHECK = 'query { check(request: {providerId: "ana", studentId: "sam", purpose: "academic_support"}) { allowed } }'


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    provider = Idp()
    provider.publish("k1")
    yield provider
    provider.close()


@pytest.fixture(scope="module")
def server(idp: Idp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    db = tmp_path_factory.mktemp("jwt") / "api.db"
    build_db(db)
    tokens = make_tokens(db)
    settings = ApiSettings(
        db=db,
        oidc_issuer=idp.issuer,
        oidc_audience="needtoknow",
        oidc_jwks_uri=idp.jwks_uri,
        oidc_jwks_refetch_seconds=0,
        oidc_role_map={"ntk-admin": "admin", "ntk-provider": "provider", "ntk-staff": "staff"},
        rate_limit="",
    )
    with Server(settings) as s:
        yield s.url, tokens


def ask(url: str, token: str, query: str = WHO) -> httpx.Response:
    return httpx.post(f"{url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def code(r: httpx.Response) -> Any:
    return r.json()["errors"][0]["extensions"]["code"] if "errors" in r.json() else None


def test_a_valid_token_is_accepted_and_its_claims_name_the_caller(idp: Idp, server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    r = ask(url, idp.token(roles=["ntk-admin"]))
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}
    # The role and subject come from the claims: a provider may ask about itself, not about another.
    mine = ask(url, idp.token(roles=["ntk-provider"], sub="ana"), CHECK)
    assert mine.status_code == 200 and mine.json()["data"]["check"]["allowed"] is True
    other = ask(url, idp.token(roles=["ntk-provider"], sub="bo"), CHECK)
    assert code(other) == "FORBIDDEN"


REFUSED = [
    pytest.param({"lifetime": -120}, id="expired"),  # beyond the 30 s leeway
    pytest.param({"audience": "another-api"}, id="wrong-audience"),
    pytest.param({"kid": "never-published"}, id="unknown-key"),
    pytest.param({"roles": ["ntk-unknown"]}, id="no-mapped-role"),
    pytest.param({"roles": ["ntk-admin", "ntk-staff"]}, id="two-roles"),
    pytest.param({"roles": ["ntk-provider"], "sub": ""}, id="provider-without-subject"),
]


@pytest.mark.parametrize("spec", REFUSED)
def test_a_token_breaking_one_rule_is_refused(idp: Idp, server: tuple[str, dict[str, str]], spec: dict[str, Any]) -> None:
    url, _ = server
    claims = {"roles": ["ntk-admin"], **spec}
    r = ask(url, idp.token(**claims))
    assert r.status_code in (200, 401) and code(r) == "UNAUTHENTICATED", r.text


def test_a_wrong_issuer_or_a_forged_signature_is_refused(idp: Idp, server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    now = int(time.time())
    body = {"iss": "http://evil.example", "aud": "needtoknow", "iat": now, "exp": now + 60, "sub": "x", "roles": ["ntk-admin"]}
    assert code(ask(url, jwt.encode(body, idp.key("k1"), algorithm="RS256", headers={"kid": "k1"}))) == "UNAUTHENTICATED"
    # Signed with another key under the published kid.
    forged = jwt.encode({**body, "iss": idp.issuer}, idp.key("other"), algorithm="RS256", headers={"kid": "k1"})
    assert code(ask(url, forged)) == "UNAUTHENTICATED"
    # HMAC with the public key as secret (the algorithm-confusion attack) and alg=none.
    hs = jwt.encode({**body, "iss": idp.issuer}, "k1-as-a-shared-secret-of-32-bytes!", algorithm="HS256", headers={"kid": "k1"})
    assert code(ask(url, hs)) == "UNAUTHENTICATED"
    none = jwt.encode({**body, "iss": idp.issuer}, None, algorithm="none", headers={"kid": "k1"})
    assert code(ask(url, none)) == "UNAUTHENTICATED"


def test_a_rotated_key_is_fetched_once_and_a_retired_key_stops_working(idp: Idp, server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    assert ask(url, idp.token("k1", roles=["ntk-admin"])).status_code == 200
    before = idp.fetches
    idp.publish("k1", "k2")  # the provider rotates: k2 signs from now on
    fresh = idp.token("k2", roles=["ntk-admin"])
    assert ask(url, fresh).status_code == 200
    assert idp.fetches == before + 1  # the unknown kid made the server fetch the key set once
    assert ask(url, fresh).status_code == 200 and idp.fetches == before + 1  # then it is cached
    stale = idp.token("k1", roles=["ntk-admin"])
    idp.publish("k2")  # k1 retired: its tokens stop verifying once the server has looked again
    assert code(ask(url, idp.token("k3", roles=["ntk-admin"]))) == "UNAUTHENTICATED"  # an unknown kid: it looks again
    assert code(ask(url, stale)) == "UNAUTHENTICATED"
    idp.publish("k1")  # restore for the other tests


def test_own_tokens_keep_working_beside_jwts(server: tuple[str, dict[str, str]]) -> None:
    url, tokens = server
    assert ask(url, tokens["admin"]).json() == {"data": {"__typename": "Query"}}
    assert code(ask(url, "ntk_not-a-token")) == "UNAUTHENTICATED"
    assert code(ask(url, "a.b.c")) == "UNAUTHENTICATED"


def test_an_issuer_without_an_audience_is_refused_at_start(tmp_path: Path) -> None:
    from api.app import create_app

    with pytest.raises(ValueError, match="NTK_OIDC_AUDIENCE"):
        create_app(ApiSettings(db=tmp_path / "x.db", oidc_issuer="http://127.0.0.1:9"))
