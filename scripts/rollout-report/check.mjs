// Opens a `teamsapps rollout report --format html` page in headless Chromium and checks that it
// shows what the same journal's JSON report says: the summary per scope, a chart with a bar per
// scope, state (before/after) and version, and one failures row per failed or blocked target.
// The page must be self-contained: it may load nothing but itself.
//
// node check.mjs REPORT.html REPORT.json SCREENSHOT.png
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [html, json, screenshot] = process.argv.slice(2);
if (!html || !json || !screenshot) {
  console.error("usage: node check.mjs REPORT.html REPORT.json SCREENSHOT.png");
  process.exit(2);
}
const report = JSON.parse(readFileSync(json, "utf8"));
const failures = (msg) => {
  console.error(`report check failed: ${msg}`);
  process.exitCode = 1;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  const url = pathToFileURL(html).href;
  const elsewhere = [];
  const errors = [];
  page.on("request", (r) => r.url() !== url && elsewhere.push(r.url()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(url);
  if (elsewhere.length) failures(`the page loads other resources: ${elsewhere.join(", ")}`);
  if (errors.length) failures(`the page logs errors: ${errors.join("; ")}`);

  const h1 = await page.locator("h1").innerText();
  if (!h1.includes("rollout report")) failures(`heading is '${h1}'`);

  // Summary: one row per scope, its cells saying the same counts as the JSON summary.
  const rows = await page.locator("h2:text('Summary') + table tr").allInnerTexts();
  const scopes = Object.keys(report.summary);
  if (rows.length !== scopes.length + 1) failures(`summary has ${rows.length - 1} rows, JSON ${scopes.length} scopes`);
  for (const scope of scopes) {
    const row = rows.find((r) => r.startsWith(scope));
    if (!row) {
      failures(`no summary row for ${scope}`);
      continue;
    }
    for (const [result, n] of Object.entries(report.summary[scope])) {
      if (!row.includes(`${result}: ${n}`)) failures(`summary row '${row}' lacks '${result}: ${n}'`);
    }
  }

  // Chart: a visible bar per (scope before|after, version) the targets have.
  const bars = new Set();
  for (const t of report.targets) {
    bars.add(`${t.scope} before ${t.fromVersion}`);
    bars.add(`${t.scope} after ${t.result === "upgraded" ? t.toVersion : t.fromVersion}`);
  }
  const rects = page.locator("svg rect");
  if ((await rects.count()) !== bars.size) failures(`chart has ${await rects.count()} bars, expected ${bars.size}`);
  for (let i = 0; i < (await rects.count()); i++) {
    const box = await rects.nth(i).boundingBox();
    if (!box || box.width < 1 || box.height < 1) failures(`bar ${i} is not visible`);
  }
  const labels = await page.locator("svg text").allTextContents();
  for (const bar of bars) {
    if (!labels.includes(bar)) failures(`chart has no label '${bar}'`);
  }

  // Failures: one row per failed or blocked target, with its last error.
  const bad = report.targets.filter((t) => t.result === "failed" || t.result === "blocked");
  const cells = await page.locator("h2:text('Failures') + table tr").allInnerTexts();
  const listed = cells.slice(1).filter((r) => r.trim() !== "none");
  if (listed.length !== bad.length) failures(`failures table has ${listed.length} rows, JSON ${bad.length}`);
  for (const t of bad) {
    if (!listed.some((r) => r.includes(t.targetId) && r.includes(t.lastError))) {
      failures(`no failures row for ${t.scope} ${t.targetId} (${t.lastError})`);
    }
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  if (!process.exitCode) {
    console.log(
      `report ok: ${scopes.length} scope(s), ${bars.size} bars, ${bad.length} failed or blocked; screenshot ${screenshot}`,
    );
  }
} finally {
  await browser.close();
}
