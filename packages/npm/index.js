// The teamsapps test helper: `startTeamsapps({ fixture })` runs the emulator on a free port with
// a throwaway store, waits until it serves, and returns what a test needs: its base URL, the
// tenant and app registrations of the fixture (ids, secrets, users and passwords), the test
// controls (reset, snapshots, settings, request log), tokens from the server's own token
// endpoint and, when @microsoft/microsoft-graph-client is installed, ready Graph clients.
// CommonJS; index.mjs re-exports it for ESM (Vitest, `import` in node:test files).
"use strict";

const { spawn, execFile } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const os = require("node:os");
const path = require("node:path");
const { binaryPath } = require("./lib/binary");

const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
const BUNDLED_FIXTURES = ["demo", "rsc", "isolation"];
// The package ships its fixtures in fixtures/ (copied at pack time); in a checkout of the
// repository they are two directories up.
const FIXTURE_DIRS = [path.join(__dirname, "fixtures"), path.join(__dirname, "..", "..", "fixtures")];

// Servers still running when the process exits are killed (a test that forgot stop()).
const live = new Set();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const server of live) server._killNow();
  });
}

// --- fixtures ----------------------------------------------------------------------------------

/** The path of a bundled fixture ("demo", "rsc", "isolation"). */
function bundledFixture(name) {
  for (const dir of FIXTURE_DIRS) {
    const file = path.join(dir, `${name}.yaml`);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`the bundled fixture "${name}" is missing (looked in ${FIXTURE_DIRS.join(", ")})`);
}

/** Resolves the `fixture` option to a file the server seeds from and the parsed fixture. */
function loadFixture(fixture, dir) {
  let file;
  if (fixture === undefined || fixture === null) {
    file = bundledFixture("demo");
  } else if (typeof fixture === "object") {
    file = path.join(dir, "fixture.json");
    fs.writeFileSync(file, JSON.stringify(fixture));
  } else if (BUNDLED_FIXTURES.includes(fixture)) {
    file = bundledFixture(fixture);
  } else {
    file = path.resolve(String(fixture));
    if (!fs.existsSync(file)) throw new Error(`fixture ${file} does not exist`);
  }
  const text = fs.readFileSync(file, "utf8");
  let data;
  try {
    data = /\.json$/i.test(file) ? JSON.parse(text) : require("yaml").parse(text);
  } catch (error) {
    throw new Error(`fixture ${file} is not valid ${/\.json$/i.test(file) ? "JSON" : "YAML"}: ${error.message}`);
  }
  if (!data || !Array.isArray(data.tenants) || data.tenants.length === 0) {
    throw new Error(`fixture ${file} has no tenants`);
  }
  return { file, tenants: data.tenants.map(tenantFacts) };
}

function tenantFacts(t) {
  return {
    id: t.id,
    displayName: t.displayName ?? null,
    users: (t.users ?? []).map((u) => ({
      id: u.id,
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName ?? null,
      password: u.password ?? null,
      roles: u.roles ?? [],
    })),
    applications: (t.applications ?? []).map((a) => ({
      appId: a.appId,
      clientId: a.appId,
      clientSecret: a.clientSecret,
      displayName: a.displayName ?? null,
      applicationPermissions: a.applicationPermissions ?? [],
      delegatedPermissions: a.delegatedPermissions ?? [],
    })),
    teams: (t.teams ?? []).map((team) => ({ id: team.id, displayName: team.displayName ?? null })),
    chats: (t.chats ?? []).map((chat) => ({ id: chat.id, topic: chat.topic ?? null })),
  };
}

// --- HTTP --------------------------------------------------------------------------------------

