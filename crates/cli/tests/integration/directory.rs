//! Directory reads (lifecycle spec section 1) over HTTP: users, teams, chats and groups from the
//! test fixture, with their permissions, paging, `$select`, `$filter` and `$count` rules.

use crate::common::*;
use serde_json::Value;

fn ids(body: &Value, field: &str) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[field].as_str().unwrap().to_string())
        .collect()
}

/// Follows `@odata.nextLink` from `path` and returns every item seen, one page after another.
async fn walk(s: &Server, token: &str, path: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = s.url(path);
    loop {
        let path = next.strip_prefix(&s.url("")).unwrap().to_string();
        let r = s.get(token, &path).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        items.extend(r.body["value"].as_array().unwrap().iter().cloned());
        match r.body["@odata.nextLink"].as_str() {
            Some(link) => next = link.to_string(),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn users_are_listed_paged_selected_and_filtered() {
    let s = Server::start().await;
    let app = s.app_token(DIRECTORY).await;
    for version in ["v1.0", "beta"] {
        let r = s.get(&app, &format!("/{version}/users")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["@odata.context"].as_str().unwrap().ends_with("/$metadata#users"));
        // Ordered by user principal name; the default property set, without accountEnabled.
        assert_eq!(
            ids(&r.body, "userPrincipalName"),
            ["adele@contoso.example", "lee@contoso.example", "megan@contoso.example"]
        );
        let adele = &r.body["value"][0];
        assert_eq!(adele["id"], ADELE);
        assert_eq!(adele["displayName"], "Adele");
        assert_eq!(adele["businessPhones"], serde_json::json!([]));
        assert!(adele.get("accountEnabled").is_none(), "{adele}");
        assert!(r.body.get("@odata.nextLink").is_none());
    }

    let r = s.graph(&app).list_users("$select=id,userPrincipalName,accountEnabled,userType").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("#users(id,userPrincipalName,accountEnabled,userType)"));
    let first = r.body["value"][0].as_object().unwrap();
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(first["accountEnabled"], true);
    assert_eq!(first["userType"], "Member");

    // Pages of one: every user exactly once, three pages.
    let (all, pages) = walk(&s, &app, "/v1.0/users?$top=1").await;
    assert_eq!(pages, 3);
    let upns: Vec<&str> = all.iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
    assert_eq!(upns, ["adele@contoso.example", "lee@contoso.example", "megan@contoso.example"]);

    let r = s.graph(&app).list_users("$top=1000").await;
    let msg = r.assert_error(400, "Request_BadRequest");
    assert_eq!(msg, "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.");

    let r =
        s.graph(&app).list_users("$filter=userPrincipalName%20eq%20'lee@contoso.example'").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body, "id"), [LEE]);
    let r = s.graph(&app).list_users("$filter=startswith(displayName,'M')").await;
    assert_eq!(ids(&r.body, "id"), [MEGAN]);

    // `ne` is an advanced query: refused without ConsistencyLevel and $count, answered with both.
    let ne = "/v1.0/users?$filter=accountEnabled%20ne%20false";
    let r = s.get(&app, ne).await;
    let msg = r.assert_error(400, "Request_UnsupportedQuery");
    assert!(msg.starts_with("Operator 'ne' is not supported"), "{msg}");
    let r = s
        .send(
            reqwest::Method::GET,
            Some(&app),
            &format!("{ne}&$count=true"),
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.count"], 3);
    // $count=true without the header is ignored, as Graph does.
    let r = s.graph(&app).list_users("$count=true").await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none(), "{}", r.body);
}

