"""A teamsapps server in a child process, and clients for its Graph, token and admin endpoints."""

from __future__ import annotations

import atexit
import json as _json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import namedtuple
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _seed
from ._binary import find_binary
from ._seed import App, Tenant, User

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


class ServerError(RuntimeError):
    """The server did not start, or stopped; the message names its log file."""


class Response:
    """An HTTP answer: `status`, `headers`, `body` (bytes), `text`, `json()`."""

    def __init__(self, method: str, url: str, status: int, headers: Mapping[str, str], body: bytes):
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.body) if self.body else None

    def raise_for_status(self) -> "Response":
        if not self.ok:
            raise HTTPError(self)
        return self

    def __repr__(self) -> str:
        return f"<Response {self.method} {self.url} {self.status}>"


class HTTPError(RuntimeError):
    def __init__(self, response: Response):
        self.response = response
        super().__init__(f"{response.method} {response.url} answered {response.status}: "
                         f"{response.text[:500]}")


def _http(method: str, url: str, *, ssl_context: Optional[ssl.SSLContext], headers=None,
          body: Optional[bytes] = None, timeout: float = 30.0) -> Response:
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as r:
            return Response(method, url, r.status, dict(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(method, url, e.code, dict(e.headers.items()), e.read())


class Admin:
    """The test controls under /_teamsapps/ (docs/testing.md), with the server's admin key."""

    def __init__(self, server: "Server"):
        self._server = server

    def _call(self, method: str, path: str, body: Any = None) -> Response:
        headers = {"Authorization": f"Bearer {self._server.admin_key}"}
        data = None
        if body is not None:
            data = _json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self._server._raw(method, f"/_teamsapps{path}", headers=headers, body=data)

    def reset(self) -> Dict[str, Any]:
        """Back to the seed state (the fixture applied to an empty store); throttling buckets
        full again. Settings and the request log are kept (see Server.restore_seed)."""
        return self._call("POST", "/reset").raise_for_status().json()

    def snapshot(self, name: str) -> Dict[str, Any]:
        """Save the whole state under `name`, replacing a snapshot of that name."""
        return self._call("POST", f"/snapshots/{urllib.parse.quote(name, safe='')}").raise_for_status().json()

    def restore(self, name: str) -> Dict[str, Any]:
        """Put the state saved under `name` back exactly; KeyError when there is none."""
        r = self._call("POST", f"/snapshots/{urllib.parse.quote(name, safe='')}/restore")
        if r.status == 404:
            raise KeyError(f"no snapshot named {name!r}")
        return r.raise_for_status().json()

    def settings(self, new: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """The throttling and fault settings (the --config shape); with `new`, replace them
        first (PUT) and return what the server now has."""
        if new is not None:
            return self._call("PUT", "/settings", dict(new)).raise_for_status().json()
        return self._call("GET", "/settings").raise_for_status().json()

    def requests(self) -> List[Dict[str, Any]]:
        """The request log, oldest first: method, path, operation, tenantId, appId, userId,
        tokenType, permissions, status, injected."""
        return self._call("GET", "/requests").raise_for_status().json()["value"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests").raise_for_status()

    def ready(self) -> bool:
        """GET /_teamsapps/ready answers 200 (no key needed)."""
        try:
            return self._server._raw("GET", "/_teamsapps/ready", timeout=2).status == 200
        except OSError:
            return False


_AccessToken = namedtuple("AccessToken", ["token", "expires_on"])


def _access_token(token: str, expires_on: int):
    try:  # azure-core's type, which azure-identity and the Graph SDK expect, when installed
        from azure.core.credentials import AccessToken

        return AccessToken(token, expires_on)
    except ImportError:
        return _AccessToken(token, expires_on)


class Credential:
    """A TokenCredential (azure-core's protocol: `get_token(*scopes) -> AccessToken`) that signs
    in at the server's own token endpoint: client credentials for an app, or the password
    grant for a user signed in to that app. Tokens are cached until a minute before expiry."""

    def __init__(self, server: "Server", app: App, user: Optional[User] = None,
                 password: Optional[str] = None):
        self._server, self.app, self.user, self._password = server, app, user, password
        self._cache: Dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **_kwargs: Any):
        key = tuple(scopes) or (GRAPH_SCOPE,)
        with self._lock:
            cached = self._cache.get(key)
            if cached and cached.expires_on - 60 > time.time():
                return cached
            form = self._server._token_form(self.app, self.user, self._password, " ".join(key))
            result = self._server._token_request(self.app.tenant_id, form)
            token = _access_token(result["access_token"], int(time.time()) + int(result["expires_in"]))
            self._cache[key] = token
            return token

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _hello_manifest(external_id: str, version: str) -> Dict[str, Any]:
    return {
        "$schema": "https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json",
        "manifestVersion": "1.17",
        "id": external_id,
        "version": version,
        "name": {"short": "Hello", "full": "Hello from teamsapps"},
        "description": {"short": "Says hello",
                        "full": "A small demo app that says hello in chats, teams and personal scope."},
        "developer": {"name": "Contoso", "websiteUrl": "https://contoso.example",
                      "privacyUrl": "https://contoso.example/privacy",
                      "termsOfUseUrl": "https://contoso.example/terms"},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "bots": [{"botId": str(uuid.uuid4()), "scopes": ["personal", "team", "groupChat"]}],
    }


def _tail(path: Optional[Path], lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except (OSError, TypeError):
        return ""


def _die_with_parent():  # Linux: the server gets SIGTERM if the test process dies (even kill -9)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    """A teamsapps server on a free port of 127.0.0.1, on a private in-memory store seeded with
    a tenant fixture.

        with Server("demo") as s:
            s.token()                       # an app token of the first app registration
            s.admin.reset()

    `seed`: a bundled fixture name (`demo`, `rsc`, `isolation`) or a fixture file (YAML/JSON).
    `tls`: serve HTTPS with a fresh certificate from `teamsapps cert` (`ca_cert` is its path;
    azure-identity accepts nothing but an https authority); False serves plain HTTP.
    `args`: more `teamsapps serve` flags (e.g. ["--throttle", "graph"]).
    `workdir`: where the certificate and the logs go (a temporary directory, removed at stop,
    when not given; kept if the server failed).
    """

    def __init__(self, seed: Union[str, Path, None] = None, *, tls: bool = True,
                 admin_key: Optional[str] = None, args: Sequence[str] = (),
                 binary: Optional[str] = None, workdir: Union[str, Path, None] = None,
                 startup_timeout: float = 30.0, env: Optional[Mapping[str, str]] = None):
        self.seed_path = _seed.resolve(seed)
        self.tenants: List[Tenant] = _seed.load(self.seed_path)
        self.tls = tls
        self.admin_key = admin_key or secrets.token_hex(16)
        self.args = list(args)
        self.binary = binary or find_binary()
        self._workdir_given = workdir is not None
        self.workdir = Path(workdir) if workdir is not None else None
        self.startup_timeout = startup_timeout
        self._env = dict(env or {})
        self.admin = Admin(self)
        self.base_url: Optional[str] = None
        self.ca_cert: Optional[str] = None
        self.log_path: Optional[Path] = None
        self.start_seconds: Optional[float] = None
        self._proc: Optional[subprocess.Popen] = None
        self._ssl: Optional[ssl.SSLContext] = None
        self._initial_settings: Optional[Dict[str, Any]] = None
        self._failed = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "Server":
        if self._proc is not None:
            return self
        started = time.monotonic()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="teamsapps-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "teamsapps.log"
        stdout_path = self.workdir / "teamsapps.stdout"
        cmd = [self.binary, "serve", "--in-memory", "--listen", "127.0.0.1:0",
               "--seed", str(self.seed_path), "--admin-key", self.admin_key]
        if self.tls:
            tls_dir = self.workdir / "tls"
            subprocess.run([self.binary, "cert", "--out", str(tls_dir)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            cmd += ["--tls-cert", str(tls_dir / "cert.pem"), "--tls-key", str(tls_dir / "key.pem")]
            self.ca_cert = str(tls_dir / "cert.pem")
            self._ssl = ssl.create_default_context(cafile=self.ca_cert)
        cmd += self.args
        env = {**os.environ, **self._env}
        env.pop("TEAMSAPPS_ADMIN_KEY", None)  # the flag decides; never a key from the caller's env
        with open(self.log_path, "ab") as err, open(stdout_path, "wb") as out:
            kwargs: Dict[str, Any] = {}
            if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
                kwargs["preexec_fn"] = _die_with_parent
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          env=env, **kwargs)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            line = next((ln for ln in stdout_path.read_text(errors="replace").splitlines()
                         if ln.startswith("listening on ")), None)
            if line:
                self.base_url = line.split()[2].rstrip("/")
                break
            if self._proc.poll() is not None:
                self._fail(f"teamsapps serve exited with status {self._proc.returncode} before listening")
            if time.monotonic() > deadline:
                self._fail(f"teamsapps serve printed no `listening on` line in {self.startup_timeout:g} s")
            time.sleep(0.02)
        while not self.admin.ready():
            if self._proc.poll() is not None:
                self._fail(f"teamsapps serve exited with status {self._proc.returncode}")
            if time.monotonic() > deadline:
                self._fail(f"{self.base_url}/_teamsapps/ready did not answer 200 in {self.startup_timeout:g} s")
            time.sleep(0.05)
        self._initial_settings = self.admin.settings()
        self.start_seconds = time.monotonic() - started
        return self

    def _fail(self, why: str):
        self._failed = True
        self.stop()
        raise ServerError(f"{why}\n  command: {' '.join(self._command_for_humans())}\n"
                          f"  log: {self.log_path}\n{_tail(self.log_path)}")

    def _command_for_humans(self) -> List[str]:
        return [self.binary, "serve", "--in-memory", "--seed", str(self.seed_path), *self.args]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it finishes requests in flight), killing it after `timeout`."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            elif proc.returncode != 0:
                self._failed = True
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        if self.workdir is not None and not self._workdir_given and not self._failed:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def restore_seed(self) -> None:
        """What `teamsapps_reset` does before each test: the seed state (admin.reset()), the
        settings the server started with, and an empty request log."""
        self.admin.reset()
        if self._initial_settings is not None and self.admin.settings() != self._initial_settings:
            self.admin.settings(self._initial_settings)
        self.admin.clear_requests()

    # -- what the fixture declares ---------------------------------------------------------------

    @property
    def tenant(self) -> Tenant:
        """The fixture's first tenant."""
        if not self.tenants:
            raise LookupError(f"{self.seed_path} declares no tenant")
        return self.tenants[0]

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    @property
    def users(self) -> List[User]:
        return self.tenant.users

    @property
    def apps(self) -> List[App]:
        """The first tenant's app registrations (client id, secret, permissions)."""
        return self.tenant.apps

    def _tenant_of(self, tenant: Optional[str]) -> Tenant:
        if tenant is None:
            return self.tenant
        for t in self.tenants:
            if tenant.lower() in (t.id.lower(), (t.display_name or "").lower()):
                return t
        raise KeyError(f"no tenant {tenant!r} in {self.seed_path}")

    def app(self, key: Optional[str] = None, *, tenant: Optional[str] = None) -> App:
        """An app registration by appId or displayName; by default the tenant's first one."""
        t = self._tenant_of(tenant)
        if key is None:
            if not t.apps:
                raise LookupError(f"tenant {t.display_name or t.id} has no app registrations")
            return t.apps[0]
        return t.app(key)

    def user(self, key: Optional[str] = None, *, tenant: Optional[str] = None) -> User:
        """A user by id, userPrincipalName or displayName; by default the tenant's first admin
        (a Teams service administrator: the one who may publish), else its first user."""
        t = self._tenant_of(tenant)
        if key is None:
            if t.admin is not None:
                return t.admin
            if not t.users:
                raise LookupError(f"tenant {t.display_name or t.id} has no users")
            return t.users[0]
        return t.user(key)

    @property
    def client_id(self) -> str:
        """The first app registration's client id (see `apps` for the others)."""
        return self.app().client_id

    @property
    def client_secret(self) -> Optional[str]:
        return self.app().client_secret

    @property
    def graph_url(self) -> str:
        """The Graph base URL, `{base_url}/v1.0`."""
        return f"{self._base()}/v1.0"

    @property
    def env(self) -> Dict[str, str]:
        """Environment for code under test in a subprocess (or monkeypatch.setenv): the URL,
        the admin key, and with TLS the CA bundle for requests/MSAL and httpx/aiohttp."""
        e = {"TEAMSAPPS_URL": self._base(), "TEAMSAPPS_ADMIN_KEY": self.admin_key,
             "TEAMSAPPS_TENANT_ID": self.tenant_id}
        if self.ca_cert:
            e.update(REQUESTS_CA_BUNDLE=self.ca_cert, SSL_CERT_FILE=self.ca_cert)
        return e

    @property
    def ssl_context(self) -> Optional[ssl.SSLContext]:
        """An SSLContext that trusts the server's certificate (None without TLS)."""
        return self._ssl

    def _base(self) -> str:
        if not self.base_url:
            raise ServerError("the teamsapps server is not running (call start())")
        return self.base_url

    def _raw(self, method: str, path: str, *, headers=None, body: Optional[bytes] = None,
             timeout: float = 30.0) -> Response:
        return _http(method, self._base() + path, ssl_context=self._ssl, headers=headers, body=body,
                     timeout=timeout)

    # -- tokens ----------------------------------------------------------------------------------

    def _token_form(self, app: App, user: Optional[User], password: Optional[str], scope: str):
        form = {"client_id": app.client_id, "scope": scope}
        if app.client_secret is not None:
            form["client_secret"] = app.client_secret
        if user is None:
            form["grant_type"] = "client_credentials"
        else:
            pw = password if password is not None else user.password
            if pw is None:
                raise ValueError(f"{user.user_principal_name} has no password in the fixture; pass password=")
            form.update(grant_type="password", username=user.user_principal_name, password=pw)
        return form

    def _token_request(self, tenant_id: str, form: Mapping[str, str]) -> Dict[str, Any]:
        r = self._raw("POST", f"/{tenant_id}/oauth2/v2.0/token",
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      body=urllib.parse.urlencode(form).encode())
        if not r.ok:
            raise HTTPError(r)
        return r.json()

    def _resolve(self, app: Union[str, App, None], user: Union[str, User, None],
                 tenant: Optional[str]):
        a = app if isinstance(app, App) else self.app(app, tenant=tenant)
        if user is None or isinstance(user, User):
            u = user
        else:
            u = self._tenant_of(tenant or a.tenant_id).user(user)
        return a, u

    def token(self, app: Union[str, App, None] = None, user: Union[str, User, None] = None, *,
              password: Optional[str] = None, scope: str = GRAPH_SCOPE,
              tenant: Optional[str] = None) -> str:
        """An access token from the server's token endpoint: the app's own (client credentials)
        by default, or `user`'s signed in to the app (password grant; the fixture's password
        unless given). `app`/`user`: display names, ids, user principal names or the objects."""
        a, u = self._resolve(app, user, tenant)
        return self._token_request(a.tenant_id, self._token_form(a, u, password, scope))["access_token"]

    def credential(self, app: Union[str, App, None] = None, user: Union[str, User, None] = None, *,
                   password: Optional[str] = None, tenant: Optional[str] = None) -> Credential:
        """A TokenCredential for the Graph SDK (or anything taking azure-core credentials) that
        gets its tokens as `token()` does."""
        a, u = self._resolve(app, user, tenant)
        return Credential(self, a, u, password)

    def azure_credential(self, app: Union[str, App, None] = None, *, tenant: Optional[str] = None):
        """azure-identity's own ClientSecretCredential for an app, pointed at the server (its
        authority, instance discovery off, the server's certificate trusted): the way an
        application signs in against Microsoft Graph. Needs azure-identity and TLS."""
        try:
            from azure.identity import ClientSecretCredential
        except ImportError as e:
            raise ImportError("azure_credential() needs azure-identity: "
                              "pip install 'teamsapps[msgraph]' (or azure-identity)") from e
        if not self.tls:
            raise ValueError("azure-identity accepts only an https authority: start the server with tls=True")
        a = app if isinstance(app, App) else self.app(app, tenant=tenant)
        return ClientSecretCredential(a.tenant_id, a.client_id, a.client_secret, authority=self._base(),
                                      disable_instance_discovery=True, connection_verify=self.ca_cert)

    # -- Graph -----------------------------------------------------------------------------------

    def graph_client(self, app: Union[str, App, None] = None, user: Union[str, User, None] = None, *,
                     password: Optional[str] = None, credential: Any = None,
                     tenant: Optional[str] = None, version: str = "v1.0"):
        """A msgraph-sdk GraphServiceClient for this server: Graph base URL `{base_url}/v1.0`,
        the server's certificate trusted (by this client only), tokens from `credential` or
        else `self.credential(app, user)`. Create it inside the event loop that uses it (one per
        asyncio.run). Needs msgraph-sdk (pip install 'teamsapps[msgraph]')."""
        try:
            import httpx
            from kiota_authentication_azure.azure_identity_authentication_provider import (
                AzureIdentityAuthenticationProvider)
            from msgraph import GraphRequestAdapter, GraphServiceClient
            from msgraph_core import GraphClientFactory
        except ImportError as e:
            raise ImportError("graph_client() needs msgraph-sdk: pip install 'teamsapps[msgraph]' "
                              f"(or msgraph-sdk) ({e})") from e
        if credential is None:
            credential = self.credential(app, user, password=password, tenant=tenant)
        host = urllib.parse.urlsplit(self._base()).hostname
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        try:
            import h2  # noqa: F401  (httpx's HTTP/2, which the SDK's own client uses)
            http2 = True
        except ImportError:
            http2 = False
        http = httpx.AsyncClient(verify=self._ssl if self._ssl is not None else True,
                                 timeout=httpx.Timeout(100.0, connect=30.0), http2=http2)
        adapter = GraphRequestAdapter(auth, client=GraphClientFactory.create_with_default_middleware(client=http))
        adapter.base_url = f"{self._base()}/{version}"
        return GraphServiceClient(request_adapter=adapter)

    def request(self, method: str, path: str, *, app: Union[str, App, None] = None,
                user: Union[str, User, None] = None, token: Optional[str] = None,
                json: Any = None, body: Optional[bytes] = None, content_type: Optional[str] = None,
                headers: Optional[Mapping[str, str]] = None, tenant: Optional[str] = None) -> Response:
        """A plain HTTP request to the server (`path` like `/v1.0/appCatalogs/teamsApps`), with
        `token` or else `self.token(app, user)`. No msgraph-sdk needed."""
        h = dict(headers or {})
        h.setdefault("Authorization", f"Bearer {token or self.token(app, user, tenant=tenant)}")
        if json is not None:
            body = _json.dumps(json).encode()
            content_type = content_type or "application/json"
        if content_type:
            h["Content-Type"] = content_type
        return self._raw(method, path, headers=h, body=body)

    # -- app packages ----------------------------------------------------------------------------

    def package(self, manifest: Union[Mapping[str, Any], str, Path, None] = None, *,
                id: Optional[str] = None, version: Optional[str] = None) -> bytes:
        """An app package (zip bytes) made by `teamsapps package`, icons generated. `manifest`:
        a manifest.json path or a dict; by default a small "Hello" app with a fresh id."""
        with tempfile.TemporaryDirectory(prefix="teamsapps-package-") as tmp:
            if manifest is None or isinstance(manifest, Mapping):
                m = dict(manifest) if manifest is not None else _hello_manifest(
                    id or str(uuid.uuid4()), version or "1.0.0")
                path = Path(tmp) / "manifest.json"
                path.write_text(_json.dumps(m), encoding="utf-8")
            else:
                path = Path(manifest)
            cmd = [self.binary, "package", "--manifest", str(path), "--out", "-"]
            if id:
                cmd += ["--id", id]
            if version:
                cmd += ["--version", version]
            r = subprocess.run(cmd, capture_output=True)
            if r.returncode != 0:
                raise ValueError(f"teamsapps package failed: {r.stderr.decode(errors='replace').strip()}")
            return r.stdout

    def publish(self, package: bytes, *, app_id: Optional[str] = None,
                user: Union[str, User, None] = None, app: Union[str, App, None] = None) -> Any:
        """Publish an app package to the tenant catalog (or, with `app_id`, as a new version of
        that catalog app), signed in as `user` (by default the fixture's Teams admin) to `app`.
        Returns the answer's JSON (the teamsApp, or the new definition)."""
        u = user if isinstance(user, User) else self.user(user)
        path = "/v1.0/appCatalogs/teamsApps" + (f"/{app_id}/appDefinitions" if app_id else "")
        r = self.request("POST", path, app=app, user=u, body=package, content_type="application/zip")
        return r.raise_for_status().json()

    def __repr__(self) -> str:
        return f"<teamsapps.Server {self.base_url or 'not running'} seed={self.seed_path.name}>"
