//! Replays the documented examples of `tests/graph-examples` (copies of the spec's examples; every `v1_*` and `beta_*` file,
//! spec section 15) against the server: equivalent state is set up with real ids, the example's
//! URL is mapped onto it (doc ids swapped for real ones, the query string kept), the same
//! method, body and headers are sent, and the answer must have the example's status and shape:
//! every key of the example body exists in ours with the same JSON type, enum values in the
//! same casing, and the same `@odata.context` pattern.
//!
//! Documented deviations, each with its spec section, are rules of the row that needs them:
//! - beta-only keys in v1.0 examples (`azureADAppId`, `requiredResourceSpecificApplicationPermissions`,
//!   `shortdescription`) are not v1.0 properties (spec 2.2) and are not required;
//! - single-entity GETs shown wrapped in `"value": [...]` are compared as the plain entity
//!   (spec 4.1, "Ignore them; a single entity is a plain object");
//! - `@odata.count` on user and chat lists is optional (spec 4.3);
//! - `@odata.context` without `$metadata` in the `$select` examples is a doc quirk (spec 4.2):
//!   ours must carry `$metadata#` and the same fragment;
//! - `distributionMethod: sideloaded` cannot be produced through Graph (apps come from publish,
//!   spec 6.1), so there the value only has to be a canonical enum member;
//! - `null` in an example means "no value" (spec 1.4): any type is accepted for it.

use crate::common::*;

use std::path::PathBuf;

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

// --- the table ----------------------------------------------------------------------------------

/// Every v1_/beta_ example and how it is mapped. A new example file without a row fails
/// `every_documented_example_has_a_row`.
const ROWS: &[(&str, &str)] = &[
    ("v1_catalog_approve_submitted_definition", "admin submits 1.1.8 for review; PATCH with its real id and @odata.etag as If-Match; 200, new id ends ##Published"),
    ("v1_catalog_delete_app", "admin publishes an app; DELETE it; 204, then GET is 404"),
    ("v1_catalog_get_definition_bot", "published app with the doc's bot id; GET …/bot of its definition; 200 teamworkBot"),
    ("v1_catalog_list_filter_distributionMethod", "query as documented; every item is organization"),
    ("v1_catalog_list_filter_externalId", "doc manifest id -> our manifest id; exactly that app"),
    ("v1_catalog_list_filter_id", "doc catalog id -> our app id; exactly that app"),
    ("v1_catalog_list_filter_id_expand_appDefinitions", "doc catalog id -> our app id, $expand kept"),
    ("v1_catalog_list_rsc_permissions", "app requiring the doc's three RSC permissions; doc id -> ours; same required set"),
    ("v1_catalog_list_with_bots", "one rejected and one submitted definition with bots; query as documented (admin)"),
    ("v1_catalog_publish_app", "admin uploads a valid package; 201 teamsApp"),
    ("v1_catalog_publish_app_requiresReview", "admin uploads with requiresReview=true; 201 + Location, definition submitted"),
    ("v1_catalog_publish_manifest_error", "package without name and with websiteUrl hs://www.yo.com; 400 (doc prints 200: doc bug, spec 3.3)"),
    ("v1_user_get_installation_chat", "bot app installed for Megan; doc user/installation -> ours; sent to /v1.0 (the v1.0 page's /beta URL is a doc quirk)"),
    ("v1_user_get_installedApp", "installation for Megan; unpadded id as documented; value wrapper quirk (4.1)"),
    ("v1_user_get_installedApp_expand_definition", "installation for Megan; padded id, $expand kept; value wrapper and teams() context quirks (4.1)"),
    ("v1_user_install_app", "placeholder catalog id -> a published app; 201 no body"),
    ("v1_user_install_app_with_consent", "app requiring TeamsActivity.Send.User (application); same consent body; 201"),
    ("v1_user_list_installedApps", "Megan has installations; list; 200"),
    ("v1_user_list_installedApps_expand_definition", "Megan has installations; $expand kept"),
    ("v1_user_list_installedApps_filter_externalId", "doc user -> Megan, doc manifest id -> ours; count optional (4.3), sideloaded not producible (6.1)"),
    ("v1_user_uninstall_app", "installation for Megan; DELETE unpadded id; 204, then 404"),
    ("v1_user_upgrade", "1.0.0 installed, 1.1.0 published; POST upgrade without body; 204, now 1.1.0"),
    ("v1_user_upgrade_with_consent", "1.1.0 requires TeamsActivity.Send.User; same consent body; 204"),
    ("v1_chat_get_installedApp", "raw chat id in the path -> our chat; 200, context with encoded chat id"),
    ("v1_chat_get_installedApp_select_consentedPermissionSet", "'19%5b' typo path -> our encoded chat; app with the two delegated RSC permissions; $select kept"),
    ("v1_chat_install_app", "placeholder catalog id -> a published app; 201"),
    ("v1_chat_install_app_with_consent", "app requiring the doc's four RSC permissions; same consent body; 201"),
    ("v1_chat_list_installedApps", "doc chat -> our chat (encoded); 200"),
    ("v1_chat_list_installedApps_expand_definition_bot", "doc chat -> ours, nested $expand kept"),
    ("v1_chat_list_installedApps_filter_externalId", "doc manifest id -> ours; count optional (4.3), sideloaded not producible (6.1)"),
    ("v1_chat_list_installedApps_select_consentedPermissionSet", "one app with an application, one with delegated RSC consent; '19%5b' typo -> our chat"),
    ("v1_chat_uninstall_app", "chat installation; DELETE; 204, then 404"),
    ("v1_chat_upgrade", "1.0.0 installed in the chat, 1.1.0 published; upgrade; 204 (doc id decodes to a user scope: sample inconsistency)"),
    ("v1_chat_upgrade_with_consent", "1.1.0 requires the doc's two RSC permissions; same consent body; 204"),
    ("v1_team_get_installedApp", "doc team -> ours; value wrapper quirk (4.1)"),
    ("v1_team_get_installedApp_expand_definition", "{id} placeholders -> our team and installation; value wrapper quirk"),
    ("v1_team_get_installedApp_select_consentedPermissionSet", "chat-style team id in the doc path -> our team; delegated RSC consent"),
    ("v1_team_install_app", "placeholder team and app -> ours; 200 no body"),
    ("v1_team_install_app_with_consent", "app requiring the doc's two RSC permissions; same consent body; 200"),
    ("v1_team_list_installedApps", "our team is the doc's team; @odata.count always"),
    ("v1_team_list_installedApps_expand_definition", "$expand kept; @odata.count always"),
    ("v1_team_list_installedApps_filter_externalId", "doc team and manifest id -> ours; sideloaded not producible (6.1)"),
    ("v1_team_list_installedApps_select_consentedPermissionSet", "one installation without consent, one with delegated RSC consent"),
    ("v1_team_uninstall_app", "team installation; DELETE; 204, then 404"),
    ("v1_team_upgrade", "1.0.0 installed, 1.1.0 published; body {} sent as application/json (spec 1.3); 204"),
    ("v1_team_upgrade_with_consent", "1.1.0 requires the doc's two RSC permissions; same consent body; 204"),
    ("beta_catalog_get_colorIcon_org_app", "published app, the admin's token (icons are delegated-only); 200 teamsAppIcon"),
    ("beta_catalog_get_colorIcon_store_app", "no store apps via Graph; mapped onto an org app (trailing slash kept); 200 teamsAppIcon"),
    ("beta_catalog_get_outlineIcon_org_app", "published app, the admin's token; 200 teamsAppIcon"),
    ("beta_catalog_update_app", "admin posts 1.0.1 of a published app; 204"),
    ("beta_catalog_update_app_requiresReview", "admin posts 1.0.11 with four application RSC permissions, requiresReview=true; 201 + Location; context '#appDefinition' is a sample quirk"),
    ("beta_user_upgrade", "1.0.0 installed for Megan, 1.1.0 published; beta upgrade; 204"),
    ("beta_user_upgrade_with_consent", "1.1.0 requires TeamsActivity.Send.User; beta upgrade with consent; 204"),
];

