// The SDK's helpers against the server: PageIterator over $top + @odata.nextLink, $count=true,
// BatchRequestContent / BatchResponseContent against $batch, and the RetryHandler on a 429.
"use strict";

const { describe, it, before } = require("node:test");
const assert = require("node:assert/strict");
const {
  PageIterator,
  BatchRequestContent,
  BatchResponseContent,
  RetryHandlerOptions,
} = require("@microsoft/microsoft-graph-client");
const { BASE, CHAT, TEAM, ROLLOUT, appClient, controls } = require("./lib");

const WHITEBOARD = "1a2b3c4d-0000-4000-8000-000000000004"; // a store app of fixture.yaml

describe("the SDK's paging, batching and retry helpers", () => {
  let rollout;
  before(() => {
    rollout = appClient(ROLLOUT);
  });

  it("walks the team's installations with PageIterator over $top=2 and @odata.nextLink", async () => {
    const all = await rollout.api(`/teams/${TEAM}/installedApps`).get();
    assert.ok(all.value.length >= 4, `the fixture installs four apps in the team: ${all.value.length}`);

    const first = await rollout.api(`/teams/${TEAM}/installedApps`).top(2).get();
    assert.equal(first.value.length, 2);
    assert.ok(first["@odata.nextLink"], "a first page of two has a nextLink");
    assert.ok(
      first["@odata.nextLink"].startsWith(`${BASE}/v1.0/teams/${TEAM}/installedApps?`),
      `the nextLink comes back to this server over https: ${first["@odata.nextLink"]}`,
    );

    const seen = [];
    const pages = new PageIterator(rollout, first, (item) => {
      seen.push(item.id);
      return true; // keep going
    });
    await pages.iterate();
    assert.ok(pages.isComplete(), "the iterator reached the last page");
    assert.deepEqual([...seen].sort(), all.value.map((i) => i.id).sort());
    assert.equal(new Set(seen).size, seen.length, "no item twice");
  });

  it("counts with $count=true, and team lists carry @odata.count anyway", async () => {
    const all = await rollout.api(`/teams/${TEAM}/installedApps`).get();
    assert.equal(all["@odata.count"], all.value.length);

    const counted = await rollout.api(`/teams/${TEAM}/installedApps`).top(1).count(true).get();
    assert.equal(counted.value.length, 1);
    assert.equal(counted["@odata.count"], all.value.length, "the count is of the whole collection");

    const catalog = await rollout.api("/appCatalogs/teamsApps").count(true).top(2).get();
    assert.equal(catalog.value.length, 2);
    assert.ok(catalog["@odata.count"] >= 5, `five store apps at least: ${catalog["@odata.count"]}`);
  });

  it("installs then lists in one $batch (BatchRequestContent / BatchResponseContent)", async () => {
    // The SDK strips scheme, host and port from each Request's URL and sends the rest, so the
    // requests are built on the server root: `/chats/…` rather than `/v1.0/chats/…`.
    const installedApps = `${BASE}/chats/${CHAT}/installedApps`;
    const bind = { "teamsApp@odata.bind": `https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/${WHITEBOARD}` };
    const post = () =>
      new Request(installedApps, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(bind),
      });
    const list = () =>
      new Request(`${installedApps}?$expand=teamsApp&$filter=teamsApp/id eq '${WHITEBOARD}'`, {
        method: "GET",
      });
    // Serial: each step depends on the one before; the second install fails (409), so the
    // list after it is not run (424).
    const content = new BatchRequestContent([
      { id: "install", request: post() },
      { id: "list", request: list(), dependsOn: ["install"] },
      { id: "again", request: post(), dependsOn: ["list"] },
      { id: "after", request: list(), dependsOn: ["again"] },
    ]);
    const answer = await rollout.api("/$batch").post(await content.getContent());
    const responses = new BatchResponseContent(answer);

    assert.equal(responses.getResponseById("install").status, 201);
    const listed = responses.getResponseById("list");
    assert.equal(listed.status, 200);
    const body = await listed.json();
    assert.equal(body.value.length, 1);
    assert.equal(body.value[0].teamsApp.id, WHITEBOARD);

    const again = responses.getResponseById("again");
    assert.equal(again.status, 409);
    assert.equal((await again.json()).error.code, "Conflict");
    assert.equal(responses.getResponseById("after").status, 424);

    // Clean up through a batch too: a 204 item (no body) must still parse.
    const cleanup = new BatchRequestContent([
      { id: "remove", request: new Request(`${installedApps}/${body.value[0].id}`, { method: "DELETE" }) },
    ]);
    const removed = new BatchResponseContent(
      await rollout.api("/$batch").post(await cleanup.getContent()),
    );
    assert.equal(removed.getResponseById("remove").status, 204);
    const left = await rollout.api(`/chats/${CHAT}/installedApps`).filter(`teamsApp/id eq '${WHITEBOARD}'`).get();
    assert.deepEqual(left.value, []);
  });

  it("waits out a 429's Retry-After with the RetryHandler and gets through", async () => {
    const settings = await controls("GET", "settings");
    // One request per second per app on a team: the second GET in a row is throttled.
    const throttled = structuredClone(settings);
    throttled.throttle.mode = "graph";
    throttled.throttle.limits.perTeamPerSecond = 1;
    await controls("PUT", "settings", throttled);
    try {
      await controls("DELETE", "requests");
      const path = `/teams/${TEAM}/installedApps`;
      await rollout.api(path).get();
      const started = Date.now();
      const second = await rollout
        .api(path)
        .middlewareOptions([new RetryHandlerOptions(1, 3)])
        .get();
      const waited = (Date.now() - started) / 1000;
      assert.ok(Array.isArray(second.value), "the retried request got the list");

      const log = (await controls("GET", "requests")).value.filter((e) => e.path.includes("/installedApps"));
      const statuses = log.map((e) => e.status);
      assert.deepEqual(statuses, [200, 429, 200], JSON.stringify(log));
      assert.ok(waited >= 0.5, `the retry waited for Retry-After (${waited}s)`);
    } finally {
      await controls("PUT", "settings", settings);
    }
  });
});
