"""The teamsapps pytest plugin (registered through the `pytest11` entry point: installing the
package is enough, no conftest.py).

Fixtures:
- `teamsapps` (session): one server for the whole run, on a free port, seeded with the tenant
  fixture of `teamsapps_seed`; yields a `teamsapps.Server` (base_url, tenant_id, apps, users,
  admin, token(), graph_client(), ...). Stopped at the end of the session.
- `teamsapps_reset` (function): the same server, put back to its seed state before the test
  (data, the settings it started with, an empty request log).
- `teamsapps_factory` (session): `teamsapps_factory(seed="rsc", **Server kwargs)` starts
  another server (stopped at the end of the session).
- `teamsapps_seed` (session): the fixture file the `teamsapps` server is seeded with; override
  it in a conftest.py to choose one in code.

Options (command line over ini): `--teamsapps-fixture NAME|PATH` / `teamsapps_fixture`
(bundled `demo` (default), `rsc`, `isolation`, or a YAML/JSON file; an ini path is relative to
the ini file), `teamsapps_args` (more `teamsapps serve` flags), `teamsapps_tls` (default true),
`teamsapps_startup_timeout` (seconds, default 30).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List

import pytest

from . import _seed
from ._server import Server, _tail

_SERVERS: List[Server] = []
_FIXTURES = ("teamsapps", "teamsapps_reset", "teamsapps_factory")


def pytest_addoption(parser):
    group = parser.getgroup("teamsapps", "teamsapps (Microsoft Graph Teams apps emulator)")
    group.addoption("--teamsapps-fixture", dest="teamsapps_fixture", default=None, metavar="NAME|PATH",
                    help="tenant fixture of the session's teamsapps server: a bundled one "
                         f"({', '.join(_seed.bundled())}; default demo) or a YAML/JSON file")
    parser.addini("teamsapps_fixture", "tenant fixture of the session's teamsapps server: a "
                  "bundled name or a file relative to the ini file (default: demo)", default=None)
    parser.addini("teamsapps_args", "more `teamsapps serve` flags for the session's server "
                  "(e.g. --throttle graph)", type="args", default=[])
    parser.addini("teamsapps_tls", "serve HTTPS with a fresh certificate (default true)",
                  type="bool", default=True)
    parser.addini("teamsapps_startup_timeout", "seconds the server may take to start (default 30)",
                  default="30")


def _configured_seed(config) -> Path:
    cli = config.getoption("teamsapps_fixture")
    if cli:
        return _seed.resolve(cli, Path(config.invocation_params.dir))
    ini = config.getini("teamsapps_fixture")
    if ini:
        base = Path(config.inipath).parent if config.inipath else Path(config.rootpath)
        return _seed.resolve(ini, base)
    return _seed.resolve("demo")


def _server_kwargs(config):
    return dict(tls=config.getini("teamsapps_tls"),
                startup_timeout=float(config.getini("teamsapps_startup_timeout")))


@pytest.fixture(scope="session")
def teamsapps_seed(pytestconfig) -> Path:
    """The tenant fixture file of the session's server (--teamsapps-fixture, the
    teamsapps_fixture ini option, else the bundled demo tenant)."""
    return _configured_seed(pytestconfig)


@pytest.fixture(scope="session")
def teamsapps(teamsapps_seed, pytestconfig, tmp_path_factory):
    """The session's teamsapps server (a teamsapps.Server)."""
    args = [a for line in pytestconfig.getini("teamsapps_args") for a in shlex.split(line)]
    server = Server(teamsapps_seed, args=args, workdir=tmp_path_factory.mktemp("teamsapps"),
                    **_server_kwargs(pytestconfig))
    server.start()
    _SERVERS.append(server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def teamsapps_reset(teamsapps):
    """The session's server, back to its seed state before this test."""
    teamsapps.restore_seed()
    return teamsapps


@pytest.fixture(scope="session")
def teamsapps_factory(pytestconfig, tmp_path_factory):
    """Starts more servers: `teamsapps_factory(seed=None, **Server kwargs)` (seed: a bundled
    name or a path relative to the current directory; default demo)."""
    started: List[Server] = []

    def start(seed=None, **kwargs) -> Server:
        kwargs.setdefault("workdir", tmp_path_factory.mktemp("teamsapps"))
        for k, v in _server_kwargs(pytestconfig).items():
            kwargs.setdefault(k, v)
        server = Server(seed, **kwargs).start()
        started.append(server)
        _SERVERS.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def _describe(server: Server) -> str:
    state = "running" if server.running else f"stopped (exit status {server.returncode})"
    return (f"{server.base_url} ({state}), seed {server.seed_path}\n"
            f"log: {server.log_path}\n{_tail(server.log_path, 20)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _SERVERS and any(f in getattr(item, "fixturenames", ()) for f in _FIXTURES):
        for server in _SERVERS:
            if server.log_path is not None:
                report.sections.append(("teamsapps server log", _describe(server)))


def pytest_terminal_summary(terminalreporter):
    if not _SERVERS:
        return
    for server in _SERVERS:
        terminalreporter.write_line(
            f"teamsapps: {server.seed_path.name} server at {server.base_url} started in "
            f"{server.start_seconds:.2f} s; log {server.log_path}")
