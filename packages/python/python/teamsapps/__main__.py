"""`python -m teamsapps ARGS...` runs the bundled binary with ARGS (e.g. `serve --help`)."""

import os
import subprocess
import sys

from ._binary import BinaryNotFound, find_binary


def main() -> int:
    try:
        binary = find_binary()
    except BinaryNotFound as e:
        print(f"teamsapps: {e}", file=sys.stderr)
        return 127
    argv = [binary, *sys.argv[1:]]
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(binary, argv)  # the binary takes this process over: signals, exit status, stdio
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main())
