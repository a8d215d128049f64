//! `permissionGrants` (lifecycle spec section 3) over HTTP: an install with consent creates
//! exactly the consented grants, an upgrade to a version with other RSC permissions replaces
//! them, an uninstall removes them; chats, teams (and their groups) and users.

use std::collections::BTreeSet;

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

/// The Entra app id of a test's RSC app: derived from its manifest id (one Entra app per Teams
/// app, spec 5.2).
fn client_of(mid: &str) -> String {
    format!("{}c11e", &mid[..mid.len() - 4])
}

fn rsc_manifest(mid: &str, version: &str, perms: &[(&str, &str)]) -> Value {
    let mut m = with_rsc(manifest(mid, version), perms);
    m["webApplicationInfo"] = json!({"id": client_of(mid), "resource": "api://grants"});
    m
}

fn consent(perms: &[(&str, &str)]) -> Value {
    let items: Vec<Value> =
        perms.iter().map(|(n, t)| json!({"permissionValue": n, "permissionType": t})).collect();
    json!({ "resourceSpecificPermissions": items })
}

/// The grants of `path` as (permission, type), checking each grant's shape and id.
async fn grants(s: &Server, token: &str, path: &str, mid: &str) -> BTreeSet<(String, String)> {
    let r = s.get(token, path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert!(r.body["@odata.context"].as_str().unwrap().ends_with("$metadata#permissionGrants"));
    let mut out = BTreeSet::new();
    for g in r.body["value"].as_array().unwrap() {
        assert_eq!(g["clientAppId"], client_of(mid), "{g}");
        assert_eq!(g["resourceAppId"], "00000003-0000-0000-c000-000000000000");
        assert_eq!(g["deletedDateTime"], Value::Null);
        let (perm, kind) =
            (g["permission"].as_str().unwrap(), g["permissionType"].as_str().unwrap());
        let id =
            base64::engine::general_purpose::STANDARD.decode(g["id"].as_str().unwrap()).unwrap();
        let client = g["clientId"].as_str().unwrap();
        assert_eq!(String::from_utf8(id).unwrap(), format!("{client}##{perm}##{kind}"));
        out.insert((perm.to_string(), kind.to_string()));
    }
    out
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(p, k)| (p.to_string(), k.to_string())).collect()
}

#[tokio::test]
async fn chat_grants_follow_install_upgrade_and_uninstall() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let reader = s.app_token(READER).await;
    let mid = new_manifest_id();
    let v1 =
        [("ChatSettings.Read.Chat", "Application"), ("OnlineMeeting.ReadBasic.Chat", "Delegated")];
    let app = s.publish(&admin, &rsc_manifest(&mid, "1.0.0", &v1)).await;
    let app_id = app["id"].as_str().unwrap();
    let chat = format!("/v1.0/chats/{}", enc(CHAT));
    assert!(grants(&s, &reader, &format!("{chat}/permissionGrants"), &mid).await.is_empty());

    let mut body = bind(app_id);
    body["consentedPermissionSet"] = consent(&v1);
    let r = s.post_json(&rollout, &format!("{chat}/installedApps"), &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        grants(&s, &reader, &format!("{chat}/permissionGrants"), &mid).await,
        set(&[
            ("ChatSettings.Read.Chat", "Application"),
            ("OnlineMeeting.ReadBasic.Chat", "Delegated")
        ])
    );
    // beta lists the same.
    assert_eq!(
        grants(&s, &reader, &format!("/beta/chats/{}/permissionGrants", enc(CHAT)), &mid)
            .await
            .len(),
        2
    );

    // An upgrade to a version with other permissions replaces the grants.
    let v2 = [("ChatMessage.Read.Chat", "Application")];
    s.update(&admin, app_id, &rsc_manifest(&mid, "2.0.0", &v2)).await;
    let list = s
        .get(&rollout, &format!("{chat}/installedApps?$filter=teamsApp/id%20eq%20'{app_id}'"))
        .await;
    let inst = list.body["value"][0]["id"].as_str().unwrap().to_string();
    let r = s
        .post_json(
            &rollout,
            &format!("{chat}/installedApps/{inst}/upgrade"),
            &json!({"consentedPermissionSet": consent(&v2)}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let now = grants(&s, &reader, &format!("{chat}/permissionGrants"), &mid).await;
    assert_eq!(now, set(&[("ChatMessage.Read.Chat", "Application")]));
    // The installation read back shows the same set.
    let r = s
        .get(&reader, &format!("{chat}/installedApps/{inst}?$select=consentedPermissionSet"))
        .await;
    let consented: BTreeSet<(String, String)> = r.body["consentedPermissionSet"]
        ["resourceSpecificPermissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let kind = p["permissionType"].as_str().unwrap();
            let kind = format!("{}{}", kind[..1].to_uppercase(), &kind[1..]);
            (p["permissionValue"].as_str().unwrap().to_string(), kind)
        })
        .collect();
    assert_eq!(consented, now);

    // Uninstalling needs a chat write permission (ReadWriteAndConsent is not among them).
    let plain = s.app_token(PLAIN).await;
    let r = s.delete(&plain, &format!("{chat}/installedApps/{inst}")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(grants(&s, &reader, &format!("{chat}/permissionGrants"), &mid).await.is_empty());
}

#[tokio::test]
async fn team_group_and_user_grants_and_refusals() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let reader = s.app_token(READER).await;
    let team_perms = [("TeamSettings.Read.Group", "Application")];
    let mid = new_manifest_id();
    let team_app = s.publish(&admin, &rsc_manifest(&mid, "1.0.0", &team_perms)).await;
    let mut body = bind(team_app["id"].as_str().unwrap());
    body["consentedPermissionSet"] = consent(&team_perms);
    let r = s.post_json(&rollout, &format!("/v1.0/teams/{TEAM}/installedApps"), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let want = set(&[("TeamSettings.Read.Group", "Application")]);
    assert_eq!(
        grants(&s, &reader, &format!("/v1.0/teams/{TEAM}/permissionGrants"), &mid).await,
        want
    );
    let dir = s.app_token(DIRECTORY).await;
    assert_eq!(
        grants(&s, &dir, &format!("/v1.0/groups/{TEAM}/permissionGrants"), &mid).await,
        want
    );

    let user_perms = [("TeamsActivity.Send.User", "Application")];
    let mid = new_manifest_id();
    let user_app = s.publish(&admin, &rsc_manifest(&mid, "1.0.0", &user_perms)).await;
    let mut body = bind(user_app["id"].as_str().unwrap());
    body["consentedPermissionSet"] = consent(&user_perms);
    let r =
        s.post_json(&rollout, &format!("/v1.0/users/{ADELE}/teamwork/installedApps"), &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        grants(&s, &rollout, &format!("/v1.0/users/{ADELE}/permissionGrants"), &mid).await,
        set(&user_perms)
    );
    assert!(grants(&s, &rollout, &format!("/v1.0/users/{LEE}/permissionGrants"), &mid)
        .await
        .is_empty());

    // Refusals: no accepted permission, unknown resources.
    let r = s.graph(&dir).list_chat_permission_grants(CHAT, "").await;
    let msg = r.assert_error(403, "Forbidden");
    assert!(msg.starts_with("Missing role permissions on the request."), "{msg}");
    let r = s.get(&reader, "/v1.0/chats/19:nope@thread.v2/permissionGrants").await;
    r.assert_error(404, "NotFound");
    let r =
        s.get(&reader, "/v1.0/teams/00000000-0000-4000-8000-000000000999/permissionGrants").await;
    r.assert_error(404, "NotFound");
}
