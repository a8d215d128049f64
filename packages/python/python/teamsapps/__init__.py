"""teamsapps: a stateful emulator of the Microsoft Graph Teams app catalog and app-installation
API, packaged with its binary (`teamsapps` on the environment's PATH) and a pytest plugin.

    from teamsapps import Server

    with Server("demo") as server:          # the bundled demo tenant, on a free port, HTTPS
        token = server.token()              # the Rollout bot's app token
        client = server.graph_client()      # a msgraph-sdk GraphServiceClient (if installed)

In pytest the fixtures `teamsapps` (one server per session), `teamsapps_reset` (the seed state
again before a test) and `teamsapps_factory` (more servers) need no conftest.py.
"""

from ._binary import BinaryNotFound, find_binary
from ._seed import App, Tenant, User, bundled as bundled_fixtures
from ._server import GRAPH_SCOPE, Admin, Credential, HTTPError, Response, Server, ServerError

try:
    from importlib.metadata import version as _version

    __version__ = _version("teamsapps")
except Exception:  # run from a source tree, not installed
    __version__ = "0.0.0"

__all__ = [
    "Admin", "App", "BinaryNotFound", "Credential", "GRAPH_SCOPE", "HTTPError", "Response",
    "Server", "ServerError", "Tenant", "User", "bundled_fixtures", "find_binary", "__version__",
]
