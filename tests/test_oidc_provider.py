"""The test OpenID Connect provider (tests/oidc_provider.py) behaves like a real one, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from oidc_provider import start_provider

CLIENT_ID = "moneytrail-web"
CLIENT_SECRET = "client-secret-1"
REDIRECT_URI = "http://127.0.0.1:8765/auth/callback"
CLAIMS = {
    "sub": "u1",
    "email": "ana@example.org",
    "preferred_username": "ana",
    "moneytrail_officer": "tf-analyst-1",
}


@pytest.fixture(scope="module")
def provider():
    p = start_provider()
    p.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    p.add_user("ana", "correct horse", CLAIMS)
    yield p
    p.stop()


@pytest.fixture
def http():
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _auth_params(**extra) -> dict:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    params.update(extra)
    return params


def _sign_in(http, provider, params: dict, password: str = "correct horse") -> httpx.Response:
    """GET the form, then POST it the way a browser would (to its action, with the two fields)."""
    form = http.get(f"{provider.issuer}/authorize", params=params)
    assert form.status_code == 200, form.text
    action = form.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return http.post(provider.issuer + action, data={"username": "ana", "password": password})


def _code_from(resp: httpx.Response, state: str) -> str:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


def _redeem(http, provider, code: str, verifier: str | None = None, secret: str = CLIENT_SECRET,
            method: str = "basic") -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier:
        data["code_verifier"] = verifier
    if method == "basic":
        return http.post(f"{provider.issuer}/token", data=data, auth=(CLIENT_ID, secret))
    return http.post(f"{provider.issuer}/token", data={**data, "client_id": CLIENT_ID, "client_secret": secret})


def test_discovery_document(provider, http):
    assert provider.issuer.startswith("http://127.0.0.1:") and not provider.issuer.endswith("/")
    doc = http.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    iss = provider.issuer
    assert doc["issuer"] == iss
    assert doc["authorization_endpoint"] == f"{iss}/authorize"
    assert doc["token_endpoint"] == f"{iss}/token"
    assert doc["jwks_uri"] == f"{iss}/jwks"
    assert doc["userinfo_endpoint"] == f"{iss}/userinfo"
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "openid" in doc["scopes_supported"]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    OpenIDProviderMetadata(doc).validate()  # Authlib's own check of the metadata

    keys = http.get(doc["jwks_uri"]).json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["kid"]
    assert "d" not in keys[0]  # public only


def test_sign_in_form(provider, http):
    resp = http.get(f"{provider.issuer}/authorize", params=_auth_params())
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert 'name="username"' in page and 'name="password"' in page and 'id="signin"' in page
    assert 'method="post"' in page and 'action="/authorize?' in page
    assert 'id="error"' not in page


@pytest.mark.parametrize("auth_method", ["basic", "post"])
def test_code_flow_with_pkce(provider, http, auth_method):
    verifier, challenge = _pkce()
    params = _auth_params(code_challenge=challenge, code_challenge_method="S256")
    code = _code_from(_sign_in(http, provider, params), params["state"])

    resp = _redeem(http, provider, code, verifier, method=auth_method)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    token = resp.json()
    assert token["token_type"] == "Bearer" and token["access_token"] and token["expires_in"] > 0
    assert set(token["scope"].split()) == {"openid", "email", "profile"}

    # verify the ID token as an Authlib client does: signature against /jwks, then the claims
    key_set = KeySet.import_key_set(http.get(f"{provider.issuer}/jwks").json())
    decoded = jwt.decode(token["id_token"], key_set, registry=JWSRegistry(algorithms=["RS256"]))
    assert decoded.header["alg"] == "RS256" and decoded.header["kid"] == key_set.keys[0].kid
    CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [provider.issuer]}},
        {"nonce": params["nonce"], "client_id": CLIENT_ID, "access_token": token["access_token"]},
    ).validate(leeway=120)
    claims = decoded.claims
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "u1"
    assert claims["nonce"] == params["nonce"]
    assert claims["iat"] <= claims["auth_time"] + 5 and claims["exp"] > claims["iat"]
    assert claims["moneytrail_officer"] == "tf-analyst-1"
    assert claims["email"] == "ana@example.org" and claims["preferred_username"] == "ana"

    info = http.get(f"{provider.issuer}/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert info.status_code == 200
    assert info.json() == CLAIMS


def test_wrong_password_issues_no_code(provider, http):
    params = _auth_params()
    resp = _sign_in(http, provider, params, password="wrong")
    assert resp.status_code == 200
    assert "location" not in resp.headers
    assert 'id="error"' in resp.text and 'id="signin"' in resp.text
    assert "code=" not in resp.text.replace("response_type=code", "")


def test_pkce_is_enforced_when_a_challenge_was_sent(provider, http):
    verifier, challenge = _pkce()
    params = _auth_params(code_challenge=challenge, code_challenge_method="S256")
    code = _code_from(_sign_in(http, provider, params), params["state"])
    missing = _redeem(http, provider, code)
    assert missing.status_code == 400 and "id_token" not in missing.json()

    code = _code_from(_sign_in(http, provider, params), params["state"])
    wrong = _redeem(http, provider, code, _pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"

    plain = http.get(f"{provider.issuer}/authorize", params=_auth_params(code_challenge=verifier,
                                                                          code_challenge_method="plain"))
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]


def test_code_is_single_use(provider, http):
    params = _auth_params()
    code = _code_from(_sign_in(http, provider, params), params["state"])
    first = _redeem(http, provider, code)
    assert first.status_code == 200
    again = _redeem(http, provider, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "access_token" not in again.json()
    # the replay revokes what the code gave
    info = http.get(f"{provider.issuer}/userinfo",
                    headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert info.status_code == 401


@pytest.mark.parametrize("auth_method", ["basic", "post"])
def test_wrong_client_secret_is_refused(provider, http, auth_method):
    params = _auth_params()
    code = _code_from(_sign_in(http, provider, params), params["state"])
    resp = _redeem(http, provider, code, secret="not-the-secret", method=auth_method)
    assert resp.status_code in (400, 401) and resp.json()["error"] == "invalid_client"
    assert "access_token" not in resp.json()


def test_unregistered_redirect_uri_is_refused(provider, http):
    params = _auth_params(redirect_uri="http://127.0.0.1:9/evil")
    resp = http.get(f"{provider.issuer}/authorize", params=params)
    assert resp.status_code == 400 and "location" not in resp.headers
    assert 'name="password"' not in resp.text
    resp = http.post(f"{provider.issuer}/authorize", params=params,
                     data={"username": "ana", "password": "correct horse"})
    assert resp.status_code == 400 and "location" not in resp.headers


def test_userinfo_needs_a_valid_bearer_token(provider, http):
    assert http.get(f"{provider.issuer}/userinfo").status_code == 401
    bad = http.get(f"{provider.issuer}/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and "invalid_token" in bad.headers["www-authenticate"]


def test_two_providers_side_by_side(http):
    a, b = start_provider(), start_provider()
    try:
        assert a.issuer != b.issuer
        for p in (a, b):
            p.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
            p.add_user("ana", "correct horse", CLAIMS)
        params = _auth_params()
        token = _redeem(http, a, _code_from(_sign_in(http, a, params), params["state"])).json()
        keys_a = KeySet.import_key_set(http.get(f"{a.issuer}/jwks").json())
        key_b = http.get(f"{b.issuer}/jwks").json()["keys"][0]
        assert key_b["kid"] != keys_a.keys[0].kid and key_b["n"] != keys_a.keys[0].as_dict()["n"]
        jwt.decode(token["id_token"], keys_a, registry=JWSRegistry(algorithms=["RS256"]))
        # B's key, even under A's kid, does not verify A's token
        impostor = KeySet.import_key_set({"keys": [{**key_b, "kid": keys_a.keys[0].kid}]})
        with pytest.raises(BadSignatureError):
            jwt.decode(token["id_token"], impostor, registry=JWSRegistry(algorithms=["RS256"]))
    finally:
        a.stop()
        b.stop()
    with pytest.raises(httpx.TransportError):
        http.get(f"{a.issuer}/jwks")
