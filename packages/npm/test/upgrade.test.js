// The npm package as a user gets it: scripts/packages/npm.sh installs the packed tarball and
// @microsoft/microsoft-graph-client into a fresh project, copies this file there and runs
// `node --test` on it. An app's life through the stock Graph client against a server the helper
// started: publish, install for a user, publish a new version, upgrade, then the test controls
// (snapshot, restore, settings, request log, reset back to the seed), the launcher, ESM, HTTPS
// and stop().
"use strict";

const { describe, it, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync, spawnSync } = require("node:child_process");
const { randomUUID } = require("node:crypto");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startTeamsapps } = require("teamsapps");
const { GraphError } = require("@microsoft/microsoft-graph-client");

// fixtures/demo.yaml, the fixture bundled in the package.
const DEMO_TENANT = "2f1a6c2e-0000-4000-8000-000000000001";
const ONENOTE = "0d820ecd-def2-4297-adad-78056cde7c78";
const launcher = path.join(process.cwd(), "node_modules", ".bin", "teamsapps");

const manifest = (id) => ({
  manifestVersion: "1.17",
  id,
  version: "1.0.0",
  name: { short: "Field tasks", full: "Field tasks for Contoso" },
  description: { short: "Tasks on the go", full: "Plan and track field tasks in Teams." },
  developer: {
    name: "Contoso",
    websiteUrl: "https://contoso.example",
    privacyUrl: "https://contoso.example/privacy",
    termsOfUseUrl: "https://contoso.example/terms",
  },
  // Icons the package command draws: the manifest names them, the zip gets them.
  icons: { color: "color.png", outline: "outline.png" },
  staticTabs: [{ entityId: "tasks", scopes: ["personal", "team", "groupChat"] }],
});

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("the teamsapps npm package with @microsoft/microsoft-graph-client", () => {
  let ta;
  let bot; // the Rollout bot, app-only (client credentials)
  let megan; // Megan, a Teams service admin, signed in to the Rollout bot (password grant)
  let adele;
  const manifestId = randomUUID();
  let app; // the published teamsApp
  let installationId;

  const installations = async (user) =>
    (await bot.api(`/users/${user.id}/teamwork/installedApps`).expand("teamsApp").get()).value;
  const orgApps = async () =>
    (await bot.api("/appCatalogs/teamsApps").filter("distributionMethod eq 'organization'").get()).value;

  before(async () => {
    ta = await startTeamsapps();
    bot = ta.graphClient();
    megan = ta.graphClient({ user: "megan@contoso.example" });
    adele = ta.user("adele@contoso.example");
  });

  after(async () => {
    if (ta) await ta.stop();
  });

  it("knows the facts of the bundled demo tenant", async () => {
    assert.match(ta.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(ta.graphUrl, `${ta.baseUrl}/v1.0`);
    assert.equal(ta.tenantId, DEMO_TENANT);
    assert.equal(ta.tokenUrl, `${ta.baseUrl}/${DEMO_TENANT}/oauth2/v2.0/token`);
    const rollout = ta.application("Rollout bot");
    assert.equal(rollout.clientId, "11111111-1111-4111-8111-111111111111");
    assert.equal(rollout.clientSecret, "rollout-secret");
    assert.equal(ta.applications[1].clientSecret, "report-secret");
    assert.equal(ta.user("megan@contoso.example").password, "megan-password");
    assert.equal(adele.id, "8b081ef6-4792-4def-b2c9-c363a1bf41d5");
    assert.equal(ta.teams[0].id, "6903fa93-605b-43ef-920e-77c4729f8258");
    assert.ok(ta.adminKey.length >= 16);
    assert.match(ta.fixturePath, /node_modules[\\/]teamsapps[\\/]fixtures[\\/]demo\.yaml$/);
    assert.ok(await ta.admin.ready());
  });

  it("gets tokens from the server's own token endpoint", async () => {
    const claims = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
    const appOnly = claims(await ta.token());
    assert.equal(appOnly.tid, DEMO_TENANT);
    assert.equal(appOnly.appid, "11111111-1111-4111-8111-111111111111");
    assert.ok(appOnly.roles.includes("TeamsAppInstallation.ReadWriteAndConsentForUser.All"));
    const delegated = claims(await ta.token({ user: "megan@contoso.example" }));
    assert.match(delegated.scp, /AppCatalog\.ReadWrite\.All/);
    const report = claims(await ta.token({ app: "Inventory report" }));
    assert.equal(report.appid, "22222222-2222-4222-8222-222222222222");
    await assert.rejects(ta.token({ user: "megan@contoso.example", password: "wrong" }), /answered 400/);
  });

  it("publishes an app with the Graph client (a delegated admin)", async () => {
    const zip = await ta.appPackage(manifest(manifestId), { version: "1.0.0" });
    app = await megan.api("/appCatalogs/teamsApps").header("Content-Type", "application/zip").post(zip);
    assert.equal(app.externalId, manifestId);
    assert.equal(app.distributionMethod, "organization");
  });

  it("installs it for Adele with the Graph client (app-only)", async () => {
    await bot.api(`/users/${adele.id}/teamwork/installedApps`).post({
      "teamsApp@odata.bind": `https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/${app.id}`,
    });
    const mine = (await installations(adele)).filter((i) => i.teamsApp.id === app.id);
    assert.equal(mine.length, 1);
    installationId = mine[0].id;
    const got = await bot
      .api(`/users/${adele.id}/teamwork/installedApps/${installationId}`)
      .expand("teamsAppDefinition")
      .get();
    assert.equal(got.teamsAppDefinition.version, "1.0.0");
  });

  it("publishes 1.1.0 and upgrades Adele's installation with the Graph client", async () => {
    const zip = await ta.appPackage(manifest(manifestId), { version: "1.1.0" });
    await megan
      .api(`/appCatalogs/teamsApps/${app.id}/appDefinitions`)
      .header("Content-Type", "application/zip")
      .post(zip);
    await bot.api(`/users/${adele.id}/teamwork/installedApps/${installationId}/upgrade`).post({});
    const got = await bot
      .api(`/users/${adele.id}/teamwork/installedApps/${installationId}`)
      .expand("teamsAppDefinition")
      .get();
    assert.equal(got.teamsAppDefinition.version, "1.1.0");
    const log = await ta.admin.requests();
    assert.ok(
      log.some((r) => r.operation === "UpgradeAppForUser" && r.status === 204),
      `the request log has the upgrade: ${JSON.stringify(log.map((r) => [r.operation, r.status]))}`,
    );
  });

  it("snapshots, resets and restores", async () => {
    await ta.admin.snapshot("upgraded");
    await ta.reset();
    assert.deepEqual(await installations(adele), []);
    await ta.admin.restore("upgraded");
    const back = (await installations(adele)).find((i) => i.id === installationId);
    assert.ok(back, "the restored state has Adele's installation");
    await assert.rejects(ta.admin.restore("never-taken"), /answered 404/);
  });

  it("changes the fault settings at runtime", async () => {
    const original = await ta.admin.settings();
    assert.equal(original.throttle.mode, "off");
    await ta.admin.setSettings({ faults: { rules: [{ operations: ["ListTeamsApps"], rate: 1, statuses: [500] }] } });
    try {
      await assert.rejects(orgApps(), (e) => e instanceof GraphError && e.statusCode === 500);
    } finally {
      assert.deepEqual(await ta.admin.settings(original), original);
    }
    assert.ok((await orgApps()).length >= 1);
    await ta.admin.clearRequests();
    assert.deepEqual(await ta.admin.requests(), []);
  });

  it("sends plain requests with tokens of the fixture, no Graph client needed", async () => {
    assert.equal(ta.clientId, "11111111-1111-4111-8111-111111111111");
    assert.equal(ta.app("Inventory report").clientSecret, "report-secret");
    assert.deepEqual(ta.env, { TEAMSAPPS_URL: ta.baseUrl, TEAMSAPPS_ADMIN_KEY: ta.adminKey, TEAMSAPPS_TENANT_ID: DEMO_TENANT });
    const hello = await ta.request("POST", "/v1.0/appCatalogs/teamsApps", {
      user: "megan@contoso.example",
      body: await ta.appPackage(),
      contentType: "application/zip",
    });
    assert.equal(hello.status, 201, hello.text);
    assert.equal(hello.json().displayName, "Hello");
    const refused = await ta.request("POST", "/v1.0/appCatalogs/teamsApps", {
      app: "Inventory report",
      body: await ta.appPackage(),
      contentType: "application/zip",
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, "AccessDenied");
  });

  it("reset() puts the seed state back", async () => {
    assert.ok((await orgApps()).some((a) => a.id === app.id));
    const answer = await ta.reset();
    assert.equal(answer.reset, true);
    assert.deepEqual(await orgApps(), [], "the published app is gone");
    const catalog = (await bot.api("/appCatalogs/teamsApps").get()).value;
    assert.deepEqual(
      catalog.map((a) => a.externalId ?? a.id),
      [ONENOTE],
      "the catalog is the fixture's",
    );
    assert.deepEqual(await installations(adele), []);
    const megansApps = await installations(ta.user("megan@contoso.example"));
    assert.deepEqual(megansApps.map((i) => i.teamsApp.displayName), ["OneNote"]);
  });

  it("runs the binary through the npx launcher, exit codes included", () => {
    assert.match(execFileSync(launcher, ["--version"], { encoding: "utf8" }), /^teamsapps \d+\.\d+\.\d+/);
    const bad = spawnSync(launcher, ["serve", "--no-such-flag"], { encoding: "utf8" });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--no-such-flag/);
  });

  it("imports from ESM", () => {
    const script =
      'import { startTeamsapps } from "teamsapps";' +
      "const ta = await startTeamsapps({ fixture: 'isolation' });" +
      "console.log(ta.tenants.length, await ta.token() !== '');" +
      "await ta.stop();";
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(out.trim(), "2 true");
  });

  it("serves HTTPS: its own certificate, or one the process trusts for the stock client", async () => {
    const own = await startTeamsapps({ tls: true });
    try {
      assert.match(own.baseUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(fs.existsSync(own.caCert));
      assert.ok((await own.token()).length > 100);
      assert.equal((await own.reset()).reset, true);
      if (!process.env.NODE_EXTRA_CA_CERTS) assert.throws(() => own.graphClient(), /NODE_EXTRA_CA_CERTS/);
    } finally {
      await own.stop();
    }
    // A certificate made once (npx teamsapps cert), trusted through NODE_EXTRA_CA_CERTS at the
    // start of node: graphClient() is then the stock client with its stock middleware chain.
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), "teamsapps-certs-"));
    try {
      execFileSync(launcher, ["cert", "--out", certs], { stdio: "ignore" });
      const script =
        "const { startTeamsapps } = require('teamsapps');" +
        "(async () => {" +
        `  const ta = await startTeamsapps({ tls: { cert: ${JSON.stringify(path.join(certs, "cert.pem"))}, key: ${JSON.stringify(path.join(certs, "key.pem"))} } });` +
        "  const apps = (await ta.graphClient().api('/appCatalogs/teamsApps').get()).value;" +
        "  console.log(ta.baseUrl.split(':')[0], apps.map((a) => a.displayName).join());" +
        "  await ta.stop();" +
        "})().catch((e) => { console.error(e); process.exit(1); });";
      const out = execFileSync(process.execPath, ["-e", script], {
        encoding: "utf8",
        env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(certs, "cert.pem") },
      });
      assert.equal(out.trim(), "https OneNote");
    } finally {
      fs.rmSync(certs, { recursive: true, force: true });
    }
  });

  it("names the server log when the server does not start", async () => {
    let error;
    try {
      await startTeamsapps({ args: ["--no-such-flag"] });
    } catch (e) {
      error = e;
    }
    assert.ok(error, "a server with a bad flag does not start");
    assert.match(error.message, /teamsapps did not start: it exited \(code 2\); its log: .*teamsapps\.log/);
    assert.match(fs.readFileSync(error.logPath, "utf8"), /--no-such-flag/);
    fs.rmSync(path.dirname(error.logPath), { recursive: true, force: true });
  });

  it("stop() ends the server and removes its files", async () => {
    const other = await startTeamsapps({ dataDir: true });
    const dir = path.dirname(other.logPath);
    assert.ok(alive(other.pid));
    assert.ok(fs.existsSync(path.join(dir, "data")), "dataDir: true keeps SQLite files in its directory");
    await other.stop();
    await other.stop(); // twice is fine
    assert.equal(alive(other.pid), false);
    assert.equal(fs.existsSync(dir), false);
    await assert.rejects(other.reset(), /stopped/);
  });
});
