// Shared set-up of the JavaScript client suite: the tenant of fixture.yaml, Graph clients built
// the way an application would build them, and app packages made in memory.
"use strict";

const assert = require("node:assert/strict");
const zlib = require("node:zlib");
const { randomUUID } = require("node:crypto");
const { Client, GraphError } = require("@microsoft/microsoft-graph-client");
const {
  TokenCredentialAuthenticationProvider,
} = require("@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials");
const { ClientSecretCredential, UsernamePasswordCredential } = require("@azure/identity");

// js.sh starts teamsapps over HTTPS and passes its base URL; NODE_EXTRA_CA_CERTS trusts its cert.
const BASE = process.env.TEAMSAPPS_BASE;
const ADMIN_KEY = process.env.TEAMSAPPS_ADMIN_KEY;
if (!BASE || !BASE.startsWith("https://")) {
  throw new Error("TEAMSAPPS_BASE must be the https:// base URL of a running teamsapps (js.sh sets it)");
}
const HOST = new URL(BASE).hostname;

const TENANT = "2f1a6c2e-0000-4000-8000-000000000001";
const ROLLOUT = { id: "11111111-1111-4111-8111-111111111111", secret: "rollout-secret" };
const REPORT = { id: "22222222-2222-4222-8222-222222222222", secret: "report-secret" };
const MEGAN = { id: "5b649834-7412-4cce-9e69-176e95a394f5", upn: "megan@contoso.example", password: "megan-password" };
const ADELE = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
const CHAT = "19:ea28e88c00e94c7786b065394a61f296@thread.v2";
const TEAM = "6903fa93-605b-43ef-920e-77c4729f8258";
const SCOPES = ["https://graph.microsoft.com/.default"];

// @azure/identity (MSAL) against our identity endpoints: the authority host is our base URL,
// and instance discovery (a call to login.microsoftonline.com) is turned off.
const identityOptions = { authorityHost: BASE, disableInstanceDiscovery: true };

function graphClient(credential) {
  return Client.initWithMiddleware({
    baseUrl: BASE,
    defaultVersion: "v1.0",
    // Without it the AuthenticationHandler sends no token to a host that is not Graph's.
    customHosts: new Set([HOST]),
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: SCOPES }),
  });
}

/** Application (client credentials) client of an app registration of the fixture. */
function appClient(app) {
  return graphClient(new ClientSecretCredential(TENANT, app.id, app.secret, identityOptions));
}

/** Delegated client: Megan (a Teams service admin) signed in to the rollout bot (ROPC). */
function meganClient() {
  return graphClient(
    new UsernamePasswordCredential(TENANT, ROLLOUT.id, MEGAN.upn, MEGAN.password, identityOptions),
  );
}

/** A client whose every request carries the given bearer token as is. */
function rawTokenClient(token) {
  return Client.init({
    baseUrl: BASE,
    defaultVersion: "v1.0",
    customHosts: new Set([HOST]),
    authProvider: (done) => done(null, token),
  });
}

/** Awaits a call that must fail with a GraphError of this status and code. */
async function expectGraphError(call, statusCode, code) {
  let error;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a GraphError ${statusCode} ${code}, the call succeeded`);
  assert.ok(error instanceof GraphError, `expected a GraphError, got ${error && error.stack}`);
  assert.equal(error.statusCode, statusCode, `${error.code}: ${error.message}`);
  assert.equal(error.code, code, error.message);
  assert.ok(error.message, "the error carries Graph's message");
  return error;
}

/** The test controls of the server (`/_teamsapps/...`), with the admin key. */
async function controls(method, path, body) {
  const res = await fetch(`${BASE}/_teamsapps/${path}`, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) assert.fail(`${method} /_teamsapps/${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

// --- app packages ------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A real (solid colour) RGBA PNG of size x size. */
function png(size) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  const row = Buffer.alloc(1 + size * 4, 0x80);
  row[0] = 0; // filter type: none
  const pixels = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(pixels)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A zip of deflated entries: local headers, central directory, end record. */
function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const nameBytes = Buffer.from(name, "utf8");
    const data = zlib.deflateRawSync(content);
    const fields = Buffer.alloc(26);
    fields.writeUInt16LE(20, 0); // version needed
    fields.writeUInt16LE(0x0800, 2); // UTF-8 names
    fields.writeUInt16LE(8, 4); // deflate
    fields.writeUInt32LE(0x00210000, 6); // 1980-01-01 00:00
    fields.writeUInt32LE(crc32(content), 10);
    fields.writeUInt32LE(data.length, 14);
    fields.writeUInt32LE(content.length, 18);
    fields.writeUInt16LE(nameBytes.length, 22);
    fields.writeUInt16LE(0, 24);
    const local = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), fields, nameBytes, data]);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    fields.copy(central, 6);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBytes);
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A Teams app manifest (tab in every scope), optionally requiring RSC permissions. */
function manifest(id, version, rsc = []) {
  const m = {
    manifestVersion: "1.17",
    id,
    version,
    name: { short: "Field tasks", full: "Field tasks for Contoso" },
    description: { short: "Tasks on the go", full: "Plan and track field tasks in Teams." },
    developer: {
      name: "Contoso",
      websiteUrl: "https://contoso.example",
      privacyUrl: "https://contoso.example/privacy",
      termsOfUseUrl: "https://contoso.example/terms",
    },
    icons: { color: "color.png", outline: "outline.png" },
    staticTabs: [{ entityId: "tasks", scopes: ["personal", "team", "groupChat"] }],
  };
  if (rsc.length) {
    m.authorization = { permissions: { resourceSpecific: rsc.map(([name, type]) => ({ name, type })) } };
  }
  return m;
}

/** The app package (zip) Graph's publish and update take. */
function appPackage(m) {
  return zip([
    ["manifest.json", Buffer.from(JSON.stringify(m), "utf8")],
    ["color.png", png(192)],
    ["outline.png", png(32)],
  ]);
}

module.exports = {
  BASE,
  TENANT,
  ROLLOUT,
  REPORT,
  MEGAN,
  ADELE,
  CHAT,
  TEAM,
  identityOptions,
  appClient,
  meganClient,
  rawTokenClient,
  expectGraphError,
  controls,
  manifest,
  appPackage,
  randomUUID,
};