#[tokio::test]
async fn one_user_me_and_the_count() {
    let s = Server::start().await;
    let app = s.app_token(DIRECTORY).await;
    let r = s.get(&app, "/v1.0/users/ADELE@contoso.example").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], ADELE);
    assert!(r.body["@odata.context"].as_str().unwrap().ends_with("#users/$entity"));
    let r = s.get(&app, "/v1.0/users/00000000-0000-4000-8000-000000000999").await;
    let msg = r.assert_error(404, "Request_ResourceNotFound");
    assert!(msg.starts_with("Resource '00000000-0000-4000-8000-000000000999' does not exist"));

    let r = s.get(&app, "/v1.0/users/$count").await;
    assert_eq!(r.assert_error(400, "Request_BadRequest"), "$count is not currently supported.");
    let r = s
        .send(
            reqwest::Method::GET,
            Some(&app),
            "/v1.0/users/$count",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, Value::from(3));
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));

    // /me needs a signed-in user.
    let r = s.graph(&app).get_me("").await;
    r.assert_error(400, "BadRequest");
    // User.Read reads the signed-in user only.
    let lee = s.user_token(NOPERM, "lee@contoso.example", "lee-pw").await;
    let r = s.graph(&lee).get_me("").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], LEE);
    let r = s.graph(&lee).get_user(LEE, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.graph(&lee).get_user(MEGAN, "").await;
    r.assert_error(403, "Authorization_RequestDenied");
    let r = s.graph(&lee).list_users("").await;
    let msg = r.assert_error(403, "Authorization_RequestDenied");
    assert_eq!(msg, "Insufficient privileges to complete the operation.");

    // User.ReadBasic.All: the basic profile, accountEnabled and userType null.
    let adele = s.user_token(DIRECTORY, "adele@contoso.example", "adele-pw").await;
    let r = s.graph(&adele).list_users("$select=id,accountEnabled").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"][0]["accountEnabled"], Value::Null);
}

