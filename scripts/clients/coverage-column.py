#!/usr/bin/env python3
"""Keeps the Clients column of docs/coverage.md honest, cheaply (no server, stdlib only):
  - every row of its tables has a Clients cell;
  - a row says "schemathesis" exactly when its handler is in /openapi.json (the operation table
    of crates/core/src/operations.rs, and `batch`), and "admin token" exactly when scripts/schemathesis.sh
    fuzzes it with the delegated token (CATALOG_WRITES);
  - every name in a `Py` claim (builders, methods) occurs in the Python suites, and every
    literal path segment and method of a `JS` claim in the JavaScript suite;
  - "doc" is claimed only where the snippets of docs/clients.md call that path.
Run by scripts/test.sh; prints what is wrong and exits 1.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
COVERAGE = ROOT / "docs/coverage.md"


def read(*paths):
    return "\n".join((ROOT / p).read_text() for p in paths)


PY = read("scripts/clients/python/suite.py", "scripts/clients/python/retry/flow.py")
JS = "\n".join(p.read_text() for p in sorted((ROOT / "scripts/clients/js/suite").glob("*.js")))
# The snippets of docs/clients.md that scripts/test.sh runs (the blocks after `<!-- run: … -->`).
DOC = "\n".join(re.findall(r"<!-- run: \w+ -->\n```\w*\n(.*?)```", read("docs/clients.md"), re.S))
OPENAPI = read("crates/api/src/openapi.rs")
TABLE = read("crates/core/src/operations.rs")
SCHEMATHESIS = read("scripts/schemathesis.sh")

# /openapi.json describes every row of the operation table, by its handler, and JSON batching.
FUZZED = set(re.findall(r'^\s*handler: "(\w+)",', TABLE, re.M))
FUZZED |= set(re.findall(r'operation_id: "(\w+)"', OPENAPI))
WRITES = set(re.search(r"CATALOG_WRITES=\(([^)]*)\)", SCHEMATHESIS).group(1).split())


def cells(line):
    # Cells split on | but not on the escaped \| inside them.
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def claims(clients, who):
    """The backticked parts of the `who` clause of a Clients cell."""
    for clause in clients.split(";"):
        clause = clause.strip()
        if clause.startswith(who + " "):
            return re.findall(r"`([^`]+)`", clause)
    return []


def words(text):
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def main():
    errors = []
    rows = 0
    py_words, js_words = words(PY), words(JS)
    for n, line in enumerate(COVERAGE.read_text().splitlines(), 1):
        if not line.startswith("| ") or line.startswith(("| Operation ", "| Feature ")):
            continue
        row = cells(line)
        where = f"docs/coverage.md:{n}"
        if len(row) < 3 or not row[-1]:
            errors.append(f"{where}: no Clients cell")
            continue
        rows += 1
        clients = row[-1]
        if len(row) == 5:  # an operation table: Operation | path | Handler | State | Clients
            handler = row[2].strip("`")
            if (handler in FUZZED) != ("schemathesis" in clients):
                errors.append(f"{where}: `{handler}` is {'' if handler in FUZZED else 'not '}"
                              "in /openapi.json, the row says otherwise about schemathesis")
            if (handler in WRITES) != ("admin token" in clients):
                errors.append(f"{where}: `{handler}` is {'' if handler in WRITES else 'not '}"
                              "in CATALOG_WRITES, the row says otherwise about the admin token")
            if re.search(r"(^|; )doc(;|$)", clients):
                # The path as the JS snippet writes it (`/users/${adele}/…`), ending a string,
                # not inside a `…/v1.0/…` bind URL.
                path = re.sub(r"\{[^}]*\}", "{}", row[1].split("`")[1]).split(" ", 1)[1]
                rx = re.escape(path).replace(re.escape("{}"), r"\$\{[^}]+\}")
                if not re.search(r"(?<!v1\.0)" + rx + "[`'\"]", DOC):
                    errors.append(f"{where}: says doc, the snippets of docs/clients.md never call {path}")
        for code in claims(clients, "Py"):
            if code.startswith("/"):
                segments = [s for s in code.split("/") if s and "{" not in s]
                missing = [s for s in segments if s not in PY]
            else:
                missing = sorted(words(code) - py_words)
            if missing:
                errors.append(f"{where}: Py `{code}`: not in the Python suites: {missing}")
        for code in claims(clients, "JS"):
            path = re.match(r"api\('([^']*)'\)", code)
            rest, missing = code, []
            if path:
                missing = [s for s in path.group(1).split("/") if s and "{" not in s and s not in JS]
                rest = code[path.end():]
            missing += sorted(words(rest) - js_words)
            if missing:
                errors.append(f"{where}: JS `{code}`: not in the JavaScript suite: {missing}")
    if rows < 30:
        errors.append(f"docs/coverage.md: only {rows} table rows found; has its layout changed?")
    if len(FUZZED) < 20 or not WRITES:
        errors.append("could not read OPERATIONS of openapi.rs or CATALOG_WRITES of schemathesis.sh")
    for e in errors:
        print(f"FAIL coverage column: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"ok   docs/coverage.md Clients column: {rows} rows match the suites and /openapi.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