/// Examples deliberately not replayed, with the reason. Empty: every example has a row.
const SKIPS: &[(&str, &str)] = &[];

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/graph-examples")
}

fn example_names() -> Vec<String> {
    let dir = examples_dir();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the examples directory {} must exist: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && (n.starts_with("v1_") || n.starts_with("beta_")))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no v1_/beta_ examples in {}", dir.display());
    names
}

#[test]
fn every_documented_example_has_a_row() {
    let names = example_names();
    let mut problems = Vec::new();
    for n in &names {
        let rows = ROWS.iter().filter(|(r, _)| r == n).count();
        let skips = SKIPS.iter().filter(|(r, _)| r == n).count();
        if rows + skips != 1 {
            problems.push(format!("{n}: {rows} rows and {skips} skips (need exactly one)"));
        }
    }
    for (r, _) in ROWS.iter().chain(SKIPS) {
        if !names.iter().any(|n| n == r) {
            problems.push(format!("{r}: row without an example file"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// --- examples ---------------------------------------------------------------------------------

struct Example {
    name: String,
    request: Value,
    response: Value,
}

fn load(name: &str) -> Example {
    let path = examples_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    Example {
        name: name.to_string(),
        request: v["request"].clone(),
        response: v["response"].clone(),
    }
}

// --- plans --------------------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Ids {
    app: String,
    mid: String,
    def: String,
    inst: String,
    base: String,
    extra: Vec<String>,
}

#[derive(Default)]
struct Rules {
    /// Example keys not required of us, anywhere in the body.
    ignore: Vec<&'static str>,
    /// Compare our entity with the example's `value[0]` (spec 4.1 quirk).
    unwrap_value: bool,
    /// Enum keys whose documented value cannot be reproduced: only the casing is checked.
    free_enums: Vec<&'static str>,
    /// Expected context fragment (ids as `{id}`) where the example has none or a wrong one.
    context: Option<String>,
    /// 501 NotImplemented instead of the documented answer.
    not_implemented: bool,
}

struct Plan {
    token: String,
    method: Method,
    path: String,
    body: Option<(String, Vec<u8>)>,
    headers: Vec<(String, String)>,
    status: u16,
    rules: Rules,
    ids: Ids,
}

/// Beta properties shown in v1.0 examples (spec 2.2).
const BETA_KEYS_IN_V1: &[&str] =
    &["azureADAppId", "requiredResourceSpecificApplicationPermissions", "shortdescription"];

fn subst(s: &str, subs: &[(String, String)]) -> String {
    let mut out = s.to_string();
    for (from, to) in subs {
        out = out.replace(from.as_str(), to);
    }
    out
}

fn s2(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The example's request mapped onto this server: host dropped, ids substituted in the URL,
/// the headers and the JSON body; status and rules from the example.
fn plan_from(ex: &Example, token: &str, subs: &[(String, String)]) -> Plan {
    let url = ex.request["url"].as_str().unwrap();
    let path = subst(url.trim_start_matches("https://graph.microsoft.com"), subs);
    let method = Method::from_bytes(ex.request["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut headers: Vec<(String, String)> = ex.request["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), subst(v.as_str().unwrap(), subs))).collect())
        .unwrap_or_default();
    let body = match &ex.request["body"] {
        Value::Null => None,
        b => {
            let ct = headers
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|i| headers.remove(i).1)
                // A JSON body is sent as application/json (spec 1.3) where the doc lists no header.
                .unwrap_or_else(|| "application/json".to_string());
            Some((ct, subst(&b.to_string(), subs).into_bytes()))
        }
    };
    let mut rules = Rules::default();
    if path.starts_with("/v1.0/") {
        rules.ignore.extend(BETA_KEYS_IN_V1);
    }
    Plan {
        token: token.to_string(),
        method,
        path,
        body,
        headers,
        status: ex.response["status"].as_u64().unwrap() as u16,
        rules,
        ids: Ids::default(),
    }
}

/// The example's zip body (a placeholder in the file) replaced by a real package.
fn with_zip(mut plan: Plan, manifest: &Value) -> Plan {
    plan.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
    plan.body = Some(("application/zip".to_string(), package(manifest)));
    plan
}

// --- state set-up -------------------------------------------------------------------------------

struct Ctx {
    s: Server,
    admin: String,
    /// Rollout: catalog reads, installs and upgrades with consent in every scope.
    app: String,
    /// Plain writer: ReadWriteFor{User,Chat,Team}.All, which may uninstall in chats and teams
    /// (AndConsent permissions may not, spec 4.2/4.3 tables).
    plain: String,
}

/// A manifest with a bot (the doc's bot id), an Entra app id and optional RSC permissions.
fn mf(mid: &str, version: &str, rsc: &[(&str, &str)], client: &str) -> Value {
    let mut m = manifest(mid, version);
    m["webApplicationInfo"] = json!({"id": client, "resource": "api://contoso.example/app"});
    if !rsc.is_empty() {
        m = with_rsc(m, rsc);
    }
    m
}

fn consent(rsc: &[(&str, &str)]) -> Value {
    let list: Vec<Value> =
        rsc.iter().map(|(n, t)| json!({"permissionValue": n, "permissionType": t})).collect();
    json!({"resourceSpecificPermissions": list})
}

fn user_base() -> String {
    format!("/v1.0/users/{MEGAN}/teamwork/installedApps")
}
fn chat_base() -> String {
    format!("/v1.0/chats/{}/installedApps", enc(CHAT))
}
fn team_base() -> String {
    format!("/v1.0/teams/{TEAM}/installedApps")
}

impl Ctx {
    async fn start() -> Ctx {
        let s = Server::start().await;
        let admin = s.admin_token().await;
        let app = s.app_token(ROLLOUT).await;
        let plain = s.app_token(PLAIN).await;
        Ctx { s, admin, app, plain }
    }

    /// Publishes (admin, optionally for review) and returns ids with the newest definition.
    async fn publish(&self, version: &str, rsc: &[(&str, &str)], review: bool) -> Ids {
        let mid = new_manifest_id();
        let client = new_manifest_id();
        let path = if review {
            "/v1.0/appCatalogs/teamsApps?requiresReview=true"
        } else {
            "/v1.0/appCatalogs/teamsApps"
        };
        let r = self.s.post_zip(&self.admin, path, package(&mf(&mid, version, rsc, &client))).await;
        assert_eq!(r.status, 201, "set-up publish: {}", r.body);
        let app = r.body["id"].as_str().unwrap().to_string();
        let (def, _) = self.definition(&app).await;
        Ids { app, mid, def, extra: vec![client], ..Ids::default() }
    }

    /// The newest definition's id and etag.
    async fn definition(&self, app: &str) -> (String, String) {
        let r = self.s.graph(&self.admin).list_app_definitions(app, "").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let defs = r.body["value"].as_array().unwrap();
        let last = defs.last().unwrap_or_else(|| panic!("no definitions: {}", r.body));
        (
            last["id"].as_str().unwrap().to_string(),
            last["@odata.etag"].as_str().unwrap_or("").to_string(),
        )
    }

    async fn update(&self, ids: &Ids, version: &str, rsc: &[(&str, &str)]) {
        let m = mf(&ids.mid, version, rsc, &ids.extra[0]);
        self.s.update(&self.admin, &ids.app, &m).await;
    }

    async fn install(&self, base: &str, app: &str, consent_set: Option<Value>) {
        let mut body = bind(app);
        if let Some(c) = consent_set {
            body["consentedPermissionSet"] = c;
        }
        let r = self.s.post_json(&self.app, base, &body).await;
        assert!(r.status == 201 || r.status == 200, "set-up install in {base}: {}", r.body);
    }

    async fn inst_id(&self, base: &str, mid: &str) -> String {
        let r =
            self.s.get(&self.app, &format!("{base}?$filter=teamsApp/externalId eq '{mid}'")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["value"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no installation: {}", r.body))
            .to_string()
    }

    /// A fresh app (optionally requiring `rsc`) installed in `base` with consent to `rsc`.
    async fn installed(&self, base: &str, rsc: &[(&str, &str)]) -> Ids {
        let mut ids = self.publish("1.0.0", rsc, false).await;
        self.install(base, &ids.app, (!rsc.is_empty()).then(|| consent(rsc))).await;
        ids.inst = self.inst_id(base, &ids.mid).await;
        ids.base = base.to_string();
        ids
    }
}

const DOC_USER_INST: &str = "NWI2NDk4MzQtNzQxMi00Y2NlLTllNjktMTc2ZTk1YTM5NGY1IyNhNmI2MzM2NS0zMWE0LTRmNDMtOTJlYy03MTBiNzE1NTdhZjk";
const DOC_APP_PLACEHOLDER: &str = "12345678-9abc-def0-123456789a";
const DOC_EXTERNAL_ID: &str = "cf1ba4c7-f94e-4d80-ba90-5594b641a8ee";
const DOC_CHAT_ENCODED: &str = "19%3Ad65713bc498c4a428c71ef9353e6ce20%40thread.v2";
const DOC_CHAT_TYPO: &str = "19%5bd86ec7f6b247d3b9e519b0bfef5d03%40thread.v2";
const USER_RSC: &[(&str, &str)] = &[("TeamsActivity.Send.User", "Application")];

/// Sets up the state an example needs and maps its request onto it.
async fn prepare(ex: &Example, c: &Ctx) -> Plan {
    let doc_inst = |ex: &Example| -> String {
        // The installation id segment of the example's URL (before any /upgrade, /chat, ?).
        let url = ex.request["url"].as_str().unwrap();
        let path = url.split('?').next().unwrap();
        let after = path.split("/installedApps/").nth(1).unwrap_or("");
        after.split('/').next().unwrap().to_string()
    };
    let name = ex.name.as_str();
    match name {
        // ---- catalog ----
        "v1_catalog_approve_submitted_definition" => {
            let ids = c.publish("1.1.8", &[], true).await;
            let (def, etag) = c.definition(&ids.app).await;
            let subs = s2(&[
                ("a761ad07-22ef-4a53-9feb-2837c8ad4a84", &ids.app),
                ("YTc2MWFkMDctMjJlZi00YTUzLTlmZWItMjgzN2M4YWQ0YTg0IyMxLjEuOCMjU3VibWl0dGVk", &def),
                ("InFtSStsNVJHVWdzWUJRU2ZVWGp4RWc9PSI=", &etag),
            ]);
            let mut p = plan_from(ex, &c.admin, &subs);
            p.ids = Ids { def, ..ids };
            p
        }
        "v1_catalog_delete_app" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let mut p =
                plan_from(ex, &c.admin, &s2(&[("06805b9e-77e3-4b93-ac81-525eb87513b8", &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_catalog_get_definition_bot" => {
            let ids = c.publish("2.0.1", &[], false).await;
            let subs = s2(&[
                ("e4c5c249-bb4b-419e-b7c5-b1d98559368b", &ids.app),
                (
                    "ZTRjNWMyNDktYmI0Yi00MTllLWI3YzUtYjFkOTg1NTkzNjhiIyMyLjAuMSMjUHVibGlzaGVk",
                    &ids.def,
                ),
            ]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_catalog_list_filter_distributionMethod" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let mut p = plan_from(ex, &c.app, &[]);
            p.ids = ids;
            p
        }
        "v1_catalog_list_filter_externalId" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_EXTERNAL_ID, &ids.mid)]));
            p.ids = ids;
            p
        }
        "v1_catalog_list_filter_id" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let mut p =
                plan_from(ex, &c.app, &s2(&[("b1c5353a-7aca-41b3-830f-27d5218fe0e5", &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_catalog_list_filter_id_expand_appDefinitions" => {
            let ids = c.publish("1.0.1", &[], false).await;
            let mut p =
                plan_from(ex, &c.app, &s2(&[("876df28f-2e78-423b-94a5-44181bd0e225", &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_catalog_list_rsc_permissions" => {
            let rsc = [
                ("Channel.Create.Group", "Application"),
                ("Channel.Delete.Group", "Application"),
                ("ChannelMeeting.ReadBasic.Group", "Delegated"),
            ];
            let ids = c.publish("1.0.0", &rsc, false).await;
            let mut p =
                plan_from(ex, &c.app, &s2(&[("a5228c26-a9ae-4702-90e0-79a5246d2f7d", &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_catalog_list_with_bots" => {
            // A rejected definition (submitted, then rejected by the admin) and a submitted one.
            let rejected = c.publish("1.0.9", &[], true).await;
            let (def, etag) = c.definition(&rejected.app).await;
            let r =
                c.s.send(
                    Method::PATCH,
                    Some(&c.admin),
                    &format!("/v1.0/appCatalogs/teamsApps/{}/appDefinitions/{def}", rejected.app),
                    Some((
                        "application/json",
                        json!({"publishingState": "rejected"}).to_string().into_bytes(),
                    )),
                    &[("If-Match", etag.as_str())],
                )
                .await;
            assert_eq!(r.status, 200, "set-up reject: {}", r.body);
            let submitted = c.publish("6.0.0", &[], true).await;
            let mut p = plan_from(ex, &c.admin, &[]);
            p.ids = Ids { app: rejected.app, extra: vec![submitted.app], ..Ids::default() };
            p
        }
        "v1_catalog_publish_app" | "v1_catalog_publish_app_requiresReview" => {
            let mid = new_manifest_id();
            let p = plan_from(ex, &c.admin, &[]);
            let mut p = with_zip(p, &mf(&mid, "1.0.0", &[], &new_manifest_id()));
            p.ids.mid = mid;
            p
        }
        "v1_catalog_publish_manifest_error" => {
            let mut m = mf(&new_manifest_id(), "1.0.0", &[], &new_manifest_id());
            m.as_object_mut().unwrap().remove("name");
            m["developer"]["websiteUrl"] = json!("hs://www.yo.com");
            // The file records 400; the doc page prints 200 above the error body (spec 3.3).
            with_zip(plan_from(ex, &c.admin, &[]), &m)
        }

        // ---- user scope (the doc's user 5b649834-… is Megan) ----
        "v1_user_get_installation_chat" => {
            let ids = c.installed(&user_base(), &[]).await;
            // The v1.0 page shows a /beta URL (doc quirk); the example is v1.0 with a v1.0 context.
            let mut p = plan_from(
                ex,
                &c.app,
                &s2(&[
                    ("/beta/", "/v1.0/"),
                    ("f32b83bb-4fc8-4db7-b7f5-76cdbbb8aa1c", MEGAN),
                    (&doc_inst(ex), &ids.inst),
                ]),
            );
            p.ids = ids;
            p
        }
        "v1_user_get_installedApp" | "v1_user_get_installedApp_expand_definition" => {
            let ids = c.installed(&user_base(), &[]).await;
            // The doc id is unpadded; replacing its unpadded form keeps the doc's padding choice.
            let ours = ids.inst.trim_end_matches('=').to_string();
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_USER_INST, &ours)]));
            p.rules.unwrap_value = true;
            p.rules.context = Some(if name.ends_with("expand_definition") {
                // Expected real context per the example's notes (the doc shows teams(...)).
                "users('{id}')/teamwork/installedApps(teamsAppDefinition())/$entity".into()
            } else {
                "users('{id}')/teamwork/installedApps/$entity".into()
            });
            p.ids = ids;
            p
        }
        "v1_user_install_app" | "v1_user_install_app_with_consent" => {
            let rsc: &[(&str, &str)] = if name.ends_with("consent") { USER_RSC } else { &[] };
            let mut ids = c.publish("1.0.0", rsc, false).await;
            ids.base = user_base();
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_APP_PLACEHOLDER, &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_user_list_installedApps" | "v1_user_list_installedApps_expand_definition" => {
            let ids = c.installed(&user_base(), &[]).await;
            let mut p = plan_from(ex, &c.app, &[]);
            p.rules.ignore.push("@odata.count");
            p.ids = ids;
            p
        }
        "v1_user_list_installedApps_filter_externalId" => {
            let ids = c.installed(&user_base(), &[]).await;
            let mut p = plan_from(
                ex,
                &c.app,
                &s2(&[
                    ("97a5a533-833d-494b-b543-c0afe026cb96", MEGAN),
                    (DOC_EXTERNAL_ID, &ids.mid),
                ]),
            );
            p.rules.ignore.push("@odata.count");
            p.rules.free_enums.push("distributionMethod");
            p.ids = ids;
            p
        }
        "v1_user_uninstall_app" => {
            let ids = c.installed(&user_base(), &[]).await;
            let ours = ids.inst.trim_end_matches('=').to_string();
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_USER_INST, &ours)]));
            p.ids = ids;
            p
        }
        "v1_user_upgrade"
        | "v1_user_upgrade_with_consent"
        | "beta_user_upgrade"
        | "beta_user_upgrade_with_consent" => {
            let ids = c.installed(&user_base(), &[]).await;
            let rsc: &[(&str, &str)] = if name.ends_with("consent") { USER_RSC } else { &[] };
            c.update(&ids, "1.1.0", rsc).await;
            let ours = ids.inst.trim_end_matches('=').to_string();
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_USER_INST, &ours)]));
            p.ids = ids;
            p
        }

        // ---- chat scope ----
        "v1_chat_get_installedApp" => {
            let ids = c.installed(&chat_base(), &[]).await;
            let subs = s2(&[
                ("19:d65713bc498c4a428c71ef9353e6ce20@thread.v2", CHAT),
                (&doc_inst(ex), &ids.inst),
            ]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_chat_get_installedApp_select_consentedPermissionSet" => {
            let rsc = [
                ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
                ("OnlineMeetingIncomingAudio.Detect.Chat", "Delegated"),
            ];
            let ids = c.installed(&chat_base(), &rsc).await;
            let subs = s2(&[(DOC_CHAT_TYPO, &enc(CHAT)), (&doc_inst(ex), &ids.inst)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_chat_install_app" => {
            let mut ids = c.publish("1.0.0", &[], false).await;
            ids.base = chat_base();
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_APP_PLACEHOLDER, &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_chat_install_app_with_consent" => {
            let rsc = [
                ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
                ("OnlineMeetingIncomingAudio.Detect.Chat", "Delegated"),
                ("ChatMember.Read.Chat", "Application"),
                ("ChatMessage.Read.Chat", "Application"),
            ];
            let mut ids = c.publish("1.0.0", &rsc, false).await;
            ids.base = chat_base();
            let mut p =
                plan_from(ex, &c.app, &s2(&[("2b524e28-95ce-4c9b-9773-4a5bd6ec1770", &ids.app)]));
            p.ids = ids;
            p
        }
        "v1_chat_list_installedApps" | "v1_chat_list_installedApps_expand_definition_bot" => {
            let ids = c.installed(&chat_base(), &[]).await;
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_CHAT_ENCODED, &enc(CHAT))]));
            p.rules.ignore.push("@odata.count");
            p.ids = ids;
            p
        }
        "v1_chat_list_installedApps_filter_externalId" => {
            let ids = c.installed(&chat_base(), &[]).await;
            let subs = s2(&[(DOC_CHAT_ENCODED, &enc(CHAT)), (DOC_EXTERNAL_ID, &ids.mid)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.rules.ignore.push("@odata.count");
            p.rules.free_enums.push("distributionMethod");
            p.ids = ids;
            p
        }
        "v1_chat_list_installedApps_select_consentedPermissionSet" => {
            let a = c.installed(&chat_base(), &[("ChatMessage.Read.Chat", "Application")]).await;
            let d = c
                .installed(
                    &chat_base(),
                    &[
                        ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
                        ("OnlineMeetingIncomingAudio.Detect.Chat", "Delegated"),
                    ],
                )
                .await;
            let mut p = plan_from(ex, &c.app, &s2(&[(DOC_CHAT_TYPO, &enc(CHAT))]));
            p.rules.ignore.push("@odata.count");
            p.ids = Ids { inst: a.inst, extra: vec![d.inst], ..Ids::default() };
            p
        }
        "v1_chat_uninstall_app" | "v1_chat_upgrade" | "v1_chat_upgrade_with_consent" => {
            let ids = c.installed(&chat_base(), &[]).await;
            if name != "v1_chat_uninstall_app" {
                let rsc: &[(&str, &str)] = if name.ends_with("consent") {
                    &[
                        ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
                        ("ChatMember.Read.Chat", "Application"),
                    ]
                } else {
                    &[]
                };
                c.update(&ids, "1.1.0", rsc).await;
            }
            let token = if name == "v1_chat_uninstall_app" { &c.plain } else { &c.app };
            let mut p = plan_from(ex, token, &s2(&[(&doc_inst(ex), &ids.inst)]));
            p.ids = ids;
            p
        }

        // ---- team scope (the doc's team 6903fa93-… is ours) ----
        "v1_team_get_installedApp" => {
            let ids = c.installed(&team_base(), &[]).await;
            let subs =
                s2(&[("02bd9fd6-8f93-4758-87c3-1fb73740a315", TEAM), (&doc_inst(ex), &ids.inst)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.rules.unwrap_value = true;
            p.rules.context = Some("teams('{id}')/installedApps/$entity".into());
            p.ids = ids;
            p
        }
        "v1_team_get_installedApp_expand_definition" => {
            let ids = c.installed(&team_base(), &[]).await;
            let subs = s2(&[
                ("teams/{id}", &format!("teams/{TEAM}")),
                ("installedApps/{id}", &format!("installedApps/{}", ids.inst)),
            ]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.rules.unwrap_value = true;
            p.rules.context =
                Some("teams('{id}')/installedApps(teamsAppDefinition())/$entity".into());
            p.ids = ids;
            p
        }
        "v1_team_get_installedApp_select_consentedPermissionSet" => {
            let rsc = [
                ("ChannelMeeting.ReadBasic.Group", "Delegated"),
                ("ChannelMeetingStage.Write.Group", "Delegated"),
            ];
            let ids = c.installed(&team_base(), &rsc).await;
            let subs = s2(&[(DOC_CHAT_TYPO, TEAM), (&doc_inst(ex), &ids.inst)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_team_install_app" => {
            let mut ids = c.publish("1.0.0", &[], false).await;
            ids.base = team_base();
            let subs =
                s2(&[("87654321-0abc-zqf0-321456789q", TEAM), (DOC_APP_PLACEHOLDER, &ids.app)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_team_install_app_with_consent" => {
            let rsc = [
                ("OnlineMeeting.ReadBasic.Chat", "Delegated"),
                ("ChatMessage.Read.Chat", "Application"),
            ];
            let mut ids = c.publish("1.0.0", &rsc, false).await;
            ids.base = team_base();
            let doc = "7023576d-9e40-47ca-9cf2-daae6838e785";
            let subs = s2(&[
                (&format!("teamsApps/{doc}"), &format!("teamsApps/{}", ids.app)),
                (&format!("teams/{doc}"), &format!("teams/{TEAM}")),
            ]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.ids = ids;
            p
        }
        "v1_team_list_installedApps" | "v1_team_list_installedApps_expand_definition" => {
            let ids = c.installed(&team_base(), &[]).await;
            let mut p = plan_from(ex, &c.app, &[]);
            p.ids = ids;
            p
        }
        "v1_team_list_installedApps_filter_externalId" => {
            let ids = c.installed(&team_base(), &[]).await;
            let subs =
                s2(&[("acda442c-78d2-491b-8204-4ef5019c0193", TEAM), (DOC_EXTERNAL_ID, &ids.mid)]);
            let mut p = plan_from(ex, &c.app, &subs);
            p.rules.free_enums.push("distributionMethod");
            p.ids = ids;
            p
        }
        "v1_team_list_installedApps_select_consentedPermissionSet" => {
            let none = c.installed(&team_base(), &[]).await;
            let d = c
                .installed(
                    &team_base(),
                    &[
                        ("ChannelMeeting.ReadBasic.Group", "Delegated"),
                        ("ChannelMeetingStage.Write.Group", "Delegated"),
                    ],
                )
                .await;
            let mut p =
                plan_from(ex, &c.app, &s2(&[("7eeb5a95-f602-4861-ab67-49714fa5a020", TEAM)]));
            p.ids = Ids { inst: none.inst, extra: vec![d.inst], ..Ids::default() };
            p
        }
        "v1_team_uninstall_app" => {
            let ids = c.installed(&team_base(), &[]).await;
            let mut p = plan_from(ex, &c.plain, &s2(&[(&doc_inst(ex), &ids.inst)]));
            p.ids = ids;
            p
        }
        "v1_team_upgrade" | "v1_team_upgrade_with_consent" => {
            let ids = c.installed(&team_base(), &[]).await;
            let rsc: &[(&str, &str)] = if name.ends_with("consent") {
                &[
                    ("Channel.Create.Group", "Application"),
                    ("ChannelMeeting.ReadBasic.Group", "Delegated"),
                ]
            } else {
                &[]
            };
            c.update(&ids, "1.1.0", rsc).await;
            let doc_team = if name.ends_with("consent") {
                "20988f0f-a647-42f6-be30-79e04de3c2ed"
            } else {
                "db5e04be-daa2-4a35-beb1-5e73cc381599"
            };
            let mut p = plan_from(ex, &c.app, &s2(&[(doc_team, TEAM), (&doc_inst(ex), &ids.inst)]));
            p.ids = ids;
            p
        }

        // ---- beta ----
        "beta_catalog_get_colorIcon_org_app"
        | "beta_catalog_get_outlineIcon_org_app"
        | "beta_catalog_get_colorIcon_store_app" => {
            let ids = c.publish("6.0.5", &[], false).await;
            let url = ex.request["url"].as_str().unwrap();
            let doc_app = url.split("/teamsApps/").nth(1).unwrap().split('/').next().unwrap();
            let doc_def = url.split("/appDefinitions/").nth(1).unwrap().split('/').next().unwrap();
            // Icons are beta-only and delegated-only (lifecycle spec 5.2): the admin asks.
            let mut p = plan_from(ex, &c.admin, &s2(&[(doc_app, &ids.app), (doc_def, &ids.def)]));
            p.ids = ids;
            p
        }
        "beta_catalog_update_app" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let p =
                plan_from(ex, &c.admin, &s2(&[("06805b9e-77e3-4b93-ac81-525eb87513b8", &ids.app)]));
            let mut p = with_zip(p, &mf(&ids.mid, "1.0.1", &[], &ids.extra[0]));
            p.ids = ids;
            p
        }
        "beta_catalog_update_app_requiresReview" => {
            let ids = c.publish("1.0.0", &[], false).await;
            let rsc = [
                ("ChannelMessage.Read.Group", "Application"),
                ("Channel.Create.Group", "Application"),
                ("Tab.ReadWrite.Group", "Application"),
                ("Member.Read.Group", "Application"),
            ];
            let p =
                plan_from(ex, &c.admin, &s2(&[("e3e29acb-8c79-412b-b746-e6c39ff4cd22", &ids.app)]));
            let mut p = with_zip(p, &mf(&ids.mid, "1.0.11", &rsc, &ids.extra[0]));
            // The sample's context "#appDefinition" is illustrative (example notes); the entity
            // context of a definition is the one of spec 3.5.
            p.rules.context = Some("appCatalogs/teamsApps('{id}')/appDefinitions/$entity".into());
            p.ids = ids;
            p
        }
        other => panic!("no mapping for example {other}: add a row"),
    }
}

// --- comparison ---------------------------------------------------------------------------------

const ENUMS: &[(&str, &[&str])] = &[
    ("distributionMethod", &["store", "organization", "sideloaded", "unknownFutureValue"]),
    ("publishingState", &["submitted", "rejected", "published", "unknownFutureValue"]),
    ("permissionType", &["delegated", "application", "unknownFutureValue"]),
    (
        "userIdentityType",
        &[
            "aadUser",
            "onPremiseAadUser",
            "anonymousGuest",
            "federatedUser",
            "personalMicrosoftAccountUser",
            "skypeUser",
            "phoneUser",
            "unknownFutureValue",
            "emailUser",
            "azureCommunicationServicesUser",
        ],
    ),
    ("chatType", &["oneOnOne", "group", "meeting", "unknownFutureValue"]),
];

/// `('…')` contents replaced by `{id}`.
fn normalize_ids(fragment: &str) -> String {
    let mut out = String::new();
    let mut rest = fragment;
    while let Some(i) = rest.find("('") {
        out.push_str(&rest[..i + 2]);
        let after = &rest[i + 2..];
        match after.find("')") {
            Some(j) => {
                out.push_str("{id}");
                rest = &after[j..];
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The fragment of a context URL, ids normalised. Doc contexts without `$metadata#` (a quirk,
/// spec 4.2) give the part after the version segment.
fn context_fragment(ctx: &str) -> String {
    if let Some(i) = ctx.find("$metadata#") {
        return normalize_ids(&ctx[i + "$metadata#".len()..]);
    }
    let after_host = ctx.split("graph.microsoft.com/").nth(1).unwrap_or(ctx);
    normalize_ids(after_host.split_once('/').map(|(_, f)| f).unwrap_or(after_host))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `ex` exists in `ours` with the same JSON type; enum values match in casing;
/// nested `…@odata.context` values have the same pattern. Arrays: each example element must
/// match some element of ours.
fn compare(
    at: &str,
    key: Option<&str>,
    ex: &Value,
    ours: &Value,
    rules: &Rules,
    errs: &mut Vec<String>,
) {
    match (ex, ours) {
        (Value::Null, _) => {}
        (Value::Object(e), Value::Object(o)) => {
            for (k, v) in e {
                if rules.ignore.contains(&k.as_str()) || (at.is_empty() && k == "@odata.context") {
                    continue;
                }
                let path = format!("{at}/{k}");
                let Some(ov) = o.get(k) else {
                    errs.push(format!("{path}: missing (example has {})", type_name(v)));
                    continue;
                };
                if k.ends_with("@odata.context") {
                    if let (Some(es), Some(os)) = (v.as_str(), ov.as_str()) {
                        if context_fragment(es) != context_fragment(os) {
                            errs.push(format!(
                                "{path}: context {os:?} does not match the example's {es:?}"
                            ));
                        }
                        continue;
                    }
                }
                compare(&path, Some(k), v, ov, rules, errs);
            }
        }
        (Value::Array(e), Value::Array(o)) => {
            for (i, item) in e.iter().enumerate() {
                let mut best: Option<Vec<String>> = None;
                for candidate in o {
                    let mut sub = Vec::new();
                    compare(&format!("{at}[{i}]"), key, item, candidate, rules, &mut sub);
                    if sub.is_empty() {
                        best = Some(Vec::new());
                        break;
                    }
                    if best.as_ref().is_none_or(|b| sub.len() < b.len()) {
                        best = Some(sub);
                    }
                }
                match best {
                    Some(b) if b.is_empty() => {}
                    Some(b) => {
                        errs.push(format!(
                            "{at}[{i}]: no element of ours ({}) matches; closest:",
                            o.len()
                        ));
                        errs.extend(b.into_iter().map(|m| format!("    {m}")));
                    }
                    None => errs.push(format!(
                        "{at}: ours is empty, the example has {} element(s)",
                        e.len()
                    )),
                }
            }
        }
        (Value::String(e), Value::String(o)) => {
            if let Some((name, members)) = key.and_then(|k| ENUMS.iter().find(|(n, _)| *n == k)) {
                if !members.contains(&o.as_str()) {
                    errs.push(format!("{at}: {o:?} is not a canonical {name} member"));
                } else if rules.free_enums.contains(name) {
                    if !members.contains(&e.as_str()) {
                        errs.push(format!("{at}: example value {e:?} is not canonical"));
                    }
                } else if e != o {
                    errs.push(format!("{at}: {o:?}, example has {e:?}"));
                }
            }
        }
        (Value::Number(_), Value::Number(_)) | (Value::Bool(_), Value::Bool(_)) => {}
        (e, o) => errs.push(format!(
            "{at}: ours is {} ({o}), the example's is {}",
            type_name(o),
            type_name(e)
        )),
    }
}

/// The path of a Location URL with id segments as `{id}`.
fn location_pattern(url: &str) -> String {
    const NAMES: &[&str] = &["v1.0", "beta", "appCatalogs", "teamsApps", "appDefinitions"];
    let path = url
        .split("://")
        .nth(1)
        .map(|r| r.split_once('/').map(|(_, p)| p).unwrap_or(""))
        .unwrap_or(url);
    path.split('/')
        .map(|seg| if NAMES.contains(&seg) { seg } else { "{id}" })
        .collect::<Vec<_>>()
        .join("/")
}

fn check(ex: &Example, plan: &Plan, r: &Resp) -> Vec<String> {
    let mut errs = Vec::new();
    if r.status.as_u16() != plan.status {
        errs.push(format!("status {} (expected {}): {}", r.status.as_u16(), plan.status, r.body));
        return errs;
    }
    if plan.rules.not_implemented {
        if r.body["error"]["code"] != "NotImplemented" {
            errs.push(format!("expected error code NotImplemented: {}", r.body));
        }
        let msg = r.body["error"]["message"].as_str().unwrap_or_default().to_lowercase();
        if !msg.contains("not implement") {
            errs.push(format!("the 501 message should say it is not implemented: {msg:?}"));
        }
        return errs;
    }
    let version = if plan.path.starts_with("/beta/") { "beta" } else { "v1.0" };
    let headers = &ex.response["headers"];
    let our_ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if headers.get("Content-Type").is_some() && !our_ct.starts_with("application/json") {
        errs.push(format!("content-type {our_ct:?}, the example's is JSON"));
    }
    if let Some(loc) = headers.get("Location").and_then(Value::as_str) {
        match r.headers.get("location").and_then(|v| v.to_str().ok()) {
            None => errs.push("no Location header".into()),
            Some(ours) if location_pattern(ours) != location_pattern(loc) => {
                errs.push(format!("Location {ours:?} does not match the example's {loc:?}"))
            }
            Some(_) => {}
        }
    }
    let ex_body = &ex.response["body"];
    if ex_body.is_null() {
        if !r.body.is_null() {
            errs.push(format!("the example has no body, ours is {}", r.body));
        }
        return errs;
    }
    let mut ex_entity = if plan.rules.unwrap_value {
        if r.body.get("value").is_some() {
            errs.push("a single entity must not be wrapped in \"value\" (spec 4.1)".into());
        }
        ex_body["value"][0].clone()
    } else {
        ex_body.clone()
    };
    if plan.rules.unwrap_value {
        // The context inside the doc's wrapper is part of the quirk.
        if let Some(o) = ex_entity.as_object_mut() {
            o.remove("@odata.context");
        }
    }
    compare("", None, &ex_entity, &r.body, &plan.rules, &mut errs);

    let expected =
        plan.rules.context.clone().or_else(|| {
            ex_body.get("@odata.context").and_then(Value::as_str).map(context_fragment)
        });
    let ours_ctx = r.body.get("@odata.context").and_then(Value::as_str);
    let prefix = format!("https://graph.microsoft.com/{version}/$metadata#");
    match (expected, ours_ctx) {
        (_, None) if r.body.get("error").is_none() => {
            errs.push("no @odata.context on a top-level response (spec 1.4)".into())
        }
        (Some(want), Some(got)) => {
            if !got.starts_with(&prefix) {
                errs.push(format!("@odata.context {got:?} should start with {prefix:?}"));
            }
            if context_fragment(got) != want {
                errs.push(format!("@odata.context {got:?}: fragment should be {want:?}"));
            }
        }
        (None, Some(got)) if !got.starts_with(&prefix) => {
            errs.push(format!("@odata.context {got:?} should start with {prefix:?}"))
        }
        _ => {}
    }
    errs
}

/// The checker itself: it must catch what it claims to catch, or a green run means nothing.
#[test]
fn the_shape_comparison_catches_missing_keys_wrong_types_and_enum_casing() {
    let rules = Rules { ignore: vec!["azureADAppId"], ..Rules::default() };
    let ex = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams('1')/installedApps",
        "value": [{"id": "a", "teamsApp": {"distributionMethod": "organization"},
                   "n": 1, "azureADAppId": "x", "gone": null,
                   "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('x')/appDefinitions(id)"}]
    });
    let good = json!({"value": [
        {"id": "z", "teamsApp": {"distributionMethod": "store"}},
        {"id": "b", "teamsApp": {"distributionMethod": "organization"}, "n": 2, "gone": {"x": 1},
         "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('y')/appDefinitions(id)"}
    ]});
    let mut errs = Vec::new();
    compare("", None, &ex, &good, &rules, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    for bad in [
        json!({"value": []}),
        json!({"value": [{"id": 1, "teamsApp": {"distributionMethod": "organization"}, "n": 2, "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('y')/appDefinitions(id)"}]}),
        json!({"value": [{"id": "b", "teamsApp": {"distributionMethod": "Organization"}, "n": 2, "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('y')/appDefinitions(id)"}]}),
        json!({"value": [{"id": "b", "teamsApp": {"distributionMethod": "organization"}, "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('y')/appDefinitions(id)"}]}),
        json!({"value": [{"id": "b", "teamsApp": {"distributionMethod": "organization"}, "n": 2, "appDefinitions@odata.context": "https://graph.microsoft.com/v1.0/$metadata#appCatalogs/teamsApps('y')/appDefinitions"}]}),
        json!({"value": {"id": "b"}}),
    ] {
        let mut errs = Vec::new();
        compare("", None, &ex, &bad, &rules, &mut errs);
        assert!(!errs.is_empty(), "not caught: {bad}");
    }
    assert_eq!(
        context_fragment("https://graph.microsoft.com/v1.0/chats('19%3Aa%40thread.v2')/installedApps(consentedPermissionSet,id)"),
        "chats('{id}')/installedApps(consentedPermissionSet,id)"
    );
    assert_eq!(
        location_pattern("http://127.0.0.1:1/beta/appCatalogs/teamsApps/abc/appDefinitions/ZGVm"),
        location_pattern(
            "https://graph.microsoft.com/beta/appCatalogs/teamsApps/e3e/appDefinitions/MGQ4=="
        )
    );
}

// --- row-specific checks ------------------------------------------------------------------------

fn decode_b64(id: &str) -> String {
    let padded = format!("{id}{}", "=".repeat((4 - id.len() % 4) % 4));
    base64::engine::general_purpose::STANDARD
        .decode(padded)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

async fn verify(ex: &Example, c: &Ctx, p: &Plan, r: &Resp) -> Vec<String> {
    let mut errs = Vec::new();
    if r.status.as_u16() != p.status {
        return errs;
    }
    let ids = &p.ids;
    let mut expect = |ok: bool, what: String| {
        if !ok {
            errs.push(what);
        }
    };
    let value = r.body["value"].as_array().cloned().unwrap_or_default();
    let gone = |path: String| async move { c.s.get(&c.app, &path).await.status == 404 };
    let version_of = |base: String, inst: String| async move {
        let r = c.s.get(&c.app, &format!("{base}/{inst}?$expand=teamsAppDefinition")).await;
        r.body["teamsAppDefinition"]["version"].as_str().unwrap_or_default().to_string()
    };
    match ex.name.as_str() {
        "v1_catalog_approve_submitted_definition" => {
            let id = r.body["id"].as_str().unwrap_or_default();
            expect(id != ids.def, format!("the definition id must change on approval: {id}"));
            let decoded = decode_b64(id);
            expect(
                decoded == format!("{}##1.1.8##Published", ids.app),
                format!("new id decodes to {decoded:?}"),
            );
        }
        "v1_catalog_delete_app" => {
            let gone = gone(format!("/v1.0/appCatalogs/teamsApps/{}", ids.app)).await;
            expect(gone, "the deleted app is still there".into());
        }
        "v1_catalog_get_definition_bot" => {
            let want = &ex.response["body"];
            expect(r.body["@odata.type"] == want["@odata.type"], format!("@odata.type {}", r.body));
            expect(
                r.body["id"] == want["id"],
                format!("bot id {} (the manifest's bot is the doc's)", r.body["id"]),
            );
        }
        "v1_catalog_list_filter_distributionMethod" => {
            expect(
                value.iter().all(|a| a["distributionMethod"] == "organization"),
                format!("non-organization app: {}", r.body),
            );
            expect(value.iter().any(|a| a["id"] == ids.app.as_str()), "our app is missing".into());
        }
        "v1_catalog_list_filter_externalId" => {
            expect(
                value.len() == 1 && value[0]["externalId"] == ids.mid.as_str(),
                format!("want exactly our app: {}", r.body),
            );
        }
        "v1_catalog_list_filter_id" | "v1_catalog_list_filter_id_expand_appDefinitions" => {
            expect(
                value.len() == 1 && value[0]["id"] == ids.app.as_str(),
                format!("want exactly our app: {}", r.body),
            );
        }
        "v1_catalog_list_rsc_permissions" => {
            let pointer = "/value/0/appDefinitions/0/authorization/requiredPermissionSet";
            let want = ex.response["body"].pointer(pointer);
            let got = r.body.pointer(pointer);
            expect(want == got, format!("required RSC set {got:?}, example {want:?}"));
            let keys: Vec<&String> = r
                .body
                .pointer("/value/0/appDefinitions/0")
                .and_then(Value::as_object)
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            expect(
                keys.iter().all(|k| *k == "id" || *k == "authorization" || k.starts_with('@')),
                format!("$select=id,authorization returned {keys:?}"),
            );
        }
        "v1_catalog_list_with_bots" => {
            for app in [&ids.app, &ids.extra[0]] {
                expect(value.iter().any(|a| a["id"] == app.as_str()), format!("app {app} missing"));
            }
        }
        "v1_catalog_publish_app" | "v1_catalog_publish_app_requiresReview" => {
            expect(r.body["externalId"] == ids.mid.as_str(), format!("externalId: {}", r.body));
            let id = r.body["id"].as_str().unwrap_or_default().to_string();
            expect(
                uuid::Uuid::parse_str(&id).is_ok() && id != ids.mid,
                format!("id must be a new GUID: {id}"),
            );
            let state = if ex.name.ends_with("requiresReview") { "submitted" } else { "published" };
            let d = c.s.graph(&c.admin).list_app_definitions(&id, "").await;
            expect(
                d.body["value"][0]["publishingState"] == state,
                format!("definition should be {state}: {}", d.body),
            );
            if let Some(loc) = r.headers.get("location").and_then(|v| v.to_str().ok()) {
                expect(
                    loc.ends_with(&format!("/v1.0/appCatalogs/teamsApps/{id}")),
                    format!("Location {loc}"),
                );
            }
        }
        "v1_catalog_publish_manifest_error" => {
            let inner = &r.body["error"]["innerError"];
            expect(
                inner["code"] == "UnableToParseTeamsAppManifest",
                format!("innerError.code: {}", r.body),
            );
            let pairs: Vec<(String, String)> = inner["details"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|x| {
                            (
                                x["code"].as_str().unwrap_or("").to_string(),
                                x["target"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let want =
                [("SchemaError_Required", "name"), ("SchemaError_Pattern", "developer.websiteUrl")];
            for (code, target) in want {
                expect(
                    pairs.iter().any(|(c2, t)| c2 == code && t == target),
                    format!("no detail {code} at {target}: {pairs:?}"),
                );
            }
            let pattern = inner["details"]
                .as_array()
                .and_then(|d| d.iter().find(|x| x["target"] == "developer.websiteUrl"))
                .map(|x| x["message"].clone());
            let doc = ex.response["body"]["error"]["innerError"]["details"][1]["message"].clone();
            expect(
                pattern.as_ref() == Some(&doc),
                format!("pattern message {pattern:?}, doc {doc}"),
            );
            expect(
                r.body["error"]["message"] == inner["message"],
                "error.message equals innerError.message".into(),
            );
        }
        "v1_user_get_installation_chat" => {
            let id = r.body["id"].as_str().unwrap_or_default();
            expect(
                id.starts_with("19:") && id.ends_with(&format!("_{MEGAN}@unq.gbl.spaces")),
                format!("1:1 chat id {id:?} (spec 10)"),
            );
        }
        "v1_user_get_installedApp" | "v1_user_get_installedApp_expand_definition" => {
            expect(
                r.body["id"] == ids.inst.as_str(),
                format!("id {} for {} (padded ids are emitted, spec 10)", r.body["id"], ids.inst),
            );
        }
        "v1_user_install_app" | "v1_chat_install_app" | "v1_team_install_app" => {
            let list =
                c.s.get(&c.app, &format!("{}?$filter=teamsApp/id eq '{}'", ids.base, ids.app))
                    .await;
            expect(
                list.body["value"].as_array().is_some_and(|v| v.len() == 1),
                format!("installed once: {}", list.body),
            );
        }
        "v1_user_install_app_with_consent"
        | "v1_chat_install_app_with_consent"
        | "v1_team_install_app_with_consent" => {
            let inst = c.inst_id(&ids.base, &ids.mid).await;
            let got =
                c.s.get(&c.app, &format!("{}/{inst}?$select=id,consentedPermissionSet", ids.base))
                    .await;
            let sent = &ex.request["body"]["consentedPermissionSet"]["resourceSpecificPermissions"];
            let stored = &got.body["consentedPermissionSet"]["resourceSpecificPermissions"];
            let norm = |v: &Value| -> Vec<(String, String)> {
                let mut out: Vec<(String, String)> = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| {
                                (
                                    p["permissionValue"].as_str().unwrap_or("").to_string(),
                                    p["permissionType"].as_str().unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.sort();
                out
            };
            let want: Vec<(String, String)> =
                norm(sent).into_iter().map(|(n, t)| (n, t.to_lowercase())).collect();
            expect(
                norm(stored) == want,
                format!(
                    "stored consent {stored} should be the sent set in canonical casing (spec 1.4)"
                ),
            );
        }
        "v1_user_uninstall_app" | "v1_chat_uninstall_app" | "v1_team_uninstall_app" => {
            let gone = gone(format!("{}/{}", ids.base, ids.inst)).await;
            expect(gone, "the uninstalled installation is still there".into());
        }
        "v1_user_upgrade"
        | "v1_user_upgrade_with_consent"
        | "beta_user_upgrade"
        | "beta_user_upgrade_with_consent"
        | "v1_chat_upgrade"
        | "v1_chat_upgrade_with_consent"
        | "v1_team_upgrade"
        | "v1_team_upgrade_with_consent" => {
            let v = version_of(ids.base.clone(), ids.inst.clone()).await;
            expect(v == "1.1.0", format!("installed version after upgrade: {v:?}"));
        }
        "v1_chat_get_installedApp" => {
            let ctx = r.body["@odata.context"].as_str().unwrap_or_default();
            expect(
                ctx.contains("chats('19%3Aea28e88c00e94c7786b065394a61f296%40thread.v2')"),
                format!("chat id percent-encoded in the context (spec 4.2): {ctx}"),
            );
        }
        "v1_chat_get_installedApp_select_consentedPermissionSet"
        | "v1_team_get_installedApp_select_consentedPermissionSet" => {
            let want = &ex.response["body"]["consentedPermissionSet"];
            expect(
                &r.body["consentedPermissionSet"] == want,
                format!("consent {} (example {want})", r.body["consentedPermissionSet"]),
            );
            let keys: Vec<&String> =
                r.body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            expect(
                keys.iter()
                    .all(|k| *k == "id" || *k == "consentedPermissionSet" || k.starts_with('@')),
                format!("$select returned {keys:?}"),
            );
        }
        "v1_team_list_installedApps"
        | "v1_team_list_installedApps_expand_definition"
        | "v1_team_list_installedApps_filter_externalId"
        | "v1_team_list_installedApps_select_consentedPermissionSet" => {
            expect(
                r.body["@odata.count"].as_u64() == Some(value.len() as u64),
                format!("@odata.count {} for {} items", r.body["@odata.count"], value.len()),
            );
        }
        "beta_catalog_update_app_requiresReview" => {
            let want = &ex.response["body"]["requiredResourceSpecificApplicationPermissions"];
            expect(
                &r.body["requiredResourceSpecificApplicationPermissions"] == want,
                format!(
                    "application RSC list {}",
                    r.body["requiredResourceSpecificApplicationPermissions"]
                ),
            );
            expect(
                r.body["azureADAppId"] == ids.extra[0].as_str(),
                format!("azureADAppId {}", r.body["azureADAppId"]),
            );
        }
        _ => {}
    }
    if ex.name.ends_with("filter_externalId") && ex.name.contains("installedApps") {
        expect(
            value.len() == 1 && value[0]["teamsApp"]["externalId"] == ids.mid.as_str(),
            format!("want exactly our installation: {}", r.body),
        );
    }
    if ex.name.ends_with("select_consentedPermissionSet") && ex.name.contains("_list_") {
        for inst in std::iter::once(&ids.inst).chain(&ids.extra) {
            expect(
                value.iter().any(|i| i["id"] == inst.as_str()),
                format!("installation {inst} missing"),
            );
        }
    }
    errs
}

// --- the replay -----------------------------------------------------------------------------------

async fn replay(prefix: &str) {
    let names = example_names();
    let c = Ctx::start().await;
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, mapping) in ROWS.iter().filter(|(n, _)| n.starts_with(prefix)) {
        assert!(names.iter().any(|n| n == name), "{name}: no example file");
        let ex = load(name);
        let plan = prepare(&ex, &c).await;
        let headers: Vec<(&str, &str)> =
            plan.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = plan.body.as_ref().map(|(ct, b)| (ct.as_str(), b.clone()));
        let r = c.s.send(plan.method.clone(), Some(&plan.token), &plan.path, body, &headers).await;
        let mut errs = check(&ex, &plan, &r);
        errs.extend(verify(&ex, &c, &plan, &r).await);
        ran += 1;
        if !errs.is_empty() {
            failures.push(format!(
                "{name} ({mapping})\n  {} {}\n  - {}",
                plan.method,
                plan.path,
                errs.join("\n  - ")
            ));
        }
    }
    assert!(ran > 0, "no rows for {prefix}");
    assert!(
        failures.is_empty(),
        "{} of {ran} examples failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn catalog_examples_replay_with_the_documented_status_and_shape() {
    replay("v1_catalog_").await;
}

#[tokio::test]
async fn user_examples_replay_with_the_documented_status_and_shape() {
    replay("v1_user_").await;
}

#[tokio::test]
async fn chat_examples_replay_with_the_documented_status_and_shape() {
    replay("v1_chat_").await;
}

#[tokio::test]
async fn team_examples_replay_with_the_documented_status_and_shape() {
    replay("v1_team_").await;
}

#[tokio::test]
async fn beta_examples_replay_with_the_documented_status_and_shape() {
    replay("beta_").await;
}
