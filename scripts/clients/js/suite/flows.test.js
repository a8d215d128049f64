// The life of an org app through the stock Graph JavaScript client: publish (zip), catalog
// queries, install / list / get / upgrade (with and without consentedPermissionSet) / uninstall
// in user, chat and team scope, and the GraphErrors of the refusals.
"use strict";

const { describe, it, before } = require("node:test");
const assert = require("node:assert/strict");
const {
  ADELE,
  CHAT,
  TEAM,
  ROLLOUT,
  REPORT,
  appClient,
  meganClient,
  rawTokenClient,
  expectGraphError,
  manifest,
  appPackage,
  randomUUID,
} = require("./lib");

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// The chat id goes into the path raw (`19:…@thread.v2`), as the JS client sends it.
const SCOPES = [
  { name: "user", path: `/users/${ADELE}/teamwork/installedApps` },
  { name: "chat", path: `/chats/${CHAT}/installedApps` },
  { name: "team", path: `/teams/${TEAM}/installedApps` },
];
const RSC = [
  ["ChannelMessage.Read.Group", "Application"],
  ["ChatMessage.Read.Chat", "Application"],
];

describe("an org app's life through @microsoft/microsoft-graph-client", () => {
  let rollout; // the rollout bot, application token (ClientSecretCredential)
  let megan; // Megan, Teams service admin, delegated token (UsernamePasswordCredential)
  const manifestId = randomUUID();
  let app; // the published teamsApp
  const installed = {}; // scope name -> installation id

  const publish = (client, version, rsc) =>
    client
      .api("/appCatalogs/teamsApps")
      .header("Content-Type", "application/zip")
      .post(appPackage(manifest(manifestId, version, rsc)));
  const newVersion = (version, rsc) =>
    megan
      .api(`/appCatalogs/teamsApps/${app.id}/appDefinitions`)
      .header("Content-Type", "application/zip")
      .post(appPackage(manifest(manifestId, version, rsc)));
  const getInstalled = (scope) =>
    rollout.api(`${scope.path}/${installed[scope.name]}`).expand("teamsAppDefinition").get();

  before(() => {
    rollout = appClient(ROLLOUT);
    megan = meganClient();
  });

  it("publishes an app package (application/zip) as a Teams service admin", async () => {
    app = await publish(megan, "1.0.0");
    assert.match(app.id, GUID);
    assert.equal(app.externalId, manifestId);
    assert.equal(app.distributionMethod, "organization");
    assert.equal(app.displayName, "Field tasks");
  });

  it("refuses to publish the same manifest id again: 409 Conflict", async () => {
    await expectGraphError(() => publish(megan, "1.0.0"), 409, "Conflict");
  });

  it("refuses to publish with an application token: 403 AccessDenied", async () => {
    await expectGraphError(() => publish(rollout, "9.0.0"), 403, "AccessDenied");
  });

  it("lists the catalog with $filter and $expand=appDefinitions", async () => {
    const all = await rollout.api("/appCatalogs/teamsApps").get();
    assert.ok(all.value.some((a) => a.id === app.id), "the new app is in the catalog");
    assert.ok(all.value.some((a) => a.distributionMethod === "store"), "the store apps are there too");

    const page = await rollout
      .api("/appCatalogs/teamsApps")
      .filter(`externalId eq '${manifestId}'`)
      .expand("appDefinitions")
      .get();
    assert.equal(page.value.length, 1);
    const [found] = page.value;
    assert.equal(found.id, app.id);
    assert.equal(found.appDefinitions.length, 1);
    assert.equal(found.appDefinitions[0].version, "1.0.0");
    assert.equal(found.appDefinitions[0].publishingState, "published");
    assert.equal(found.appDefinitions[0].teamsAppId, app.id);
  });

  for (const scope of SCOPES) {
    it(`installs, lists and gets the app in ${scope.name} scope`, async () => {
      const bind = { "teamsApp@odata.bind": `https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/${app.id}` };
      await rollout.api(scope.path).post(bind);

      const list = await rollout
        .api(scope.path)
        .filter(`teamsApp/id eq '${app.id}'`)
        .expand("teamsApp,teamsAppDefinition")
        .get();
      assert.equal(list.value.length, 1, JSON.stringify(list));
      const [inst] = list.value;
      assert.equal(inst.teamsApp.id, app.id);
      assert.equal(inst.teamsAppDefinition.version, "1.0.0");
      installed[scope.name] = inst.id;

      const got = await getInstalled(scope);
      assert.equal(got.id, inst.id);
      assert.equal(got.teamsAppDefinition.version, "1.0.0");

      await expectGraphError(() => rollout.api(scope.path).post(bind), 409, "Conflict");
    });
  }

  it("publishes version 1.1.0 (update with a zip)", async () => {
    await newVersion("1.1.0");
    const page = await rollout.api(`/appCatalogs/teamsApps/${app.id}`).expand("appDefinitions").get();
    assert.deepEqual(page.appDefinitions.map((d) => d.version).sort(), ["1.0.0", "1.1.0"]);
  });

  for (const scope of SCOPES) {
    it(`upgrades in ${scope.name} scope without a consentedPermissionSet`, async () => {
      await rollout.api(`${scope.path}/${installed[scope.name]}/upgrade`).post({});
      assert.equal((await getInstalled(scope)).teamsAppDefinition.version, "1.1.0");
    });
  }

  let required; // the RSC set of 1.2.0, as the catalog reports it
  it("publishes 1.2.0 requiring RSC application permissions, read back with $expand($select)", async () => {
    await newVersion("1.2.0", RSC);
    const page = await rollout
      .api("/appCatalogs/teamsApps")
      .filter(`id eq '${app.id}'`)
      .expand("appDefinitions($select=id,authorization)")
      .get();
    const defs = page.value[0].appDefinitions;
    assert.equal(defs.length, 3);
    const withRsc = defs.filter(
      (d) => d.authorization.requiredPermissionSet.resourceSpecificPermissions.length > 0,
    );
    assert.equal(withRsc.length, 1);
    required = withRsc[0].authorization.requiredPermissionSet;
    assert.deepEqual(
      required.resourceSpecificPermissions.map((p) => [p.permissionValue, p.permissionType]).sort(),
      RSC.map(([n, t]) => [n, t.toLowerCase()]).sort(),
    );
  });

  it("refuses an upgrade to 1.2.0 without the consentedPermissionSet: 400 BadRequest", async () => {
    const team = SCOPES.find((s) => s.name === "team");
    await expectGraphError(
      () => rollout.api(`${team.path}/${installed.team}/upgrade`).post({}),
      400,
      "BadRequest",
    );
    assert.equal((await getInstalled(team)).teamsAppDefinition.version, "1.1.0");
  });

  for (const scope of SCOPES) {
    it(`upgrades in ${scope.name} scope with a consentedPermissionSet`, async () => {
      await rollout
        .api(`${scope.path}/${installed[scope.name]}/upgrade`)
        .post({ consentedPermissionSet: required });
      assert.equal((await getInstalled(scope)).teamsAppDefinition.version, "1.2.0");
      const selected = await rollout
        .api(`${scope.path}/${installed[scope.name]}`)
        .select("id,consentedPermissionSet")
        .get();
      assert.equal(selected.id, installed[scope.name]);
      assert.deepEqual(
        selected.consentedPermissionSet.resourceSpecificPermissions.map((p) => p.permissionValue).sort(),
        RSC.map(([n]) => n).sort(),
      );
    });
  }

  it("refuses writes to the read-only app: 403 Forbidden", async () => {
    const report = appClient(REPORT);
    const team = SCOPES.find((s) => s.name === "team");
    const listed = await report.api(team.path).get();
    assert.ok(listed.value.some((i) => i.id === installed.team), "the report app may read");
    await expectGraphError(
      () => report.api(`${team.path}/${installed.team}`).delete(),
      403,
      "Forbidden",
    );
  });

  for (const scope of SCOPES) {
    it(`uninstalls in ${scope.name} scope; the installation is then 404 NotFound`, async () => {
      await rollout.api(`${scope.path}/${installed[scope.name]}`).delete();
      await expectGraphError(() => getInstalled(scope), 404, "NotFound");
      const list = await rollout.api(scope.path).filter(`teamsApp/id eq '${app.id}'`).get();
      assert.deepEqual(list.value, []);
    });
  }

  it("answers a user that does not exist with 404 NotFound", async () => {
    await expectGraphError(
      () => rollout.api(`/users/${randomUUID()}/teamwork/installedApps`).get(),
      404,
      "NotFound",
    );
  });

  it("answers a token it did not issue with 401 InvalidAuthenticationToken", async () => {
    await expectGraphError(
      () => rawTokenClient("not-a-token").api("/appCatalogs/teamsApps").get(),
      401,
      "InvalidAuthenticationToken",
    );
  });
});