function send(agent, method, url, { headers = {}, body, ca } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const mod = target.protocol === "https:" ? https : http;
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = mod.request(
      target,
      {
        method,
        agent,
        ca,
        headers: payload ? { ...headers, "Content-Length": payload.length } : headers,
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode, headers: res.headers, text });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function logTail(file, lines = 20) {
  try {
    const all = fs.readFileSync(file, "utf8").trimEnd().split("\n");
    return all.slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// --- the binary's other commands ---------------------------------------------------------------

function run(bin, args, { encoding = "utf8" } = {}) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const detail = Buffer.isBuffer(stderr) ? stderr.toString("utf8") : stderr;
        reject(new Error(`teamsapps ${args.join(" ")} failed: ${detail.trim() || error.message}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** A small "Hello" app manifest (a bot in every scope, icons drawn by `teamsapps package`). */
function helloManifest(id = crypto.randomUUID(), version = "1.0.0") {
  return {
    manifestVersion: "1.17",
    id,
    version,
    name: { short: "Hello", full: "Hello from teamsapps" },
    description: { short: "Says hello", full: "A small demo app that says hello in chats, teams and personal scope." },
    developer: {
      name: "Contoso",
      websiteUrl: "https://contoso.example",
      privacyUrl: "https://contoso.example/privacy",
      termsOfUseUrl: "https://contoso.example/terms",
    },
    icons: { color: "color.png", outline: "outline.png" },
    bots: [{ botId: crypto.randomUUID(), scopes: ["personal", "team", "groupChat"] }],
  };
}

/**
 * An app package (zip, as a Buffer) for Graph's publish and update, made by `teamsapps package`
 * (which draws the icons a manifest names but lacks). `manifest` is a manifest object or the path
 * of a manifest.json (by default a small "Hello" app with a fresh id); `id` and `version`
 * override the manifest's.
 */
async function appPackage(manifest, { id, version, binary } = {}) {
  const bin = binary ?? binaryPath();
  let dir;
  let file;
  if (manifest === undefined || manifest === null) manifest = helloManifest(id, version);
  if (typeof manifest === "string") {
    file = path.resolve(manifest);
  } else {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "teamsapps-package-"));
    file = path.join(dir, "manifest.json");
    fs.writeFileSync(file, JSON.stringify(manifest));
  }
  try {
    const args = ["package", "--manifest", file, "--out", "-"];
    if (id) args.push("--id", id);
    if (version) args.push("--version", version);
    return await run(bin, args, { encoding: "buffer" });
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- the running server ------------------------------------------------------------------------

class Teamsapps {
  constructor(fields) {
    Object.assign(this, fields);
    const ctl = (method, name, body) => this._control(method, name, body);
    /** The test controls under /_teamsapps/ (docs/testing.md), with this server's admin key. */
    this.admin = {
      /** Back to the seed state (the fixture on an empty store). */
      reset: () => ctl("POST", "reset"),
      /** Saves the whole state under `name` (letters, digits, `.`, `_`, `-`). */
      snapshot: (name) => ctl("POST", `snapshots/${encodeURIComponent(name)}`),
      /** Puts the state saved under `name` back exactly. */
      restore: (name) => ctl("POST", `snapshots/${encodeURIComponent(name)}/restore`),
      /**
       * The throttling and fault settings (the --config shape); with `settings`, replaces them
       * first (PUT) and answers what the server now has.
       */
      settings: (settings) => (settings === undefined ? ctl("GET", "settings") : ctl("PUT", "settings", settings)),
      /** Replaces the throttling and fault settings; answers the new ones. */
      setSettings: (settings) => ctl("PUT", "settings", settings),
      /** The request log: the last 1,000 Graph requests, oldest first. */
      requests: async () => (await ctl("GET", "requests")).value,
      /** Empties the request log. */
      clearRequests: () => ctl("DELETE", "requests"),
      /** Whether the server answers GET /_teamsapps/ready with 200. */
      ready: async () => {
        try {
          return (await this._send("GET", "/_teamsapps/ready")).status === 200;
        } catch {
          return false;
        }
      },
    };
  }

  /** The tenant of the fixture with this id (the first one when none is given). */
  tenant(id) {
    if (id === undefined) return this.tenants[0];
    const found = this.tenants.find((t) => t.id === id);
    if (!found) throw new Error(`the fixture has no tenant ${id} (it has ${this.tenants.map((t) => t.id).join(", ")})`);
    return found;
  }

  /** An app registration of a tenant by client id or display name (the first when none is given). */
  application(app, tenant) {
    const t = this.tenant(tenant);
    if (app === undefined) {
      if (!t.applications.length) throw new Error(`tenant ${t.id} of the fixture has no app registrations`);
      return t.applications[0];
    }
    const found = t.applications.find((a) => a.appId === app || a.displayName === app);
    if (!found) throw new Error(`tenant ${t.id} of the fixture has no app registration "${app}"`);
    return found;
  }

  /** The same as application(). */
  app(app, tenant) {
    return this.application(app, tenant);
  }

  /** The first app registration's client id and secret (see `applications` for the others). */
  get clientId() {
    return this.application().clientId;
  }

  get clientSecret() {
    return this.application().clientSecret;
  }

  /**
   * Environment for code under test in a child process (or a Jest/Vitest globalSetup):
   * TEAMSAPPS_URL, TEAMSAPPS_ADMIN_KEY, TEAMSAPPS_TENANT_ID and with tls NODE_EXTRA_CA_CERTS.
   */
  get env() {
    const env = { TEAMSAPPS_URL: this.baseUrl, TEAMSAPPS_ADMIN_KEY: this.adminKey, TEAMSAPPS_TENANT_ID: this.tenantId };
    if (this.caCert) env.NODE_EXTRA_CA_CERTS = this.caCert;
    return env;
  }

  /**
   * A plain HTTP request to the server (`path` like `/v1.0/appCatalogs/teamsApps`) with `token`,
   * or else a token as token({ app, user, tenant }) gets it; `json` is sent as JSON, `body`
   * (a Buffer or string) as is. Answers { status, headers, text, json() }. No Graph client needed.
   */
  async request(method, urlPath, { app, user, tenant, token, json, body, contentType, headers = {} } = {}) {
    const h = { ...headers };
    if (!Object.keys(h).some((k) => k.toLowerCase() === "authorization")) {
      h.Authorization = `Bearer ${token ?? (await this.token({ app, user, tenant }))}`;
    }
    if (json !== undefined) {
      body = JSON.stringify(json);
      contentType = contentType ?? "application/json";
    }
    if (contentType) h["Content-Type"] = contentType;
    const res = await this._send(method, urlPath, { headers: h, body });
    return { ...res, json: () => JSON.parse(res.text) };
  }

  /** A user of a tenant by id or user principal name. */
  user(user, tenant) {
    const t = this.tenant(tenant);
    const wanted = String(user).toLowerCase();
    const found = t.users.find((u) => u.id === user || u.userPrincipalName.toLowerCase() === wanted);
    if (!found) throw new Error(`tenant ${t.id} of the fixture has no user "${user}"`);
    return found;
  }

  /** Back to the seed state; the same as admin.reset(). */
  reset() {
    return this.admin.reset();
  }

  /**
   * An access token from the server's own token endpoint. Without `user`: the app-only token
   * (client credentials) of the registration `app` (client id or display name; by default the
   * tenant's first). With `user` (UPN or id): that user signed in to the registration (password
   * grant; the password comes from the fixture unless given).
   */
  async token({ app, secret, user, password, scope = GRAPH_SCOPE, tenant } = {}) {
    const t = this.tenant(tenant);
    let clientId = app;
    let clientSecret = secret;
    if (secret === undefined || app === undefined) {
      const registration = this.application(app, t.id);
      clientId = registration.appId;
      clientSecret = secret ?? registration.clientSecret;
    }
    const form = new URLSearchParams({ client_id: clientId, client_secret: clientSecret, scope });
    if (user === undefined) {
      form.set("grant_type", "client_credentials");
    } else {
      const known = t.users.find(
        (u) => u.id === user || u.userPrincipalName.toLowerCase() === String(user).toLowerCase(),
      );
      form.set("grant_type", "password");
      form.set("username", known ? known.userPrincipalName : user);
      const pw = password ?? (known && known.password);
      if (pw == null) throw new Error(`no password for user "${user}": the fixture has none, pass { password }`);
      form.set("password", pw);
    }
    const res = await this._send("POST", `/${t.id}/oauth2/v2.0/token`, {
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    if (res.status !== 200) {
      throw new Error(`the token endpoint of teamsapps answered ${res.status}: ${res.text} (server log: ${this.logPath})`);
    }
    return JSON.parse(res.text).access_token;
  }

  /**
   * A @microsoft/microsoft-graph-client Client for this server, signed in like token() (same
   * options), tokens fetched on demand and renewed before they expire. Over http the stock
   * middleware chain is used with its AuthenticationHandler swapped for one that sends the token
   * to this server (the stock one sends tokens only to https:// hosts). With `tls` it is the
   * stock chain as is (customHosts), and this process must trust the certificate:
   * NODE_EXTRA_CA_CERTS=<caCert> in its environment at start-up.
   */
  graphClient({ version = "v1.0", ...signIn } = {}) {
    const graph = loadGraphClient();
    let cached = null;
    const getAccessToken = async () => {
      if (cached && cached.expires > Date.now()) return cached.token;
      const token = await this.token(signIn);
      // Renew a minute before the token's own expiry.
      const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
      cached = { token, expires: claims.exp ? claims.exp * 1000 - 60_000 : Date.now() + 60_000 };
      return token;
    };
    if (this.caCert) {
      if (!process.env.NODE_EXTRA_CA_CERTS) {
        throw new Error(
          `graphClient() over https needs this process to trust ${this.caCert}: start node with ` +
            `NODE_EXTRA_CA_CERTS=<that certificate> (give startTeamsapps a fixed { tls: { cert, key } } for that)`,
        );
      }
      return graph.Client.initWithMiddleware({
        baseUrl: this.baseUrl,
        defaultVersion: version,
        customHosts: new Set([new URL(this.baseUrl).hostname]),
        authProvider: { getAccessToken },
      });
    }
    const origin = new URL(this.baseUrl).origin;
    const authenticate = {
      async execute(context) {
        const url = typeof context.request === "string" ? context.request : context.request.url;
        if (new URL(url).origin === origin) setHeader(context, "Authorization", `Bearer ${await getAccessToken()}`);
        return this.next.execute(context);
      },
      setNext(next) {
        this.next = next;
      },
    };
    return graph.Client.initWithMiddleware({
      baseUrl: this.baseUrl,
      defaultVersion: version,
      middleware: [
        authenticate,
        new graph.RetryHandler(new graph.RetryHandlerOptions()),
        new graph.RedirectHandler(new graph.RedirectHandlerOptions()),
        new graph.TelemetryHandler(),
        new graph.HTTPMessageHandler(),
      ],
    });
  }

  /** An app package (zip Buffer), as the module's appPackage() but with this server's binary. */
  appPackage(manifest, options = {}) {
    return appPackage(manifest, { binary: this.binary, ...options });
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its temporary files. */
  async stop() {
    if (this._stopped) return this._stopped;
    this._stopped = (async () => {
      const child = this._child;
      const crashed = this._exit !== null;
      // Idle keep-alive connections closed first: the server's graceful shutdown need not wait.
      this._agent.destroy();
      if (!crashed) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(this);
      // The log of a server that died on its own stays for the post-mortem.
      if (!crashed) fs.rmSync(this._dir, { recursive: true, force: true });
    })();
    return this._stopped;
  }

  async [Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")]() {
    await this.stop();
  }

  _killNow() {
    if (this._exit !== null) return; // died on its own: its log stays
    this._child.kill("SIGKILL");
    try {
      fs.rmSync(this._dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }

  _diagnosis() {
    const how = this._exit
      ? `teamsapps exited (${this._exit.signal ? `signal ${this._exit.signal}` : `code ${this._exit.code}`})`
      : "teamsapps is running";
    return `${how}; its log: ${this.logPath}\n${logTail(this.logPath)}`;
  }

  async _send(method, urlPath, options = {}) {
    if (this._stopped) throw new Error(`this teamsapps server was stopped (${method} ${urlPath})`);
    try {
      return await send(this._agent, method, `${this.baseUrl}${urlPath}`, { ca: this._ca, ...options });
    } catch (error) {
      throw new Error(`${method} ${this.baseUrl}${urlPath} failed: ${error.message}; ${this._diagnosis()}`);
    }
  }

  async _control(method, name, body) {
    const headers = { Authorization: `Bearer ${this.adminKey}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this._send(method, `/_teamsapps/${name}`, {
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} /_teamsapps/${name} answered ${res.status}: ${res.text} (server log: ${this.logPath})`);
    }
    if (!res.text) return null;
    try {
      return JSON.parse(res.text);
    } catch {
      return res.text;
    }
  }
}

function setHeader(context, name, value) {
  if (typeof Request !== "undefined" && context.request instanceof Request) {
    context.request.headers.set(name, value);
    return;
  }
  const options = (context.options = context.options || {});
  if (options.headers === undefined) options.headers = {};
  if (typeof Headers !== "undefined" && options.headers instanceof Headers) options.headers.set(name, value);
  else if (Array.isArray(options.headers)) options.headers.push([name, value]);
  else options.headers[name] = value;
}

function loadGraphClient() {
  const tries = [() => require("@microsoft/microsoft-graph-client")];
  // A package manager that does not hoist may keep it out of this package's reach: try the
  // project that runs the tests too.
  tries.push(() => require(require.resolve("@microsoft/microsoft-graph-client", { paths: [process.cwd()] })));
  for (const attempt of tries) {
    try {
      return attempt();
    } catch (error) {
      if (error.code !== "MODULE_NOT_FOUND") throw error;
    }
  }
  throw new Error(
    "graphClient() needs @microsoft/microsoft-graph-client: npm install --save-dev @microsoft/microsoft-graph-client@3",
  );
}

/**
 * Starts a teamsapps server for a test: a free port on 127.0.0.1, a throwaway store (in memory
 * unless `dataDir`), seeded from `fixture` (the bundled demo tenant by default), and waits until
 * it serves. stdout and stderr go to a log file whose path is in every error.
 */
async function startTeamsapps(options = {}) {
  const {
    fixture,
    args = [],
    env = {},
    adminKey = crypto.randomBytes(16).toString("hex"),
    tls,
    dataDir,
    binary = binaryPath(),
    startTimeoutMs = 30_000,
  } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "teamsapps-"));
  let child;
  try {
    const fx = loadFixture(fixture, dir);
    const logPath = path.join(dir, "teamsapps.log");
    const serveArgs = ["serve", "--listen", "127.0.0.1:0", "--seed", fx.file, "--admin-key", adminKey];
    if (dataDir === undefined || dataDir === false) serveArgs.push("--in-memory");
    else serveArgs.push("--data", dataDir === true ? path.join(dir, "data") : path.resolve(dataDir));
    let caCert = null;
    if (tls) {
      let cert;
      let key;
      if (tls === true) {
        await run(binary, ["cert", "--out", dir]);
        cert = path.join(dir, "cert.pem");
        key = path.join(dir, "key.pem");
      } else {
        cert = path.resolve(tls.cert);
        key = path.resolve(tls.key);
      }
      serveArgs.push("--tls-cert", cert, "--tls-key", key);
      caCert = cert;
    }
    serveArgs.push(...args);

    const log = fs.openSync(logPath, "w");
    const started = Date.now();
    child = spawn(binary, serveArgs, { stdio: ["ignore", log, log], env: { ...process.env, ...env } });
    fs.closeSync(log);
    let exit = null;
    let spawnError = null;
    let server = null;
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      if (server) server._exit = exit;
    });
    child.on("error", (error) => {
      spawnError = error;
    });

    const fail = (why) => {
      const error = new Error(`teamsapps did not start: ${why}; its log: ${logPath}\n${logTail(logPath)}`);
      error.logPath = logPath;
      return error;
    };
    const deadline = started + startTimeoutMs;
    // 1. The `listening on URL` line (the first line on stdout).
    let baseUrl = null;
    while (!baseUrl) {
      if (spawnError) throw fail(`cannot run ${binary}: ${spawnError.message}`);
      if (exit) throw fail(`it exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
      if (Date.now() > deadline) throw fail(`no "listening on" line within ${startTimeoutMs} ms`);
      const match = /^listening on (\S+)/m.exec(fs.readFileSync(logPath, "utf8"));
      if (match) baseUrl = match[1].replace(/\/$/, "");
      else await sleep(20);
    }
    // 2. GET /_teamsapps/ready answers 200.
    const agent = new (baseUrl.startsWith("https:") ? https : http).Agent({ keepAlive: true });
    const ca = caCert ? fs.readFileSync(caCert) : undefined;
    for (;;) {
      if (exit) throw fail(`it exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
      if (Date.now() > deadline) throw fail(`${baseUrl}/_teamsapps/ready did not answer 200 within ${startTimeoutMs} ms`);
      try {
        if ((await send(agent, "GET", `${baseUrl}/_teamsapps/ready`, { ca })).status === 200) break;
      } catch {
        // not yet
      }
      await sleep(20);
    }

    const tenant = fx.tenants[0];
    server = new Teamsapps({
      baseUrl,
      graphUrl: `${baseUrl}/v1.0`,
      authorityHost: baseUrl,
      tenantId: tenant.id,
      tokenUrl: `${baseUrl}/${tenant.id}/oauth2/v2.0/token`,
      tenants: fx.tenants,
      users: tenant.users,
      applications: tenant.applications,
      teams: tenant.teams,
      chats: tenant.chats,
      adminKey,
      fixturePath: fx.file,
      logPath,
      caCert,
      pid: child.pid,
      binary,
      startMs: Date.now() - started,
      _child: child,
      _dir: dir,
      _agent: agent,
      _ca: ca,
      _exit: exit,
      _stopped: null,
    });
    // A forgotten stop() must not keep the test process alive; the exit hook kills the server.
    child.unref();
    live.add(server);
    installExitHook();
    return server;
  } catch (error) {
    // Keep the directory (the log) of a server that failed to start; kill it if it runs.
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    if (!fs.existsSync(path.join(dir, "teamsapps.log"))) fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

module.exports = { startTeamsapps, appPackage, helloManifest, binaryPath, Teamsapps, GRAPH_SCOPE };
