// ESM entry (import { startTeamsapps } from "teamsapps"): the CommonJS module itself, re-exported,
// so `import` and `require` in one test run share one module and one set of servers.
import helper from "./index.js";

export const { startTeamsapps, appPackage, helloManifest, binaryPath, Teamsapps, GRAPH_SCOPE } = helper;
export default helper;
