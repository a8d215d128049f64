"""Finding the teamsapps binary that this package installed."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

EXE = "teamsapps.exe" if os.name == "nt" else "teamsapps"


class BinaryNotFound(FileNotFoundError):
    pass


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _candidates():
    # 1. The files this distribution installed (its RECORD): the wheel's script, wherever the
    #    installer put it (a venv's bin/, ~/.local/bin for --user, a --prefix or --target).
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        try:
            dist = distribution("teamsapps")
        except PackageNotFoundError:
            dist = None
        for f in (dist.files or []) if dist else []:
            if f.name == EXE and f.parent.name in ("bin", "Scripts"):
                yield Path(dist.locate_file(f)).resolve()
    except Exception:  # a broken RECORD must not hide the other places
        pass
    # 2. The scripts directory of this interpreter (a venv's bin/ whether activated or not),
    #    and of the user scheme (pip install --user).
    schemes = [None, f"{os.name}_user"]
    if sys.platform == "darwin":
        schemes.append("osx_framework_user")
    for scheme in schemes:
        try:
            scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if scripts:
            yield Path(scripts) / EXE
    # 3. Next to the interpreter (some layouts put scripts there).
    yield Path(sys.executable).parent / EXE
    # 4. PATH.
    found = shutil.which("teamsapps")
    if found:
        yield Path(found)


def find_binary() -> str:
    """The path of the teamsapps binary: $TEAMSAPPS_BINARY when set, else the one installed
    with this package (its own RECORD, then the interpreter's scripts directory), else the
    first `teamsapps` on PATH. Raises BinaryNotFound, saying where it looked."""
    override = os.environ.get("TEAMSAPPS_BINARY")
    if override:
        path = Path(override).expanduser()
        if not _usable(path):
            raise BinaryNotFound(f"TEAMSAPPS_BINARY={override} is not an executable file")
        return str(path)
    looked = []
    for path in _candidates():
        if _usable(path):
            return str(path)
        looked.append(str(path))
    raise BinaryNotFound(
        "the teamsapps binary was not found (looked in: " + ", ".join(dict.fromkeys(looked))
        + ", and PATH). Reinstall the package (pip install --force-reinstall teamsapps) or set "
        "TEAMSAPPS_BINARY to the binary's path.")
