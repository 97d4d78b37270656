"""Agency single sign-on: OpenID Connect, authorization-code flow with PKCE, as a confidential client.

Configured by issuer URL, client id and secret, and the ID-token claim that holds the registry's
officer id (``--oidc-issuer``, ``--oidc-client-id``, ``$MONEYTRAIL_OIDC_CLIENT_SECRET``,
``--oidc-claim``). The provider's metadata and keys come from its discovery document
(``/.well-known/openid-configuration``). A sign-in: the browser is sent to the provider with a
fresh ``state``, ``nonce`` and PKCE S256 challenge (kept in the server-side session, never in the
browser); the callback checks ``state``, redeems the code at the token endpoint with the client's
secret and the PKCE verifier, and verifies the ID token: RS256/ES256 signature against the
provider's JWKS, ``iss``, ``aud``, ``exp``, ``iat`` and ``nonce``. The officer id is the configured
claim; the officer must be in the workspace's registry, and from there the Cedar policies decide
everything, exactly as for a password sign-in.

The issuer must use HTTPS, except on loopback (a provider on the same machine, as the tests start).
Authlib's PKCE and token helpers and its JOSE library (joserfc) do the protocol's cryptography.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from moneytrail.web.logins import LoginError


@dataclass
class OIDCConfig:
    issuer: str
    client_id: str
    client_secret: str
    claim: str = "moneytrail_officer"
    scope: str = "openid profile email"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        from moneytrail.errors import ConfigError

        u = urlsplit(self.issuer)
        host = u.hostname or ""
        loop = host == "localhost"
        try:
            loop = loop or ipaddress.ip_address(host).is_loopback
        except ValueError:
            pass
        if u.scheme != "https" and not (u.scheme == "http" and loop):
            raise ConfigError(f"--oidc-issuer {self.issuer}: must be an https:// URL (http only on loopback)")
        self.issuer = self.issuer.rstrip("/")


class OIDCClient:
    def __init__(self, config: OIDCConfig):
        self.config = config
        self._meta: dict[str, Any] | None = None
        self._jwks: Any = None
        self._jwks_at = 0.0

    def _http(self):
        import httpx

        return httpx.Client(timeout=self.config.timeout_s, follow_redirects=False)

    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            try:
                with self._http() as h:
                    r = h.get(self.config.issuer + "/.well-known/openid-configuration")
                    r.raise_for_status()
                    meta = r.json()
            except Exception as e:
                raise LoginError(f"single sign-on is unavailable: the identity provider's discovery document "
                                 f"could not be read ({type(e).__name__})") from None
            if str(meta.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise LoginError("single sign-on is misconfigured: the provider names another issuer")
            self._meta = meta
        return self._meta

    def _keys(self, refresh: bool = False):
        from joserfc.jwk import KeySet

        if self._jwks is None or refresh and time.time() - self._jwks_at > 60:
            with self._http() as h:
                r = h.get(self.metadata()["jwks_uri"])
                r.raise_for_status()
                self._jwks = KeySet.import_key_set(r.json())
                self._jwks_at = time.time()
        return self._jwks

    def authorization_url(self, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """Where to send the browser, and what the session keeps for the callback."""
        from authlib.common.security import generate_token
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        meta = self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        q = {"response_type": "code", "client_id": self.config.client_id, "redirect_uri": redirect_uri,
             "scope": self.config.scope, "state": state, "nonce": nonce,
             "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
        return meta["authorization_endpoint"] + "?" + urlencode(q), {"state": state, "nonce": nonce,
                                                                     "verifier": verifier}

    def finish(self, query: dict[str, str], pending: dict[str, Any], redirect_uri: str) -> str:
        """Check the callback, redeem the code and verify the ID token: the officer id it names."""
        import hmac

        if query.get("error"):
            raise LoginError(f"the identity provider refused the sign-in: {str(query['error'])[:80]}")
        if not hmac.compare_digest(str(query.get("state") or ""), pending["state"]):
            raise LoginError("single sign-on failed: the reply does not belong to this sign-in (state)")
        code = str(query.get("code") or "")
        if not code:
            raise LoginError("single sign-on failed: the provider sent no code")
        meta = self.metadata()
        try:
            with self._http() as h:
                r = h.post(meta["token_endpoint"], data={
                    "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                    "code_verifier": pending["verifier"]}, auth=(self.config.client_id, self.config.client_secret))
        except Exception as e:
            raise LoginError(f"single sign-on failed: the token endpoint could not be reached ({type(e).__name__})") \
                from None
        if r.status_code != 200:
            raise LoginError(f"single sign-on failed: the provider refused the code ({r.status_code})")
        id_token = r.json().get("id_token")
        if not id_token:
            raise LoginError("single sign-on failed: no ID token")
        claims = self._verify(id_token, pending["nonce"])
        officer = claims.get(self.config.claim)
        if not isinstance(officer, str) or not officer.strip():
            raise LoginError(f"the identity provider's token has no {self.config.claim!r} claim naming an officer")
        return officer.strip()

    def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        def decode(keys):
            return jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256"])

        try:
            try:
                tok = decode(self._keys())
            except (JoseError, ValueError):
                tok = decode(self._keys(refresh=True))       # the provider rotated its keys
            reg = jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": self.config.issuer},
                                        aud={"essential": True, "value": self.config.client_id},
                                        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
                                        nonce={"essential": True, "value": nonce})
            reg.validate(tok.claims)
        except (JoseError, ValueError) as e:
            raise LoginError(f"single sign-on failed: the ID token does not verify ({type(e).__name__})") from None
        return dict(tok.claims)
