#!/usr/bin/env node
// `npx teamsapps ...`: runs the platform's teamsapps binary (lib/binary.js says where it is) with
// this process's arguments, stdio and environment, passes on the signals a supervisor sends, and
// ends as the binary ended (its exit code, or the same signal).
"use strict";

const { spawn } = require("node:child_process");
const { binaryPath } = require("../lib/binary");

let bin;
try {
  bin = binaryPath();
} catch (error) {
  console.error(`teamsapps: ${error.message}`);
  process.exit(1);
}

const child = spawn(bin, process.argv.slice(2), { stdio: "inherit" });
const forwarded = process.platform === "win32" ? ["SIGINT", "SIGTERM"] : ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];
for (const signal of forwarded) {
  process.on(signal, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}
child.on("error", (error) => {
  console.error(`teamsapps: cannot run ${bin}: ${error.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so a shell or supervisor sees what the binary saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});
