//! Paging and counting (spec section 9): every list walked to its end through
//! `@odata.nextLink` over real HTTP, following each link exactly as given, also behind another
//! `Host` and `X-Forwarded-Proto`; items added and removed between pages; `$count=true`; bad
//! and forged `$skiptoken`s.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;

use crate::common::*;
use serde_json::Value;

/// A list and the token that may read it.
struct List {
    name: &'static str,
    path: String,
    /// Team lists carry `@odata.count` on every page (spec 4.3).
    always_count: bool,
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap_or_else(|| panic!("no value: {page}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string())
        .collect()
}

/// GETs an absolute URL exactly as given.
async fn get_url(
    client: &reqwest::Client,
    token: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = client.get(url).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Walks a list from `first` to its end through the nextLinks, each followed exactly as given;
/// returns the ids in order and the pages.
async fn walk(
    client: &reqwest::Client,
    token: &str,
    first: &str,
    headers: &[(&str, &str)],
) -> (Vec<String>, Vec<Value>) {
    let mut url = first.to_string();
    let mut all = Vec::new();
    let mut pages = Vec::new();
    loop {
        let (status, page) = get_url(client, token, &url, headers).await;
        assert_eq!(status, 200, "{url}: {page}");
        all.extend(ids(&page));
        let next = page.get("@odata.nextLink").and_then(Value::as_str).map(str::to_string);
        pages.push(page);
        assert!(pages.len() <= 100, "{first}: the nextLinks never end");
        match next {
            Some(n) => url = n,
            None => return (all, pages),
        }
    }
}

struct Setup {
    s: Server,
    admin: String,
    rollout: String,
    /// Catalog ids of the apps published here, all installed in every scope.
    apps: Vec<String>,
    /// The app with several definitions.
    multi: String,
}

const USER: &str = ADELE;

fn scope_paths() -> [(&'static str, String, bool); 3] {
    [
        ("user", format!("/users/{USER}/teamwork/installedApps"), false),
        ("chat", format!("/chats/{}/installedApps", enc(CHAT)), false),
        ("team", format!("/teams/{TEAM}/installedApps"), true),
    ]
}

async fn setup() -> Setup {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let mut apps = Vec::new();
    for _ in 0..5 {
        let app = s.publish(&admin, &manifest(&new_manifest_id(), "1.0.0")).await;
        apps.push(app["id"].as_str().unwrap().to_string());
    }
    // One app with several definitions: published versions and a pending submission.
    let external = new_manifest_id();
    let multi =
        s.publish(&admin, &manifest(&external, "1.0.0")).await["id"].as_str().unwrap().to_string();
    s.update(&admin, &multi, &manifest(&external, "1.9.0")).await;
    let r = s.graph(&admin).update_teams_app(&multi, &manifest(&external, "1.10.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    apps.push(multi.clone());
    for (name, path, _) in scope_paths() {
        for app in &apps {
            let r = s.post_json(&rollout, &format!("/v1.0{path}"), &bind(app)).await;
            assert!(r.status.is_success(), "{name} install: {}", r.body);
        }
    }
    Setup { s, admin, rollout, apps, multi }
}

fn lists(x: &Setup) -> Vec<List> {
    let mut out = vec![
        List { name: "catalog", path: "/appCatalogs/teamsApps".into(), always_count: false },
        List {
            name: "definitions",
            path: format!("/appCatalogs/teamsApps/{}/appDefinitions", x.multi),
            always_count: false,
        },
    ];
    for (name, path, always_count) in scope_paths() {
        out.push(List { name, path, always_count });
    }
    out
}

/// Every list, every version, several page sizes: the walk yields exactly the unpaged list, in
/// the same order, with no repeats; links point back at the caller's base URL; counts count.
#[tokio::test]
async fn every_list_walks_to_its_end_through_the_next_links() {
    let x = setup().await;
    let client = &x.s.client;
    for list in lists(&x) {
        // The admin reads the catalog (submissions included); the rollout app the installations.
        let token = if list.name == "catalog" || list.name == "definitions" {
            &x.admin
        } else {
            &x.rollout
        };
        for version in ["v1.0", "beta"] {
            let base = format!("{}/{version}{}", x.s.base, list.path);
            let (full, pages) = walk(client, token, &base, &[]).await;
            assert_eq!(pages.len(), 1, "{}: no $top, one page", list.name);
            assert!(full.len() >= 3, "{}: too few items to page: {full:?}", list.name);
            if list.name == "definitions" {
                // Oldest version first, numerically (1.9.0 before 1.10.0).
                let versions: Vec<&str> = pages[0]["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|d| d["version"].as_str())
                    .collect();
                assert_eq!(versions, ["1.0.0", "1.9.0", "1.10.0"], "{}", pages[0]);
            }
            let unique: HashSet<&String> = full.iter().collect();
            assert_eq!(unique.len(), full.len(), "{}: duplicates in {full:?}", list.name);
            if list.name != "catalog" && list.name != "definitions" {
                assert_eq!(full.len(), x.apps.len(), "{}", list.name);
            }
            for top in [1, 2, full.len() - 1, full.len(), 999] {
                let first = format!("{base}?$top={top}&$count=true");
                let (walked, pages) = walk(client, token, &first, &[]).await;
                assert_eq!(walked, full, "{} {version} $top={top}", list.name);
                assert_eq!(pages.len(), full.len().div_ceil(top), "{} $top={top}", list.name);
                for page in &pages {
                    assert!(ids(page).len() <= top);
                    assert_eq!(page["@odata.count"], full.len(), "{} $top={top}", list.name);
                    if let Some(next) = page["@odata.nextLink"].as_str() {
                        let prefix = format!("{base}?$top={top}&$count=true&$skiptoken=");
                        assert!(next.starts_with(&prefix), "{next} vs {prefix}");
                    }
                }
            }
            // Without $count, only team lists count.
            let (_, pages) = walk(client, token, &format!("{base}?$top=2"), &[]).await;
            for page in &pages {
                assert_eq!(page.get("@odata.count").is_some(), list.always_count, "{page}");
            }
        }
    }
}

/// Links follow the base URL the caller used: another Host (resolved to this server), and a
/// TLS-terminating proxy's `X-Forwarded-Proto`; the token keeps working on every page.
#[tokio::test]
async fn next_links_follow_the_callers_host_and_scheme() {
    let x = setup().await;
    let addr: SocketAddr = x.s.base.trim_start_matches("http://").parse().unwrap();
    let host = "graph.contoso.test";
    let client = reqwest::Client::builder().resolve(host, addr).build().unwrap();
    let other_base = format!("http://{host}:{}", addr.port());
    for list in lists(&x) {
        let token = if list.path.starts_with("/appCatalogs") { &x.admin } else { &x.rollout };
        let first = format!("{other_base}/v1.0{}?$top=1", list.path);
        let (walked, pages) = walk(&client, token, &first, &[]).await;
        let (full, _) =
            walk(&x.s.client, token, &x.s.url(&format!("/v1.0{}", list.path)), &[]).await;
        assert_eq!(walked, full, "{}", list.name);
        for page in &pages[..pages.len() - 1] {
            let next = page["@odata.nextLink"].as_str().unwrap();
            assert!(next.starts_with(&format!("{other_base}/v1.0{}?", list.path)), "{next}");
        }
    }

    // Behind a proxy: Host and X-Forwarded-Proto name the public URL; the proxy maps it back.
    let headers = [("host", "graph.example.net"), ("x-forwarded-proto", "https")];
    let list = &lists(&x)[4];
    let mut url = x.s.url(&format!("/v1.0{}?$top=2", list.path));
    let mut seen = Vec::new();
    loop {
        let (status, page) = get_url(&x.s.client, &x.rollout, &url, &headers).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        let Some(next) = page["@odata.nextLink"].as_str() else { break };
        let public = "https://graph.example.net/v1.0/";
        assert!(next.starts_with(public), "{next}");
        url = format!("{}/v1.0/{}", x.s.base, &next[public.len()..]);
    }
    assert_eq!(seen.len(), x.apps.len());
}

/// Items added or removed between pages: whatever existed for the whole walk is seen exactly
/// once, nothing repeats, and the walk still ends (the token is a position, not an offset).
#[tokio::test]
async fn changes_between_pages_neither_repeat_nor_lose_items() {
    let x = setup().await;
    let client = &x.s.client;
    for (name, path, _) in scope_paths() {
        let url = x.s.url(&format!("/v1.0{path}"));
        let (before, _) = walk(client, &x.rollout, &url, &[]).await;
        assert_eq!(before.len(), 6);

        let (status, page) = get_url(client, &x.rollout, &format!("{url}?$top=2"), &[]).await;
        assert_eq!(status, 200, "{page}");
        let first = ids(&page);
        // Remove the page's last item (the token's position) and one not yet seen; add one.
        // Uninstalling needs a ReadWriteFor… permission (the rollout app's consent ones do not).
        let plain = x.s.app_token(PLAIN).await;
        for gone in [&first[1], &before[4]] {
            let r = x.s.delete(&plain, &format!("/v1.0{path}/{gone}")).await;
            assert_eq!(r.status, 204, "{name}: {}", r.body);
        }
        let extra = x.s.publish(&x.admin, &manifest(&new_manifest_id(), "1.0.0")).await;
        let extra = extra["id"].as_str().unwrap().to_string();
        let r = x.s.post_json(&x.rollout, &format!("/v1.0{path}"), &bind(&extra)).await;
        assert!(r.status.is_success(), "{}", r.body);

        let (rest, _) = walk(
            client,
            &x.rollout,
            page["@odata.nextLink"].as_str().unwrap_or_else(|| panic!("{page}")),
            &[],
        )
        .await;
        let mut seen = first.clone();
        seen.extend(rest);
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{name}: repeated in {seen:?}");
        let kept: BTreeSet<&String> =
            before.iter().filter(|id| *id != &first[1] && *id != &before[4]).collect();
        for id in kept {
            assert!(seen.contains(id), "{name}: {id} was lost ({seen:?})");
        }
        assert!(!seen[2..].contains(&before[4]), "{name}: a removed item came back");
    }

    // The catalog too: delete the app at the token's position.
    let url = x.s.url("/v1.0/appCatalogs/teamsApps");
    let org = "$filter=distributionMethod eq 'organization'";
    let (before, _) = walk(client, &x.admin, &format!("{url}?{org}"), &[]).await;
    let (_, page) = get_url(client, &x.admin, &format!("{url}?{org}&$top=3"), &[]).await;
    let first = ids(&page);
    let r = x.s.graph(&x.admin).delete_teams_app(&first[2]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let (rest, _) = walk(client, &x.admin, page["@odata.nextLink"].as_str().unwrap(), &[]).await;
    let mut seen = first.clone();
    seen.extend(rest);
    let expected: Vec<String> = before.clone();
    assert_eq!(seen, expected, "the catalog walk lost or repeated an app");
}

/// `$skiptoken`s that are not ours, or ours for another list or query, are refused (400
/// BadRequest) instead of silently starting over; `$top=0` ends the walk.
#[tokio::test]
async fn bad_and_forged_skip_tokens_are_refused() {
    let x = setup().await;
    let team = format!("/v1.0/teams/{TEAM}/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    let page = x.s.get(&x.rollout, &format!("{team}?$top=1")).await;
    let next = page.body["@odata.nextLink"].as_str().unwrap().to_string();
    let token = next.split("$skiptoken=").nth(1).unwrap().to_string();

    let bad = [
        format!("{team}?$top=1&$skiptoken=abc"),
        format!("{team}?$top=1&$skiptoken=%25%25"),
        format!("{team}?$top=1&$skiptoken="),
        // base64 of something that is not one of our tokens.
        format!("{team}?$top=1&$skiptoken=c2tpcDox"),
        // Ours, on another list, with another page size or another filter.
        format!("{chat}?$top=1&$skiptoken={token}"),
        format!("/beta/teams/{TEAM}/installedApps?$top=1&$skiptoken={token}"),
        format!("{team}?$top=2&$skiptoken={token}"),
        format!("{team}?$top=1&$filter=teamsApp/distributionMethod eq 'organization'&$skiptoken={token}"),
        // Ours, tampered with.
        format!("{team}?$top=1&$skiptoken={}A", token),
    ];
    for path in bad {
        x.s.get(&x.rollout, &path).await.assert_error(400, "BadRequest");
    }
    // As given, it works.
    let r = x.s.get(&x.rollout, &next[x.s.base.len()..]).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let zero = x.s.get(&x.rollout, &format!("{team}?$top=0&$count=true")).await;
    assert_eq!(zero.status, 200, "{}", zero.body);
    assert_eq!(ids(&zero.body).len(), 0);
    assert_eq!(zero.body["@odata.count"], x.apps.len());
    assert!(zero.body.get("@odata.nextLink").is_none(), "{}", zero.body);
}

/// `$count=true` counts what the filter keeps, on every page, in every list.
#[tokio::test]
async fn count_counts_the_filtered_collection() {
    let x = setup().await;
    let filtered = format!(
        "/v1.0/users/{USER}/teamwork/installedApps?$filter=teamsApp/id eq '{}' or teamsApp/id eq '{}'&$count=true&$top=1",
        x.apps[0], x.apps[1]
    );
    let (ids_seen, pages) = walk(&x.s.client, &x.rollout, &x.s.url(&filtered), &[]).await;
    assert_eq!(ids_seen.len(), 2);
    for page in &pages {
        assert_eq!(page["@odata.count"], 2, "{page}");
    }
    let catalog =
        x.s.graph(&x.admin)
            .list_teams_apps("$filter=distributionMethod eq 'organization'&$count=true")
            .await;
    assert_eq!(catalog.status, 200, "{}", catalog.body);
    assert_eq!(catalog.body["@odata.count"], ids(&catalog.body).len());
    let defs = x.s.graph(&x.admin).list_app_definitions(&x.multi, "$count=true").await;
    assert_eq!(defs.body["@odata.count"], ids(&defs.body).len(), "{}", defs.body);
    let defs_false = x.s.graph(&x.admin).list_app_definitions(&x.multi, "$count=false").await;
    assert!(defs_false.body.get("@odata.count").is_none(), "{}", defs_false.body);
}