#[tokio::test]
async fn directory_reads_refuse_tokens_without_their_permissions() {
    let s = Server::start().await;
    let reader = s.app_token(READER).await;
    for path in ["/v1.0/users", &format!("/v1.0/users/{ADELE}"), "/v1.0/groups"] {
        let r = s.get(&reader, path).await;
        assert_eq!(
            r.assert_error(403, "Authorization_RequestDenied"),
            "Insufficient privileges to complete the operation.",
            "{path}"
        );
    }
    for path in [
        "/v1.0/teams",
        &format!("/v1.0/users/{ADELE}/chats"),
        &format!("/v1.0/chats/{}", enc(CHAT)),
    ] {
        let r = s.get(&reader, path).await;
        let msg = r.assert_error(403, "Forbidden");
        assert!(msg.starts_with("Missing role permissions on the request."), "{path}: {msg}");
    }
    let r = s.send(reqwest::Method::GET, None, "/v1.0/users", None, &[]).await;
    r.assert_error(401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn teams_joined_teams_and_groups() {
    let s = Server::start().await;
    let app = s.app_token(DIRECTORY).await;
    let r = s.graph(&app).list_teams("").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let team = r.body["value"][0].as_object().unwrap();
    assert_eq!(team.keys().collect::<Vec<_>>(), ["id", "displayName", "description"]);
    assert_eq!(team["id"], TEAM);
    assert_eq!(team["displayName"], "Sales");

    let r = s.graph(&app).get_team(TEAM, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Sales");
    assert_eq!(r.body["tenantId"], TENANT);
    assert!(r.body["internalId"].as_str().unwrap().ends_with("@thread.tacv2"));
    let r = s.get(&app, "/v1.0/teams/00000000-0000-4000-8000-000000000999").await;
    assert_eq!(
        r.assert_error(404, "NotFound"),
        "No team found with Group Id 00000000-0000-4000-8000-000000000999"
    );

    let r = s.graph(&app).list_user_joined_teams(ADELE, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body, "id"), [TEAM]);
    let r = s.graph(&app).list_user_joined_teams(LEE, "").await;
    assert_eq!(r.body["value"], serde_json::json!([]));
    let r = s.graph(&app).list_my_joined_teams("").await;
    r.assert_error(400, "BadRequest");

    let r = s
        .graph(&app)
        .list_groups("$filter=resourceProvisioningOptions/Any(x:x%20eq%20'Team')")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body, "id"), [TEAM]);
    assert_eq!(r.body["value"][0]["groupTypes"], serde_json::json!(["Unified"]));

    // Delegated: only the signed-in user's teams; a team of others is refused.
    let lee = s.user_token(DIRECTORY, "lee@contoso.example", "lee-pw").await;
    let r = s.graph(&lee).list_my_joined_teams("").await;
    assert_eq!(r.body["value"], serde_json::json!([]), "{}", r.body);
    let r = s.graph(&lee).list_user_joined_teams(ADELE, "").await;
    r.assert_error(403, "Forbidden");
    let r = s.graph(&lee).get_team(TEAM, "").await;
    r.assert_error(403, "Forbidden");
    let adele = s.user_token(DIRECTORY, "adele@contoso.example", "adele-pw").await;
    let r = s.graph(&adele).get_team(TEAM, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn chats_of_a_user_me_and_one_chat() {
    let s = Server::start().await;
    let app = s.app_token(DIRECTORY).await;
    let r = s.graph(&app).list_user_chats(MEGAN, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut got = ids(&r.body, "id");
    got.sort();
    let mut want = vec![CHAT.to_string(), MEETING_CHAT.to_string()];
    want.sort();
    assert_eq!(got, want);
    let r = s.graph(&app).list_user_chats(ADELE, "$filter=chatType%20eq%20'group'").await;
    assert_eq!(ids(&r.body, "id"), [CHAT]);
    assert_eq!(r.body["value"][0]["tenantId"], TENANT);
    let r = s.graph(&app).list_user_chats(MEGAN, "$top=51").await;
    r.assert_error(400, "BadRequest");
    let (all, pages) = walk(&s, &app, &format!("/v1.0/users/{MEGAN}/chats?$top=1")).await;
    assert_eq!((all.len(), pages), (2, 2));

    // GET /chats and /me/chats need a signed-in user.
    let r = s.graph(&app).list_chats("").await;
    r.assert_error(403, "Forbidden");
    let r = s.graph(&app).list_my_chats("").await;
    r.assert_error(400, "BadRequest");
    let adele = s.user_token(DIRECTORY, "adele@contoso.example", "adele-pw").await;
    for path in
        ["/v1.0/chats".to_string(), "/v1.0/me/chats".into(), format!("/v1.0/users/{ADELE}/chats")]
    {
        let r = s.get(&adele, &path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(ids(&r.body, "id"), [CHAT], "{path}");
    }
    let r = s.graph(&adele).list_user_chats(MEGAN, "").await;
    r.assert_error(403, "Forbidden");

    let r = s.beta(&app).get_chat(CHAT, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["chatType"], "group");
    assert!(r.body["@odata.context"].as_str().unwrap().ends_with("#chats/$entity"));
    let r = s.graph(&adele).get_chat(MEETING_CHAT, "").await;
    r.assert_error(403, "Forbidden");
    let r = s.get(&app, "/v1.0/chats/19:nope@thread.v2").await;
    r.assert_error(404, "NotFound");
}

/// A tenant whose fixture gives the optional profile fields to some objects and not to others.
const PROFILE_FIXTURE: &str = r#"
tenants:
  - id: 2f1a6c2e-0000-4000-8000-000000000001
    users:
      - { id: 5b649834-7412-4cce-9e69-176e95a394f5, userPrincipalName: megan@contoso.example, password: megan-pw,
          mail: Megan.Bowen@contoso.example, accountEnabled: false, userType: member }
      - { id: 8b081ef6-4792-4def-b2c9-c363a1bf41d5, userPrincipalName: adele@contoso.example }
      - { id: c3a8e7b0-1111-4a2b-9c3d-000000000003, userPrincipalName: "lee_fabrikam.example#EXT#@contoso.example" }
    chats:
      - id: "19:ea28e88c00e94c7786b065394a61f296@thread.v2"
        topic: Launch war room
        createdDateTime: "2025-11-03T16:20:11.402Z"
        members: [5b649834-7412-4cce-9e69-176e95a394f5, 8b081ef6-4792-4def-b2c9-c363a1bf41d5]
      - id: "19:0000000000000000000000000000000b@thread.v2"
        members: [5b649834-7412-4cce-9e69-176e95a394f5]
    teams:
      - { id: 6903fa93-605b-43ef-920e-77c4729f8258, displayName: Sales, description: Store operations,
          visibility: HiddenMembership, owners: [5b649834-7412-4cce-9e69-176e95a394f5] }
      - { id: 00000000-0000-4000-8000-00000000000b, displayName: Plain, members: [5b649834-7412-4cce-9e69-176e95a394f5] }
    applications:
      - appId: 77777777-7777-4777-8777-777777777777
        clientSecret: directory-secret
        applicationPermissions: [User.Read.All, Team.ReadBasic.All, Chat.ReadBasic.All, GroupMember.Read.All]
        delegatedPermissions: [User.ReadBasic.All]
"#;

#[tokio::test]
async fn fixture_profile_fields_are_shown_by_the_directory_reads() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("profile.yaml");
    std::fs::write(&fixture, PROFILE_FIXTURE).unwrap();
    let s = Server::start_seeded(&fixture, &[]).await;
    let app = s.app_token(DIRECTORY).await;
    let select = "$select=id,mail,accountEnabled,userType";
    let r = s.get(&app, &format!("/v1.0/users?{select}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let by_id = |body: &Value, id: &str| -> Value {
        body["value"].as_array().unwrap().iter().find(|u| u["id"] == id).unwrap().clone()
    };
    // Given: as given (userType in Graph's casing); not given: null mail, an enabled account,
    // a guest by its #EXT# UPN, a member otherwise.
    let megan = by_id(&r.body, MEGAN);
    assert_eq!(megan["mail"], "Megan.Bowen@contoso.example");
    assert_eq!(megan["accountEnabled"], false);
    assert_eq!(megan["userType"], "Member");
    let adele = by_id(&r.body, ADELE);
    assert_eq!(adele["mail"], Value::Null);
    assert_eq!(adele["accountEnabled"], true);
    assert_eq!(adele["userType"], "Member");
    assert_eq!(by_id(&r.body, LEE)["userType"], "Guest");
    // The default property set carries mail, not accountEnabled or userType.
    let r = s.get(&app, &format!("/beta/users/{MEGAN}")).await;
    assert_eq!(r.body["mail"], "Megan.Bowen@contoso.example");
    assert!(r.body.get("accountEnabled").is_none(), "{}", r.body);
    // Filters see the fixture's values.
    let r = s.get(&app, "/v1.0/users?$filter=accountEnabled eq false").await;
    assert_eq!(ids(&r.body, "id"), [MEGAN], "{}", r.body);
    let r = s.get(&app, "/v1.0/users?$filter=mail eq 'Megan.Bowen@contoso.example'").await;
    assert_eq!(ids(&r.body, "id"), [MEGAN], "{}", r.body);
    let r = s.get(&app, "/v1.0/users?$filter=userType eq 'Guest'").await;
    assert_eq!(ids(&r.body, "id"), [LEE], "{}", r.body);
    // User.ReadBasic.All alone: mail is basic, accountEnabled and userType are not.
    let basic = s.user_token(DIRECTORY, "megan@contoso.example", "megan-pw").await;
    let r = s.get(&basic, &format!("/v1.0/users/{MEGAN}?{select}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["mail"], "Megan.Bowen@contoso.example");
    assert_eq!(r.body["accountEnabled"], Value::Null);
    assert_eq!(r.body["userType"], Value::Null);

    // Teams: description and visibility as given, else null and private; groups capitalise.
    let r = s.get(&app, "/v1.0/teams").await;
    let sales = by_id(&r.body, TEAM);
    assert_eq!(
        sales,
        serde_json::json!({"id": TEAM, "displayName": "Sales", "description": "Store operations"})
    );
    let plain = "00000000-0000-4000-8000-00000000000b";
    assert_eq!(by_id(&r.body, plain)["description"], Value::Null);
    let r = s.get(&app, &format!("/v1.0/teams/{TEAM}")).await;
    assert_eq!(r.body["description"], "Store operations");
    assert_eq!(r.body["visibility"], "hiddenMembership");
    let r = s.get(&app, &format!("/v1.0/teams/{plain}")).await;
    assert_eq!(r.body["visibility"], "private");
    assert_eq!(r.body["description"], Value::Null);
    let r = s.get(&app, &format!("/v1.0/users/{MEGAN}/joinedTeams")).await;
    assert_eq!(by_id(&r.body, TEAM)["description"], "Store operations");
    let r =
        s.get(&app, "/v1.0/groups?$filter=resourceProvisioningOptions/Any(x:x eq 'Team')").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(by_id(&r.body, TEAM)["visibility"], "HiddenMembership");
    assert_eq!(by_id(&r.body, TEAM)["description"], "Store operations");
    assert_eq!(by_id(&r.body, plain)["visibility"], "Private");

    // Chats: topic and createdDateTime (Graph's seven fractional digits), else null.
    let r = s.get(&app, &format!("/v1.0/users/{MEGAN}/chats")).await;
    let war_room = by_id(&r.body, CHAT);
    assert_eq!(war_room["topic"], "Launch war room");
    assert_eq!(war_room["createdDateTime"], "2025-11-03T16:20:11.4020000Z");
    let other = by_id(&r.body, "19:0000000000000000000000000000000b@thread.v2");
    assert_eq!(other["topic"], Value::Null);
    assert_eq!(other["createdDateTime"], Value::Null);
    let r = s.get(&app, &format!("/beta/chats/{}", enc(CHAT))).await;
    assert_eq!(r.body["createdDateTime"], "2025-11-03T16:20:11.4020000Z");
}

#[tokio::test]
async fn fixture_profile_values_are_checked() {
    for (bad, what) in [
        ("userType: Admin", "userType must be Member or Guest"),
        ("accountEnabled: maybe", "accountEnabled"),
    ] {
        let text = PROFILE_FIXTURE.replace("userType: member", bad);
        let dir = tempfile::tempdir().unwrap();
        let fixture = dir.path().join("bad.yaml");
        std::fs::write(&fixture, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_teamsapps"))
            .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--seed"])
            .arg(&fixture)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{err}");
    }
    let text = PROFILE_FIXTURE.replace("visibility: HiddenMembership", "visibility: secret");
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("bad.yaml");
    std::fs::write(&fixture, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(["serve", "--in-memory", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("visibility must be private, public or hiddenMembership"), "{err}");
}

/// Pages of `GET /users` without `$filter` are cut by the store (keyset paging on the UPN
/// index): the order must still be the one the whole-list path gives (ASCII case-folded UPNs,
/// then bytes: `_amy` before `Bob`, which byte order would put first), every user exactly once.
#[tokio::test]
async fn store_cut_user_pages_keep_the_folded_upn_order() {
    let upns =
        ["Bob@c.example", "_amy@c.example", "carl@c.example", "ALEX@c.example", "dee@c.example"];
    let users: String = upns
        .iter()
        .enumerate()
        .map(|(i, u)| {
            format!("      - {{ id: 00000000-0000-4000-8000-00000000000{i}, userPrincipalName: \"{u}\" }}\n")
        })
        .collect();
    let fixture = format!(
        "tenants:\n  - id: {TENANT}\n    users:\n{users}    applications:\n      - appId: {}\n        clientSecret: {}\n        applicationPermissions: [User.Read.All]\n",
        DIRECTORY.0, DIRECTORY.1
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.yaml");
    std::fs::write(&path, fixture).unwrap();
    let s = Server::start_seeded(&path, &[]).await;
    let app = s.app_token(DIRECTORY).await;
    let mut expected: Vec<String> = upns.iter().map(|u| u.to_string()).collect();
    expected.sort_by_key(|u| u.to_ascii_lowercase());
    assert_eq!(expected[0], "_amy@c.example");
    for top in [1, 2, 3, 5, 999] {
        let (all, pages) = walk(&s, &app, &format!("/v1.0/users?$top={top}")).await;
        let got: Vec<&str> = all.iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
        assert_eq!(got, expected, "$top={top}");
        assert_eq!(pages, upns.len().div_ceil(top), "$top={top}");
    }
    // The whole-list path ($count) agrees, and counts them all.
    let r = s
        .send(
            reqwest::Method::GET,
            Some(&app),
            "/v1.0/users?$count=true&$top=999",
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.count"], 5);
    assert_eq!(ids(&r.body, "userPrincipalName"), expected);
    // A token from one list is refused on another (the $top differs), as before.
    let r = s.get(&app, "/v1.0/users?$top=2").await;
    let link = r.body["@odata.nextLink"].as_str().unwrap();
    let token = link.split("$skiptoken=").nth(1).unwrap();
    let r = s.get(&app, &format!("/v1.0/users?$top=3&$skiptoken={token}")).await;
    r.assert_error(400, "BadRequest");
}
