//! The README's story, end to end: publish 1.0.0, install for a user, publish 1.1.0, upgrade,
//! read 1.1.0 back — in user, chat and team scope, on v1.0 and beta.

use crate::common::*;

#[tokio::test]
async fn publish_install_update_upgrade_read_back_in_every_scope_and_version() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let app = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let created = s.publish(&admin, &manifest(&mid, "1.0.0")).await;
    let app_id = created["id"].as_str().unwrap().to_string();
    let scopes = [
        format!("/users/{ADELE}/teamwork/installedApps"),
        format!("/chats/{}/installedApps", enc(CHAT)),
        format!("/teams/{TEAM}/installedApps"),
    ];
    for (i, base) in scopes.iter().enumerate() {
        let r = s.post_json(&app, &format!("/v1.0{base}"), &bind(&app_id)).await;
        assert_eq!(r.status.as_u16(), if i == 2 { 200 } else { 201 }, "{base}: {}", r.body);
    }
    s.update(&admin, &app_id, &manifest(&mid, "1.1.0")).await;
    for version in ["v1.0", "beta"] {
        for base in &scopes {
            let list = s
                .get(&app, &format!("/{version}{base}?$expand=teamsAppDefinition&$filter=teamsApp/externalId eq '{mid}'"))
                .await;
            assert_eq!(list.status, 200, "{}", list.body);
            let item = &list.body["value"][0];
            let id = item["id"].as_str().unwrap();
            if version == "v1.0" {
                assert_eq!(item["teamsAppDefinition"]["version"], "1.0.0");
                let r = s.post_empty(&app, &format!("/{version}{base}/{id}/upgrade")).await;
                assert_eq!(r.status, 204, "{}", r.body);
            }
            let one =
                s.get(&app, &format!("/{version}{base}/{id}?$expand=teamsAppDefinition")).await;
            assert_eq!(one.status, 200, "{}", one.body);
            assert_eq!(one.body["teamsAppDefinition"]["version"], "1.1.0", "{base} {version}");
            let beta_only = one.body["teamsAppDefinition"].get("azureADAppId").is_some();
            assert_eq!(beta_only, version == "beta", "{}", one.body);
        }
    }
}
