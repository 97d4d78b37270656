"""A real OpenID Connect provider on loopback, for tests only (a test fixture, not a test file).

``start_provider()`` serves an OIDC provider on ``127.0.0.1`` (a free port) in a daemon thread: a
Starlette app on uvicorn whose protocol logic is Authlib's authorization-server components (the
authorization-code grant with the ``OpenIDCode`` extension and PKCE's ``CodeChallenge``), with an
RSA key generated at start that signs the ID tokens (RS256) and is published at ``/jwks``.

Endpoints: ``/.well-known/openid-configuration``, ``/authorize`` (GET: an HTML sign-in form with
inputs ``username`` and ``password`` and a submit button ``#signin``; POST: checks the password,
then redirects to the client's redirect URI with ``code`` and ``state``), ``/token``
(``authorization_code`` grant; client auth ``client_secret_basic`` or ``client_secret_post``;
PKCE S256 enforced when a challenge was sent), ``/jwks`` and ``/userinfo`` (Bearer token).

Clients, users, codes and tokens live in memory; codes are single-use and short-lived. A code
presented a second time is refused and the tokens issued for it are revoked. There are no
sessions: every authorization request asks for the password (``prompt=none`` gets
``login_required``).

    provider = start_provider()
    provider.add_client("moneytrail-web", "s3cret", ["http://127.0.0.1:8000/auth/callback"])
    provider.add_user("ana", "pw", {"sub": "u1", "email": "ana@example.org",
                                    "moneytrail_officer": "tf-analyst-1"})
    ...  # point the app at provider.issuer
    provider.stop()
"""

from __future__ import annotations

import hmac
import html
import secrets
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    ResourceProtector,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

__all__ = ["OIDCProvider", "start_provider"]

SCOPES_SUPPORTED = ["openid", "profile", "email"]
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# claims the provider sets itself; a user's claims never override them
_RESERVED_CLAIMS = frozenset(
    {"iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "at_hash", "c_hash", "azp", "jti", "acr", "amr"}
)


# ----------------------------------------------------------------------------- models


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    client_metadata: dict = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # OIDC requires redirect_uri in the request; a lone registered URI is the default otherwise
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return list_to_scope([s for s in scope_to_list(scope) if s in SCOPES_SUPPORTED])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, as OIDC requires

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in TOKEN_AUTH_METHODS  # confidential clients only: never "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _User:
    username: str
    password: str
    claims: dict

    def get_user_id(self) -> str:
        return self.claims["sub"]

    def id_claims(self) -> dict:
        return {k: v for k, v in self.claims.items() if k not in _RESERVED_CLAIMS}


@dataclass
class _AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    username: str
    nonce: str | None
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pwd"]


@dataclass
class _Token:
    access_token: str
    client_id: str
    username: str
    scope: str
    expires_at: float
    provider: OIDCProvider
    revoked: bool = False

    def get_scope(self):
        return self.scope

    def is_expired(self):
        return time.time() >= self.expires_at

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.provider._users.get(self.username)

    def get_client(self):
        return self.provider._clients.get(self.client_id)


# ----------------------------------------------------------------------------- Authlib adapter


class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]):
        datalist: defaultdict[str, list] = defaultdict(list)
        for key, value in pairs:
            datalist[key].append(value)
        self._datalist = datalist
        self._data = {key: values[0] for key, values in datalist.items()}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class _OAuth2Request(OAuth2Request):
    """An Authlib request built from a Starlette request whose body has already been read."""

    def __init__(self, method: str, uri: str, headers, query: list, form: list):
        super().__init__(method, uri, headers=headers)
        self._args = {k: v for k, v in reversed(query)}  # first value wins
        self._form = {k: v for k, v in reversed(form)}
        self.payload = _Payload(query + form)
        self.auth_time: int | None = None

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class _AuthorizationServer(AuthorizationServer):
    def __init__(self, provider: OIDCProvider):
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.provider = provider

    def query_client(self, client_id):
        return self.provider._clients.get(client_id)

    def save_token(self, token, request):
        self.provider._save_token(token, request)

    def send_signal(self, name, *args, **kwargs):
        pass

    def create_oauth2_request(self, request):
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("expected an already-built OAuth2Request")

    def create_json_request(self, request):
        raise NotImplementedError

    def handle_response(self, status, body, headers):
        hdrs = dict(headers)
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=hdrs)
        return Response(body, status_code=status, headers=hdrs)


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code, request):
        data = request.payload.data
        self.server.provider._codes[code] = _AuthorizationCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            username=request.user.username,
            nonce=data.get("nonce"),
            auth_time=request.auth_time or int(time.time()),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + self.server.provider.code_lifetime,
        )

    def query_authorization_code(self, code, client):
        return self.server.provider._redeem_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code):
        pass  # already consumed by query_authorization_code: a code is good for one attempt only

    def authenticate_user(self, authorization_code):
        return self.server.provider._users.get(authorization_code.username)


