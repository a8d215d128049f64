//! App icons (beta, lifecycle spec 5): `colorIcon` and `outlineIcon` of a definition, their
//! `hostedContent` and its `$value`, the PNG files of the uploaded package with their content
//! type. Store apps' icons are on Microsoft's CDN (no hosted content here); v1.0 has no icons;
//! application tokens are refused (delegated only, as documented).

use crate::common::graph::Version;
use crate::common::*;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

const BETA_META: &str = "https://graph.microsoft.com/beta/$metadata#";
const ORG_APP: &str = "1c0b0000-0000-4000-8000-0000000000a1";

/// A tenant with Megan (admin) and Adele, the Rollout registration (delegated
/// AppCatalog.ReadWrite.All, application AppCatalog.Read.All), a Submit-only registration, a
/// store app and an organization app that came without a package.
const FIXTURE: &str = r#"
tenants:
  - id: 2f1a6c2e-0000-4000-8000-000000000001
    users:
      - { id: 5b649834-7412-4cce-9e69-176e95a394f5, userPrincipalName: megan@contoso.example, password: megan-pw, roles: [TeamsServiceAdministrator] }
      - { id: 8b081ef6-4792-4def-b2c9-c363a1bf41d5, userPrincipalName: adele@contoso.example, password: adele-pw }
    applications:
      - appId: 11111111-1111-4111-8111-111111111111
        clientSecret: rollout-secret
        applicationPermissions: [AppCatalog.Read.All]
        delegatedPermissions: [AppCatalog.ReadWrite.All]
      - appId: 33333333-3333-4333-8333-333333333333
        clientSecret: plain-secret
        delegatedPermissions: [AppCatalog.Submit]
      - appId: 55555555-5555-4555-8555-555555555555
        clientSecret: none-secret
        delegatedPermissions: [User.Read]
    catalog:
      - distributionMethod: store
        manifest:
          manifestVersion: "1.17"
          id: 0d820ecd-def2-4297-adad-78056cde7c78
          version: "2.4.0"
          name: { short: OneNote }
          description: { short: Notes, full: Capture notes. }
      - id: 1c0b0000-0000-4000-8000-0000000000a1
        manifest:
          manifestVersion: "1.17"
          id: 1c0b0000-0000-4000-8000-00000000000f
          version: "1.0.0"
          name: { short: Inline }
          description: { short: Inline, full: Seeded without a package. }
"#;

async fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("icons.yaml");
    std::fs::write(&fixture, FIXTURE).unwrap();
    (Server::start_seeded(&fixture, &[]).await, dir)
}

/// A PNG the validator accepts (its IHDR says `size`), made distinct by `tag` after IEND.
fn icon(size: u32, tag: &str) -> Vec<u8> {
    let mut bytes = png(size);
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

fn package_with(manifest: &Value, color: Vec<u8>, outline: Vec<u8>) -> Vec<u8> {
    zip_of(&[
        ("manifest.json", manifest.to_string().into_bytes()),
        ("icons/Color.png", color),
        ("icons/outline.png", outline),
    ])
}

fn manifest_with_icon_paths(id: &str, version: &str) -> Value {
    let mut m = manifest(id, version);
    // Found case-insensitively, as the validator finds them.
    m["icons"] = json!({"color": "icons/color.png", "outline": "icons/outline.png"});
    m
}

fn definition_of(s_body: &Value, version: &str) -> String {
    s_body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["version"] == version)
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("no {version} in {s_body}"))
        .to_owned()
}

