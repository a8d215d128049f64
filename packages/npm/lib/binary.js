// Where the teamsapps binary of this machine is. Looked for, in order:
//   1. $TEAMSAPPS_BINARY (a binary of your own, e.g. a cargo build);
//   2. native/<platform>-<arch>/teamsapps[.exe] inside this package (what scripts/packages/npm.sh
//      packs: the binary of the platform the package was built on);
//   3. the optional dependency @teamsapps/<platform>-<arch> (the layout of a multi-platform
//      release, see README.md: one small package per platform, each with "os" and "cpu", of
//      which npm installs only the one that fits).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const platformKey = `${process.platform}-${process.arch}`;
const exe = process.platform === "win32" ? "teamsapps.exe" : "teamsapps";
const platformPackage = `@teamsapps/${platformKey}`;

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    // An archive or copy that lost the executable bit: restore it when we may.
    try {
      fs.chmodSync(file, 0o755);
      return true;
    } catch {
      return false;
    }
  }
}

function candidates() {
  const found = [];
  if (process.env.TEAMSAPPS_BINARY) found.push(["$TEAMSAPPS_BINARY", process.env.TEAMSAPPS_BINARY]);
  found.push(["this package", path.join(__dirname, "..", "native", platformKey, exe)]);
  try {
    const dir = path.dirname(require.resolve(`${platformPackage}/package.json`));
    found.push([platformPackage, path.join(dir, "bin", exe)]);
  } catch {
    found.push([platformPackage, `(${platformPackage} is not installed)`]);
  }
  return found;
}

/** The absolute path of the teamsapps binary for this platform; throws naming every place tried. */
function binaryPath() {
  const tried = candidates();
  for (const [, file] of tried) {
    if (fs.existsSync(file) && fs.statSync(file).isFile() && executable(file)) return path.resolve(file);
  }
  if (process.env.TEAMSAPPS_BINARY) {
    throw new Error(`TEAMSAPPS_BINARY=${process.env.TEAMSAPPS_BINARY} is not an executable file`);
  }
  throw new Error(
    `no teamsapps binary for ${platformKey}: this package carries the binary of the platform it ` +
      `was built on. Looked in ${tried.map(([where, file]) => `${where}: ${file}`).join("; ")}. ` +
      `Set TEAMSAPPS_BINARY to a teamsapps binary (cargo install --path crates/cli) to use your own.`,
  );
}

module.exports = { binaryPath, platformKey, platformPackage };