class _S256Only(CodeChallenge):
    """PKCE with S256 only: a challenge without a method would mean "plain", which is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is supported.")


class _OpenIDCode(OpenIDCode):
    def __init__(self, provider: OIDCProvider):
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce, request):
        client_id = request.payload.client_id
        return any(c.client_id == client_id and c.nonce == nonce for c in list(self.provider._codes.values()))

    def resolve_client_private_key(self, client):
        return self.provider._key

    def get_client_algorithm(self, client):
        return "RS256"

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": self.provider._key.kid, "typ": "JWT"}

    def get_client_claims(self, client):
        return {"iss": self.provider.issuer, "aud": client.get_client_id()}

    def generate_user_info(self, user, scope):
        return UserInfo(user.id_claims())


class _BearerValidator(BearerTokenValidator):
    def __init__(self, provider: OIDCProvider):
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string):
        return self.provider._tokens.get(token_string)


class _UserInfoEndpoint(UserInfoEndpoint):
    def __call__(self, request):
        # Authlib's own __call__ takes the token from a framework's request context; here the
        # request is passed in, so validate it directly with the same resource protector
        token = self.resource_protector.validate_request(["openid"], request)
        return 200, self.generate_user_info(token.get_user(), token.get_scope()), default_json_headers

    def generate_user_info(self, user, scope):
        return UserInfo(user.id_claims())


# ----------------------------------------------------------------------------- the provider


class OIDCProvider:
    """An OpenID Connect provider served on loopback; see the module docstring."""

    issuer: str
    #: seconds an authorization code stays redeemable
    code_lifetime: int = 60
    #: seconds an access token (and ID token) stays valid
    token_lifetime: int = 3600

    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}
        self._users: dict[str, _User] = {}
        self._codes: dict[str, _AuthorizationCode] = {}
        self._spent_codes: dict[str, list[str]] = {}  # code -> access tokens issued for it
        self._tokens: dict[str, _Token] = {}
        self._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)

        self._server = _AuthorizationServer(self)
        self._server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(32),
                expires_generator=lambda client, grant_type: self.token_lifetime,
            ),
        )
        self._server.register_grant(_CodeGrant, [_OpenIDCode(self), _S256Only(required=True)])
        protector = ResourceProtector()
        protector.register_token_validator(_BearerValidator(self))
        self._server.register_endpoint(_UserInfoEndpoint(resource_protector=protector))

        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery, methods=["GET"]),
                Route("/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks, methods=["GET"]),
                Route("/userinfo", self._userinfo, methods=["GET", "POST"]),
            ]
        )
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.issuer = ""

    # -- public interface -------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self._clients[client_id] = _Client(client_id, client_secret, list(redirect_uris))

    def add_user(self, username: str, password: str, claims: dict) -> None:
        claims = dict(claims)
        claims.setdefault("sub", username)
        self._users[username] = _User(username, password, claims)

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive() and self._uvicorn is not None:
                self._uvicorn.force_exit = True  # connections that would not close
                self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OIDCProvider:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------------

    def _start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # surfaced to start_provider's caller
                failure.append(exc)
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name=f"oidc-provider-{port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if failure or not self._thread.is_alive():
                raise RuntimeError(f"the OIDC provider did not start: {failure[:1]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the OIDC provider did not start within 15 s")
            time.sleep(0.005)

    # -- state helpers (called on the server's event-loop thread) ---------------------------

    def _redeem_code(self, code: str, client_id: str) -> _AuthorizationCode | None:
        if code in self._spent_codes:  # replay: refuse, and revoke what the code gave
            for access_token in self._spent_codes[code]:
                if access_token in self._tokens:
                    self._tokens[access_token].revoked = True
            return None
        item = self._codes.get(code)
        if item is None or item.client_id != client_id:
            return None
        del self._codes[code]
        self._spent_codes[code] = []
        if time.time() >= item.expires_at:
            return None
        return item

    def _save_token(self, token: dict, request: OAuth2Request) -> None:
        access_token = token["access_token"]
        self._tokens[access_token] = _Token(
            access_token=access_token,
            client_id=request.client.get_client_id(),
            username=request.user.username,
            scope=token.get("scope", ""),
            expires_at=time.time() + token.get("expires_in", self.token_lifetime),
            provider=self,
        )
        if request.authorization_code is not None:
            self._spent_codes.setdefault(request.authorization_code.code, []).append(access_token)

    def _check_password(self, username: str, password: str) -> _User | None:
        user = self._users.get(username)
        if user is None:
            hmac.compare_digest(password.encode(), b"-")  # same work either way
            return None
        return user if hmac.compare_digest(password.encode(), user.password.encode()) else None

    # -- endpoints --------------------------------------------------------------------------

    async def _oauth2_request(self, request: Request) -> _OAuth2Request:
        query = parse_qsl(request.url.query, keep_blank_values=True)
        form: list[tuple[str, str]] = []
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype == "application/x-www-form-urlencoded":
                form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        uri = self.issuer + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _OAuth2Request(request.method, uri, request.headers, query, form)

    async def _discovery(self, request: Request) -> Response:
        iss = self.issuer
        return JSONResponse(
            {
                "issuer": iss,
                "authorization_endpoint": f"{iss}/authorize",
                "token_endpoint": f"{iss}/token",
                "jwks_uri": f"{iss}/jwks",
                "userinfo_endpoint": f"{iss}/userinfo",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": SCOPES_SUPPORTED,
                "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name",
                                     "email", "email_verified", "preferred_username"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self._key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        oreq = await self._oauth2_request(request)
        user = None
        if request.method == "POST":
            user = self._check_password(oreq.form.get("username", ""), oreq.form.get("password", ""))
        try:
            grant = self._server.get_consent_grant(oreq, end_user=user)
        except OAuth2Error as error:
            if error.redirect_uri:  # client and redirect URI are known good: tell the client
                return self._server.handle_error_response(oreq, error)
            return self._error_page(error)
        if user is None:
            failed = request.method == "POST"
            return self._sign_in_page(request, oreq, failed)
        oreq.auth_time = int(time.time())
        return self._server.create_authorization_response(oreq, grant_user=user, grant=grant)

    async def _token(self, request: Request) -> Response:
        return self._server.create_token_response(await self._oauth2_request(request))

    async def _userinfo(self, request: Request) -> Response:
        return self._server.create_endpoint_response("userinfo", await self._oauth2_request(request))

    # -- pages ------------------------------------------------------------------------------

    def _sign_in_page(self, request: Request, oreq: _OAuth2Request, failed: bool) -> Response:
        action = "/authorize" + (f"?{request.url.query}" if request.url.query else "")
        client_id = oreq.payload.client_id or ""
        username = oreq.form.get("username", "") if failed else ""
        error = (
            '<p id="error" class="error" role="alert">Invalid username or password.</p>\n' if failed else ""
        )
        body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - test OpenID provider</title></head>
<body>
<h1>Sign in</h1>
<p>to continue to <strong id="client">{html.escape(client_id)}</strong></p>
{error}<form method="post" action="{html.escape(action)}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" value="{html.escape(username)}" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
<button id="signin" type="submit">Sign in</button>
</form>
</body>
</html>
"""
        return HTMLResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @staticmethod
    def _error_page(error: OAuth2Error) -> Response:
        body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign-in error - test OpenID provider</title></head>
<body>
<h1>Sign-in error</h1>
<p id="error" class="error" role="alert"><code>{html.escape(str(error.error))}</code>:
{html.escape(str(error.description or ""))}</p>
</body>
</html>
"""
        return HTMLResponse(body, status_code=error.status_code, headers={"Cache-Control": "no-store"})


def start_provider() -> OIDCProvider:
    """Start an OIDC provider on 127.0.0.1 (a free port) in a daemon thread; return it once it serves."""
    provider = OIDCProvider()
    provider._start()
    return provider