fn decoded(id: &Value) -> String {
    String::from_utf8(STANDARD.decode(id.as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn the_icons_of_a_published_package_are_served_with_their_bytes() {
    let (s, _dir) = server().await;
    let admin = s.user_token(ROLLOUT, "megan@contoso.example", "megan-pw").await;
    let mid = new_manifest_id();
    let zip = package_with(
        &manifest_with_icon_paths(&mid, "1.0.0"),
        icon(192, "color-1"),
        icon(32, "outline-1"),
    );
    let r = s.post_zip(&admin, "/beta/appCatalogs/teamsApps", zip).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app = r.body["id"].as_str().unwrap().to_owned();
    let g = s.beta(&admin);
    let def = definition_of(&g.list_app_definitions(&app, "").await.body, "1.0.0");

    for (kind, bytes) in
        [("colorIcon", icon(192, "color-1")), ("outlineIcon", icon(32, "outline-1"))]
    {
        let file = if kind == "colorIcon" { "color" } else { "outline" };
        let r = g.get_teams_app_icon(&app, &def, kind, "").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let context = format!(
            "{BETA_META}appCatalogs/teamsApps('{app}')/appDefinitions('{def}')/{kind}/$entity"
        );
        assert_eq!(r.body["@odata.context"], context.as_str());
        let storage = decoded(&r.body["id"]);
        assert!(
            storage.starts_with("https://teamsapps.local/icons/")
                && storage.ends_with(&format!("/{file}.png")),
            "{storage}"
        );
        // webUrl leads back here, to the bytes, with a token.
        let web_url = r.body["webUrl"].as_str().unwrap().to_owned();
        let expected = s.url(&format!(
            "/beta/appCatalogs/teamsApps/{app}/appDefinitions/{def}/{kind}/hostedContent/$value"
        ));
        assert_eq!(web_url, expected);
        assert!(r.body.get("hostedContent").is_none(), "{}", r.body);
        let fetched = s.client.get(&web_url).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.unwrap().to_vec(), bytes);

        let hosted = g.get_teamwork_hosted_content(&app, &def, kind).await;
        assert_eq!(hosted.status, 200, "{}", hosted.body);
        assert_eq!(
            hosted.body["@odata.context"],
            format!("{BETA_META}appCatalogs/teamsApps('{app}')/appDefinitions('{def}')/{kind}/hostedContent/$entity")
        );
        assert_eq!(decoded(&hosted.body["id"]), format!("id=,type=1,url={storage}"));
        assert_eq!(hosted.body["contentBytes"], Value::Null);
        assert_eq!(hosted.body["contentType"], Value::Null);
        let expanded = g.get_teams_app_icon(&app, &def, kind, "$expand=hostedContent").await;
        assert_eq!(expanded.body["hostedContent"]["id"], hosted.body["id"], "{}", expanded.body);
        let selected = g.get_teams_app_icon(&app, &def, kind, "$select=webUrl").await;
        assert_eq!(selected.body["webUrl"], web_url.as_str());
        assert!(selected.body.get("id").is_none(), "{}", selected.body);

        let (r, got) = g.get_teamwork_hosted_content_bytes(&app, &def, kind).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "image/png");
        assert_eq!(got, bytes);
    }

    // A new version has its own icons; the old definition keeps its own.
    let zip = package_with(
        &manifest_with_icon_paths(&mid, "1.1.0"),
        icon(192, "color-2"),
        icon(32, "outline-2"),
    );
    let r =
        s.post_zip(&admin, &format!("/beta/appCatalogs/teamsApps/{app}/appDefinitions"), zip).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let def2 = definition_of(&g.list_app_definitions(&app, "").await.body, "1.1.0");
    let (_, new) = g.get_teamwork_hosted_content_bytes(&app, &def2, "colorIcon").await;
    assert_eq!(new, icon(192, "color-2"));
    let (_, old) = g.get_teamwork_hosted_content_bytes(&app, &def, "colorIcon").await;
    assert_eq!(old, icon(192, "color-1"));
    let a = g.get_teams_app_icon(&app, &def, "colorIcon", "").await;
    let b = g.get_teams_app_icon(&app, &def2, "colorIcon", "").await;
    assert_ne!(a.body["id"], b.body["id"], "icon ids are per definition");

    // A submission (AppCatalog.Submit) and its icons; cancelling it takes them away.
    let adele = s.user_token(PLAIN, "adele@contoso.example", "adele-pw").await;
    let zip = package_with(
        &manifest_with_icon_paths(&mid, "1.2.0"),
        icon(192, "color-3"),
        icon(32, "outline-3"),
    );
    let r = s
        .post_zip(
            &adele,
            &format!("/beta/appCatalogs/teamsApps/{app}/appDefinitions?requiresReview=true"),
            zip,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let submitted = r.body["id"].as_str().unwrap().to_owned();
    let ga = s.beta(&adele);
    let (r, got) = ga.get_teamwork_hosted_content_bytes(&app, &submitted, "outlineIcon").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(got, icon(32, "outline-3"));
    assert_eq!(ga.delete_app_definition(&app, &submitted).await.status, 204);
    let (r, _) = ga.get_teamwork_hosted_content_bytes(&app, &submitted, "outlineIcon").await;
    r.assert_error(404, "NotFound");

    // Deleting the app: gone with it.
    assert_eq!(g.delete_teams_app(&app).await.status, 204);
    let (r, _) = g.get_teamwork_hosted_content_bytes(&app, &def, "colorIcon").await;
    r.assert_error(404, "NotFound");
}

#[tokio::test]
async fn icons_are_beta_only_delegated_only_and_need_the_catalog_permissions() {
    let (s, _dir) = server().await;
    let admin = s.user_token(ROLLOUT, "megan@contoso.example", "megan-pw").await;
    let r = s.graph(&admin).publish_teams_app(&manifest(&new_manifest_id(), "1.0.0"), false).await;
    let app = r.body["id"].as_str().unwrap().to_owned();
    let def = definition_of(&s.beta(&admin).list_app_definitions(&app, "").await.body, "1.0.0");
    // v1.0 has no icon navigations.
    let v1 = s.graph(&admin).on(Version::V1);
    for kind in ["colorIcon", "outlineIcon"] {
        let msg = v1
            .get_teams_app_icon(&app, &def, kind, "")
            .await
            .assert_error(400, "BadRequest")
            .to_owned();
        assert_eq!(msg, format!("Resource not found for the segment '{kind}'."));
        v1.get_teamwork_hosted_content(&app, &def, kind).await.assert_error(400, "BadRequest");
        let (r, _) = v1.get_teamwork_hosted_content_bytes(&app, &def, kind).await;
        r.assert_error(400, "BadRequest");
    }
    let r = s
        .get(
            &admin,
            &format!("/beta/appCatalogs/teamsApps/{app}/appDefinitions/{def}/colorIcon/nothing"),
        )
        .await;
    let msg = r.assert_error(400, "BadRequest");
    assert_eq!(msg, "Resource not found for the segment 'nothing'.");
    // Application tokens are not supported, whatever they hold: refused as the other
    // delegated-only catalog operations are (publish with an app token).
    let app_only = s.app_token(ROLLOUT).await;
    let g = s.beta(&app_only);
    g.get_teams_app_icon(&app, &def, "colorIcon", "").await.assert_error(403, "AccessDenied");
    g.get_teamwork_hosted_content(&app, &def, "colorIcon").await.assert_error(403, "AccessDenied");
    let (r, _) = g.get_teamwork_hosted_content_bytes(&app, &def, "colorIcon").await;
    r.assert_error(403, "AccessDenied");
    let m = manifest(&new_manifest_id(), "1.0.0");
    let publish = s.graph(&app_only).publish_teams_app(&m, false).await;
    publish.assert_error(403, "AccessDenied");
    // A delegated token without a catalog permission.
    let none = s.user_token(NOPERM, "adele@contoso.example", "adele-pw").await;
    let msg = s
        .beta(&none)
        .get_teams_app_icon(&app, &def, "colorIcon", "")
        .await
        .assert_error(403, "Forbidden")
        .to_owned();
    assert!(
        msg.contains("AppCatalog.Read.All, AppCatalog.ReadWrite.All, AppCatalog.Submit"),
        "{msg}"
    );
    // AppCatalog.Submit reads them.
    let adele = s.user_token(PLAIN, "adele@contoso.example", "adele-pw").await;
    assert_eq!(s.beta(&adele).get_teams_app_icon(&app, &def, "colorIcon", "").await.status, 200);
    // Unknown app or definition.
    let g = s.beta(&admin);
    g.get_teams_app_icon(UNKNOWN_APP, &def, "colorIcon", "").await.assert_error(404, "NotFound");
    g.get_teams_app_icon(&app, "bm9uZQ", "colorIcon", "").await.assert_error(404, "NotFound");
    let (r, _) = g.get_teamwork_hosted_content_bytes(&app, "bm9uZQ", "colorIcon").await;
    r.assert_error(404, "NotFound");
}

const UNKNOWN_APP: &str = "00000000-0000-4000-8000-0000000000aa";

#[tokio::test]
async fn store_apps_icons_are_on_the_cdn_and_fixture_apps_have_no_hosted_content() {
    let (s, _dir) = server().await;
    let admin = s.user_token(ROLLOUT, "megan@contoso.example", "megan-pw").await;
    let g = s.beta(&admin);
    let defs = g.list_app_definitions(STORE_APP, "").await;
    assert_eq!(defs.status, 200, "{}", defs.body);
    let def = definition_of(&defs.body, "2.4.0");
    for (kind, image) in [("colorIcon", "largeImage"), ("outlineIcon", "smallImage")] {
        let r = g.get_teams_app_icon(STORE_APP, &def, kind, "$expand=hostedContent").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let url = format!(
            "https://statics.teams.cdn.office.net/evergreen-assets/apps/{STORE_APP}_{image}.png?v=2.4.0"
        );
        assert_eq!(r.body["webUrl"], url.as_str());
        assert_eq!(decoded(&r.body["id"]), url);
        assert_eq!(r.body["hostedContent"], Value::Null);
        g.get_teamwork_hosted_content(STORE_APP, &def, kind).await.assert_error(404, "NotFound");
        let (r, _) = g.get_teamwork_hosted_content_bytes(STORE_APP, &def, kind).await;
        r.assert_error(404, "NotFound");
    }
    // An organization app seeded from an inline manifest: an icon entity, no bytes.
    let def = definition_of(&g.list_app_definitions(ORG_APP, "").await.body, "1.0.0");
    let r = g.get_teams_app_icon(ORG_APP, &def, "colorIcon", "$expand=hostedContent").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["webUrl"].as_str().unwrap().ends_with("/colorIcon/hostedContent/$value"));
    assert_eq!(r.body["hostedContent"], Value::Null);
    let (r, _) = g.get_teamwork_hosted_content_bytes(ORG_APP, &def, "colorIcon").await;
    r.assert_error(404, "NotFound");
}

/// The icon files are part of the state a test-control snapshot saves and restores.
#[tokio::test]
async fn icons_come_back_with_a_restored_snapshot() {
    const KEY: &str = "icons-test-admin-key";
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("icons.yaml");
    std::fs::write(&fixture, FIXTURE).unwrap();
    let s = Server::start_seeded(&fixture, &["--admin-key", KEY]).await;
    let admin = s.user_token(ROLLOUT, "megan@contoso.example", "megan-pw").await;
    let mid = new_manifest_id();
    let zip = package_with(
        &manifest_with_icon_paths(&mid, "1.0.0"),
        icon(192, "kept"),
        icon(32, "kept-too"),
    );
    let r = s.post_zip(&admin, "/beta/appCatalogs/teamsApps", zip).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let app = r.body["id"].as_str().unwrap().to_owned();
    let g = s.beta(&admin);
    let def = definition_of(&g.list_app_definitions(&app, "").await.body, "1.0.0");
    let control = |path: &str| {
        let req = s.client.post(s.url(path)).bearer_auth(KEY);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(control("/_teamsapps/snapshots/with-icons").await, 201);
    assert_eq!(g.delete_teams_app(&app).await.status, 204);
    let (r, _) = g.get_teamwork_hosted_content_bytes(&app, &def, "outlineIcon").await;
    r.assert_error(404, "NotFound");
    assert_eq!(control("/_teamsapps/snapshots/with-icons/restore").await, 200);
    let (r, bytes) = g.get_teamwork_hosted_content_bytes(&app, &def, "outlineIcon").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(bytes, icon(32, "kept-too"));
}
