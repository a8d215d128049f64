"""Tenant fixtures (`teamsapps serve --seed FILE`): the bundled ones and what a file declares."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

BUNDLED_DIR = Path(__file__).resolve().parent / "fixtures"


def bundled() -> List[str]:
    """Names of the tenant fixtures shipped in the package (`demo`, `rsc`, `isolation`)."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def resolve(seed: Union[str, Path, None], base: Optional[Path] = None) -> Path:
    """The fixture file for `seed`: a bundled name (`demo`, `demo.yaml`), or a path (relative
    to `base`, by default the current directory). None means the demo tenant."""
    if seed is None or seed == "":
        seed = "demo"
    text = str(seed)
    name = text[:-5] if text.endswith(".yaml") else text
    if "/" not in text and "\\" not in text and name in bundled():
        candidate = Path(text).expanduser()
        if not (base or Path.cwd()).joinpath(candidate).is_file():
            return BUNDLED_DIR / f"{name}.yaml"
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.is_file():
        raise FileNotFoundError(
            f"tenant fixture {text!r} not found ({path}); bundled ones: {', '.join(bundled())}")
    return path.resolve()


@dataclass(frozen=True)
class User:
    id: str
    user_principal_name: str
    display_name: Optional[str]
    password: Optional[str]
    roles: List[str]
    tenant_id: str

    @property
    def upn(self) -> str:
        return self.user_principal_name


@dataclass(frozen=True)
class App:
    """An app registration of the fixture (what signs in at the token endpoint)."""
    client_id: str
    client_secret: Optional[str]
    display_name: Optional[str]
    tenant_id: str
    application_permissions: List[str] = field(default_factory=list)
    delegated_permissions: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: Optional[str]
    users: List[User]
    apps: List[App]

    def user(self, key: str) -> User:
        """A user by id, userPrincipalName or displayName (case-insensitive)."""
        k = key.lower()
        for u in self.users:
            if k in (u.id.lower(), u.user_principal_name.lower(), (u.display_name or "").lower()):
                return u
        raise KeyError(f"no user {key!r} in tenant {self.display_name or self.id} "
                       f"(users: {', '.join(u.user_principal_name for u in self.users)})")

    def app(self, key: str) -> App:
        """An app registration by appId or displayName (case-insensitive)."""
        k = key.lower()
        for a in self.apps:
            if k in (a.client_id.lower(), (a.display_name or "").lower()):
                return a
        raise KeyError(f"no app registration {key!r} in tenant {self.display_name or self.id} "
                       f"(apps: {', '.join(a.display_name or a.client_id for a in self.apps)})")

    @property
    def admin(self) -> Optional[User]:
        """The first user with an admin role that may publish to the catalog, if any."""
        for u in self.users:
            if {"TeamsServiceAdministrator", "GlobalAdministrator", "TeamsAdministrator"} & set(u.roles):
                return u
        return None


def load(path: Path) -> List[Tenant]:
    """The tenants, users and app registrations a fixture file declares."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() == ".json":
        doc = json.loads(text)
    else:
        try:
            import yaml
        except ImportError as e:  # a dependency of the package; only a broken install lacks it
            raise ImportError("reading a YAML tenant fixture needs PyYAML (pip install PyYAML)") from e
        doc = yaml.safe_load(text)
    tenants = []
    for t in (doc or {}).get("tenants") or []:
        tid = str(t["id"])
        users = [User(id=str(u["id"]), user_principal_name=u.get("userPrincipalName", ""),
                      display_name=u.get("displayName"), password=u.get("password"),
                      roles=list(u.get("roles") or []), tenant_id=tid)
                 for u in t.get("users") or []]
        apps = [App(client_id=str(a["appId"]), client_secret=a.get("clientSecret"),
                    display_name=a.get("displayName"), tenant_id=tid,
                    application_permissions=list(a.get("applicationPermissions") or []),
                    delegated_permissions=list(a.get("delegatedPermissions") or []))
                for a in t.get("applications") or []]
        tenants.append(Tenant(id=tid, display_name=t.get("displayName"), users=users, apps=apps))
    return tenants
