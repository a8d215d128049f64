//! `/teamwork/teamsAppSettings` (lifecycle spec section 4) over HTTP: who may read and change the
//! tenant's switches, the v1.0 and beta shapes, body validation, and that a change governs the
//! next consent.

use crate::common::*;
use serde_json::{json, Value};

const SETTINGS: &str = "/teamwork/teamsAppSettings";

async fn patch(s: &Server, token: &str, version: &str, body: Value) -> Resp {
    s.send(
        reqwest::Method::PATCH,
        Some(token),
        &format!("/{version}{SETTINGS}"),
        Some(("application/json", body.to_string().into_bytes())),
        &[],
    )
    .await
}

#[tokio::test]
async fn settings_are_read_by_version_and_changed_by_admins_only() {
    let s = Server::start().await;
    let megan = s.user_token(DIRECTORY, "megan@contoso.example", "megan-pw").await;
    let adele = s.user_token(DIRECTORY, "adele@contoso.example", "adele-pw").await;

    let r = s.get(&adele, &format!("/v1.0{SETTINGS}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#teamwork/teamsAppSettings/$entity"));
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "@odata.context",
            "id",
            "allowUserRequestsForAppAccess",
            "isUserPersonalScopeResourceSpecificConsentEnabled"
        ]
    );
    assert_eq!(r.body["isUserPersonalScopeResourceSpecificConsentEnabled"], true);
    let r = s.get(&adele, &format!("/beta{SETTINGS}")).await;
    assert_eq!(r.body["isChatResourceSpecificConsentEnabled"], true, "{}", r.body);
    assert_eq!(r.body["customAppSettings"], Value::Null);

    // Not an admin: refused, nothing changed.
    let r = patch(&s, &adele, "v1.0", json!({"allowUserRequestsForAppAccess": true})).await;
    r.assert_error(403, "Forbidden");
    // Application tokens are not supported (spec 4.2, 4.3).
    let app = s.app_token(ROLLOUT).await;
    s.get(&app, &format!("/v1.0{SETTINGS}")).await.assert_error(403, "AccessDenied");

    // Bad bodies, each refused whole.
    for (version, body) in [
        ("v1.0", json!({"isChatResourceSpecificConsentEnabled": false})),
        ("v1.0", json!({"allowUserRequestsForAppAccess": true, "bogus": 1})),
        ("beta", json!({"allowUserRequestsForAppAccess": "yes"})),
        ("beta", json!({"id": "x"})),
        ("beta", json!([])),
    ] {
        let r = patch(&s, &megan, version, body.clone()).await;
        r.assert_error(400, "BadRequest");
    }
    let r = s.get(&megan, &format!("/beta{SETTINGS}")).await;
    assert_eq!(r.body["allowUserRequestsForAppAccess"], false, "{}", r.body);

    // Booleans as strings, as the docs' examples send them; omitted switches keep their values.
    let body = json!({"@odata.type": "#microsoft.graph.teamsAppSettings",
                      "allowUserRequestsForAppAccess": "true",
                      "isChatResourceSpecificConsentEnabled": false});
    let r = patch(&s, &megan, "beta", body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.get(&megan, &format!("/beta{SETTINGS}")).await;
    assert_eq!(r.body["allowUserRequestsForAppAccess"], true);
    assert_eq!(r.body["isChatResourceSpecificConsentEnabled"], false);
    assert_eq!(r.body["isUserPersonalScopeResourceSpecificConsentEnabled"], true);
}

#[tokio::test]
async fn turning_chat_consent_off_refuses_the_next_delegated_consent_in_a_chat() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let megan = s.user_token(DIRECTORY, "megan@contoso.example", "megan-pw").await;
    let perm = "ChatSettings.Read.Chat";
    let app_id = s
        .publish(&admin, &with_rsc(manifest(&new_manifest_id(), "1.0.0"), &[(perm, "Application")]))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut body = bind(&app_id);
    body["consentedPermissionSet"] = json!({"resourceSpecificPermissions": [{"permissionValue": perm, "permissionType": "application"}]});
    let path = format!("/v1.0/chats/{}/installedApps", enc(CHAT));

    let r = patch(&s, &megan, "beta", json!({"isChatResourceSpecificConsentEnabled": false})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = s.post_json(&admin, &path, &body).await;
    let msg = r.assert_error(403, "Forbidden");
    assert!(msg.contains("isChatResourceSpecificConsentEnabled"), "{msg}");

    let r = patch(&s, &megan, "beta", json!({"isChatResourceSpecificConsentEnabled": true})).await;
    assert_eq!(r.status, 204);
    let r = s.post_json(&admin, &path, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
}
