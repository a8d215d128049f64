//! Unit tests of the identity module: issuing and verifying tokens, the cache, the key ring, the
//! token endpoint's grants and refusals, discovery documents and the HTTP framing.

use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use teamsapps_core::model::{
    AppDefinition, Application, CatalogApp, Chat, Installation, PublishingState,
    ResourceSpecificPermission, ScopeRef, SigningKey, Team, TeamsApp, Tenant, User,
};
use teamsapps_core::principal::PrincipalKind;
use teamsapps_core::store::{Seed, StoreResult, Transition, UpgradeOutcome};
use teamsapps_core::{CoreError, Store};

use super::*;
use crate::identity::discovery::openid_configuration_v2_document;
use crate::identity::{
    base_url, endpoints, request_scheme, token_response, AadError, TokenSuccess,
};

const TENANT: &str = "2f1a6c2e-0000-4000-8000-000000000001";
const APP_ID: &str = "11111111-1111-4111-8111-111111111111";
const PUBLIC_APP_ID: &str = "22222222-2222-4222-8222-222222222222";
const SECRET: &str = "s3cr3t~value.with+plus";
const MEGAN: &str = "33333333-3333-4333-8333-333333333333";
const ALEX: &str = "44444444-4444-4444-8444-444444444444";
const BASE: &str = "http://127.0.0.1:8080";

// --- fixtures -----------------------------------------------------------------------------

/// Two keys for the whole test binary: RSA generation is slow.
fn test_keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let a = generate_signing_key().unwrap();
        let mut b = generate_signing_key().unwrap();
        b.created_at = a.created_at + chrono::Duration::seconds(1);
        (a, b)
    })
}

fn key_a() -> SigningKey {
    test_keys().0.clone()
}

fn key_b() -> SigningKey {
    test_keys().1.clone()
}

fn identity() -> Identity {
    Identity::from_signing_keys(&[key_a()]).unwrap()
}

fn app() -> Application {
    Application {
        tenant_id: TENANT.into(),
        app_id: APP_ID.into(),
        display_name: "Rollout bot".into(),
        client_secret: SECRET.into(),
        application_permissions: vec![
            "TeamsAppInstallation.ReadWriteForUser.All".into(),
            "AppCatalog.Read.All".into(),
        ],
        delegated_permissions: vec![
            "TeamsAppInstallation.ReadWriteForChat".into(),
            "AppCatalog.ReadWrite.All".into(),
            "appcatalog.submit".into(),
        ],
        selected_teams_apps: vec![],
    }
}

fn public_app() -> Application {
    Application {
        app_id: PUBLIC_APP_ID.into(),
        display_name: "CLI".into(),
        client_secret: String::new(),
        application_permissions: vec![],
        delegated_permissions: vec!["AppCatalog.Read.All".into()],
        ..app()
    }
}

fn megan() -> User {
    User {
        tenant_id: TENANT.into(),
        id: MEGAN.into(),
        user_principal_name: "megan@contoso.example".into(),
        display_name: "Megan".into(),
        password: Some("pa ss".into()),
        roles: vec!["Teams Service Administrator".into()],
        mail: None,
        account_enabled: None,
        user_type: None,
    }
}

fn alex() -> User {
    User {
        id: ALEX.into(),
        user_principal_name: "alex@contoso.example".into(),
        display_name: "Alex".into(),
        password: Some("alexpw".into()),
        roles: vec![],
        ..megan()
    }
}

/// A minimal in-memory `Store`: keys, tenants, users and app registrations; the catalog and
/// installation methods answer "nothing there".
#[derive(Default)]
struct MemStore {
    keys: Mutex<Vec<SigningKey>>,
    tenants: Mutex<Vec<Tenant>>,
    users: Vec<User>,
    apps: Vec<Application>,
}

fn store() -> MemStore {
    MemStore {
        keys: Mutex::new(vec![key_a()]),
        tenants: Mutex::new(vec![Tenant { id: TENANT.into(), display_name: "Contoso".into() }]),
        users: vec![megan(), alex()],
        apps: vec![app(), public_app()],
    }
}

#[async_trait::async_trait]
impl Store for MemStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let mut keys = self.keys.lock().unwrap().clone();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }
    async fn add_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        self.keys.lock().unwrap().push(key.clone());
        Ok(())
    }
    async fn apply_seed(&self, _seed: &Seed) -> StoreResult<()> {
        Ok(())
    }
    async fn tenant(&self, tenant_id: &str) -> StoreResult<Option<Tenant>> {
        Ok(self.tenants.lock().unwrap().iter().find(|t| t.id == tenant_id).cloned())
    }
    async fn user(&self, tenant_id: &str, id_or_upn: &str) -> StoreResult<Option<User>> {
        Ok(self
            .users
            .iter()
            .find(|u| {
                u.tenant_id == tenant_id
                    && (u.id == id_or_upn || u.user_principal_name.eq_ignore_ascii_case(id_or_upn))
            })
            .cloned())
    }
    async fn chat(&self, _tenant_id: &str, _chat_id: &str) -> StoreResult<Option<Chat>> {
        Ok(None)
    }
    async fn team(&self, _tenant_id: &str, _team_id: &str) -> StoreResult<Option<Team>> {
        Ok(None)
    }
    async fn list_users(&self, tenant_id: &str) -> StoreResult<Vec<User>> {
        Ok(self.users.iter().filter(|u| u.tenant_id == tenant_id).cloned().collect())
    }
    async fn list_chats(&self, _tenant_id: &str) -> StoreResult<Vec<Chat>> {
        Ok(vec![])
    }
    async fn list_teams(&self, _tenant_id: &str) -> StoreResult<Vec<Team>> {
        Ok(vec![])
    }
    async fn application(&self, tenant_id: &str, app_id: &str) -> StoreResult<Option<Application>> {
        Ok(self.apps.iter().find(|a| a.tenant_id == tenant_id && a.app_id == app_id).cloned())
    }
    async fn list_apps(&self, _tenant_id: &str) -> StoreResult<Vec<CatalogApp>> {
        Ok(vec![])
    }
    async fn get_app(&self, _tenant_id: &str, _app_id: &str) -> StoreResult<Option<CatalogApp>> {
        Ok(None)
    }
    async fn get_app_by_external_id(
        &self,
        _tenant_id: &str,
        _external_id: &str,
    ) -> StoreResult<Option<CatalogApp>> {
        Ok(None)
    }
    async fn create_app(&self, _app: &TeamsApp, _definition: &AppDefinition) -> StoreResult<()> {
        Ok(())
    }
    async fn add_definition(
        &self,
        _tenant_id: &str,
        _definition: &AppDefinition,
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn transition_definition(
        &self,
        _tenant_id: &str,
        _app_id: &str,
        _version: &str,
        _from: PublishingState,
        _to: PublishingState,
        _if_match: Option<&str>,
        _new_etag: &str,
        _at: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        Ok(Transition::NotFound)
    }
    async fn delete_app(&self, _tenant_id: &str, _app_id: &str) -> StoreResult<bool> {
        Ok(false)
    }
    async fn delete_definition(
        &self,
        _tenant_id: &str,
        _app_id: &str,
        _version: &str,
        _state: PublishingState,
    ) -> StoreResult<bool> {
        Ok(false)
    }
    async fn list_installations(
        &self,
        _tenant_id: &str,
        _scope: &ScopeRef,
    ) -> StoreResult<Vec<Installation>> {
        Ok(vec![])
    }
    async fn get_installation(
        &self,
        _tenant_id: &str,
        _scope: &ScopeRef,
        _app_id: &str,
    ) -> StoreResult<Option<Installation>> {
        Ok(None)
    }
    async fn create_installation(&self, _installation: &Installation) -> StoreResult<()> {
        Ok(())
    }
    async fn upgrade_installation(
        &self,
        _tenant_id: &str,
        _scope: &ScopeRef,
        _app_id: &str,
        _to_version: &str,
        _consented: Option<&[ResourceSpecificPermission]>,
    ) -> StoreResult<UpgradeOutcome> {
        Ok(UpgradeOutcome::NotFound)
    }
    async fn delete_installation(
        &self,
        _tenant_id: &str,
        _scope: &ScopeRef,
        _app_id: &str,
    ) -> StoreResult<bool> {
        Ok(false)
    }
}

fn auth(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(value).unwrap());
    h
}

fn bearer(token: &str) -> HeaderMap {
    auth(&format!("Bearer {token}"))
}

fn app_claims() -> AccessClaims {
    AccessClaims::application(TENANT, &app(), unix_now())
}

fn unauthenticated_message(result: CoreResult<Principal>) -> String {
    match result {
        Err(CoreError::Unauthenticated(m)) => m,
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn payload_of(token: &str) -> Value {
    decode_part(token.split('.').nth(1).unwrap())
}

// --- issuing and verifying ----------------------------------------------------------------

#[tokio::test]
async fn identity_app_token_round_trip() {
    let id = identity();
    let token = id.issue(&app_claims()).unwrap();

    let header = decode_part(token.split('.').next().unwrap());
    assert_eq!(header, json!({"typ": "JWT", "alg": "RS256", "kid": key_a().kid}));
    let claims = payload_of(&token);
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], APP_ID);
    assert_eq!(claims["azp"], APP_ID);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["oid"], service_principal_id(TENANT, APP_ID));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3599);
    assert!(claims.get("scp").is_none());

    let p = id.authenticate(&store(), &bearer(&token)).await.unwrap();
    assert_eq!(p.tenant_id, TENANT);
    assert_eq!(p.app_id, APP_ID);
    assert_eq!(p.kind, PrincipalKind::Application);
    assert_eq!(p.permissions, app().application_permissions);
    assert!(!p.is_admin);
}

#[tokio::test]
async fn identity_user_token_round_trip() {
    let id = identity();
    let claims =
        AccessClaims::delegated(TENANT, &app(), &megan(), "B.Read A.Write".into(), unix_now());
    assert_eq!(claims.wids, vec![TEAMS_ADMIN_ROLE_TEMPLATE.to_string()]);
    let token = id.issue(&claims).unwrap();
    let p = id.authenticate(&store(), &auth(&format!("bEaReR {token}"))).await.unwrap();
    assert_eq!(p.kind, PrincipalKind::Delegated { user_id: MEGAN.into() });
    assert_eq!(p.permissions, vec!["B.Read".to_string(), "A.Write".to_string()]);
    assert_eq!(p.app_id, APP_ID);
    assert!(p.is_admin);

    let claims = AccessClaims::delegated(TENANT, &app(), &alex(), "X".into(), unix_now());
    assert!(claims.wids.is_empty());
    let p = id.authenticate(&store(), &bearer(&id.issue(&claims).unwrap())).await.unwrap();
    assert_eq!(p.user_id(), Some(ALEX));
    assert!(!p.is_admin);
}

#[test]
fn identity_role_template_ids() {
    for name in ["TeamsServiceAdministrator", "teams service administrator", "Teams Administrator"]
    {
        assert_eq!(role_template_id(name), Some(TEAMS_ADMIN_ROLE_TEMPLATE), "{name}");
    }
    for name in ["GlobalAdministrator", "Global Administrator", "GLOBALADMINISTRATOR"] {
        assert_eq!(role_template_id(name), Some(GLOBAL_ADMIN_ROLE_TEMPLATE), "{name}");
    }
    assert_eq!(role_template_id("Helpdesk Administrator"), None);
    let mut user = alex();
    user.roles = vec!["global administrator".into(), "GlobalAdministrator".into()];
    let claims = AccessClaims::delegated(TENANT, &app(), &user, String::new(), 0);
    assert_eq!(claims.wids, vec![GLOBAL_ADMIN_ROLE_TEMPLATE.to_string()]);
}

#[test]
fn identity_service_principal_id_is_a_stable_guid() {
    let a = service_principal_id(TENANT, APP_ID);
    assert_eq!(a, service_principal_id(&TENANT.to_uppercase(), APP_ID));
    assert_ne!(a, service_principal_id(TENANT, PUBLIC_APP_ID));
    let parsed = uuid::Uuid::parse_str(&a).unwrap();
    assert_eq!(parsed.to_string(), a);
    assert_eq!(parsed.get_version_num(), 8);
}

#[tokio::test]
async fn identity_refuses_missing_empty_and_foreign_schemes() {
    let id = identity();
    let s = store();
    let empty = "Access token is empty.";
    let invalid = "Access token validation failure.";
    assert_eq!(unauthenticated_message(id.authenticate(&s, &HeaderMap::new()).await), empty);
    assert_eq!(unauthenticated_message(id.authenticate(&s, &auth("")).await), empty);
    assert_eq!(unauthenticated_message(id.authenticate(&s, &auth("Bearer")).await), empty);
    assert_eq!(unauthenticated_message(id.authenticate(&s, &auth("Bearer   ")).await), empty);
    let token = id.issue(&app_claims()).unwrap();
    assert_eq!(
        unauthenticated_message(id.authenticate(&s, &auth(&format!("Basic {token}"))).await),
        invalid
    );
    assert_eq!(unauthenticated_message(id.authenticate(&s, &auth(&token)).await), invalid);
    assert_eq!(unauthenticated_message(id.authenticate(&s, &auth("Bearé x")).await), invalid);
}

#[tokio::test]
async fn identity_refuses_garbage() {
    let id = identity();
    let s = store();
    for garbage in ["abc", "a.b.c", "a.b", "....", "eyJhbGciOiJSUzI1NiJ9.e30.", "🙂"] {
        let headers = auth(&format!("Bearer {garbage}"));
        let msg = unauthenticated_message(id.authenticate(&s, &headers).await);
        assert_eq!(msg, "Access token validation failure.", "{garbage}");
    }
}

#[tokio::test]
async fn identity_refuses_alg_none() {
    let id = identity();
    let payload = serde_json::to_value(app_claims()).unwrap();
    for header in [
        json!({"alg": "none"}),
        json!({"alg": "none", "typ": "JWT", "kid": key_a().kid}),
        json!({"alg": "None", "kid": key_a().kid}),
    ] {
        let token = format!("{}.{}.", b64(&header), b64(&payload));
        let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&token)).await);
        assert_eq!(msg, "Access token validation failure.");
    }
}

#[tokio::test]
async fn identity_refuses_hs256_signed_with_the_public_key() {
    let id = identity();
    let private = RsaPrivateKey::from_pkcs8_pem(&key_a().private_pem).unwrap();
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key_a().kid);
    let token = jsonwebtoken::encode(
        &header,
        &app_claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&token)).await);
    assert_eq!(msg, "Access token validation failure.");
}

/// A token signed with the test key over exactly this header and payload.
fn sign_raw(header: &Value, payload: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(key_a().private_pem.as_bytes()).unwrap();
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn identity_refuses_header_extensions_and_dates_out_of_range() {
    let id = identity();
    let s = store();
    let payload = payload_of(&id.issue(&app_claims()).unwrap());
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": id.signing_kid()});
    // The same signing, without anything odd, is accepted: the refusals below are the rules.
    assert!(id.authenticate(&s, &bearer(&sign_raw(&header, &payload))).await.is_ok());
    for (name, value) in [("crit", json!(["exp2"])), ("b64", json!(false)), ("crit", json!([]))] {
        let mut odd = header.clone();
        odd[name] = value.clone();
        if name == "crit" {
            odd["exp2"] = json!(1);
        }
        let token = sign_raw(&odd, &payload);
        let msg = unauthenticated_message(id.authenticate(&s, &bearer(&token)).await);
        assert_eq!(msg, "Access token validation failure.", "{name}: {value}");
    }
    for exp in [json!(1e300), json!(-1), json!(253_402_300_800_i64), json!(f64::MAX)] {
        let mut p = payload.clone();
        p["exp"] = exp.clone();
        let token = sign_raw(&header, &p);
        let r = id.authenticate(&s, &bearer(&token)).await;
        assert!(r.is_err(), "exp {exp} was accepted");
    }
}

#[tokio::test]
async fn identity_refuses_tampered_payload() {
    let id = identity();
    let token = id.issue(&app_claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = payload_of(&token);
    payload["roles"] = json!(["AppCatalog.ReadWrite.All"]);
    let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&forged)).await);
    assert_eq!(msg, "Access token validation failure.");
    // A flipped signature byte fails too.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&forged)).await);
    assert_eq!(msg, "Access token validation failure.");
}

#[tokio::test]
async fn identity_refuses_unknown_kid() {
    // Signed by key B, which the store does not hold: the refresh finds nothing new.
    let other = Identity::from_signing_keys(&[key_b()]).unwrap();
    let token = other.issue(&app_claims()).unwrap();
    let msg = unauthenticated_message(identity().authenticate(&store(), &bearer(&token)).await);
    assert_eq!(msg, "Access token validation failure.");
    // A token without kid.
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let signed = identity().issue(&app_claims()).unwrap();
    let parts: Vec<&str> = signed.split('.').collect();
    let token = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
    let msg = unauthenticated_message(identity().authenticate(&store(), &bearer(&token)).await);
    assert_eq!(msg, "Access token validation failure.");
}

#[tokio::test]
async fn identity_picks_up_keys_added_by_another_node() {
    let s = store();
    let id = identity(); // knows key A only
    s.add_signing_key(&key_b()).await.unwrap();
    let other_node = Identity::load_or_create(&s).await.unwrap();
    assert_eq!(other_node.signing_kid(), key_b().kid, "the newest key signs");
    let token = other_node.issue(&app_claims()).unwrap();
    let p = id.authenticate(&s, &bearer(&token)).await.unwrap();
    assert_eq!(p.app_id, APP_ID);
    assert_eq!(id.signing_kid(), key_b().kid);
    assert_eq!(id.jwks()["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn identity_refuses_expired_and_not_yet_valid() {
    let id = identity();
    let s = store();
    let now = unix_now();
    let expired = AccessClaims { exp: now - 1, iat: now - 3600, nbf: now - 3600, ..app_claims() };
    let token = id.issue(&expired).unwrap();
    let msg = unauthenticated_message(id.authenticate(&s, &bearer(&token)).await);
    assert_eq!(msg, "Access token has expired or is not yet valid.");

    let future = AccessClaims { nbf: now + 120, ..app_claims() };
    let token = id.issue(&future).unwrap();
    let msg = unauthenticated_message(id.authenticate(&s, &bearer(&token)).await);
    assert_eq!(msg, "Access token has expired or is not yet valid.");

    // exp exactly now is past (RFC 7519: the current time must be before exp).
    let edge = AccessClaims { exp: now, ..app_claims() };
    let token = id.issue(&edge).unwrap();
    let msg = unauthenticated_message(id.authenticate_at(&s, &bearer(&token), now).await);
    assert_eq!(msg, "Access token has expired or is not yet valid.");
}

#[tokio::test]
async fn identity_audiences() {
    let id = identity();
    let s = store();
    for aud in ["https://graph.microsoft.com", "https://graph.microsoft.com/", GRAPH_APP_ID] {
        let token = id.issue(&AccessClaims { aud: aud.into(), ..app_claims() }).unwrap();
        assert!(id.authenticate(&s, &bearer(&token)).await.is_ok(), "{aud}");
    }
    for aud in
        ["https://management.azure.com", "api://teamsapps", "HTTPS://GRAPH.MICROSOFT.COM2", ""]
    {
        let token = id.issue(&AccessClaims { aud: aud.into(), ..app_claims() }).unwrap();
        let msg = unauthenticated_message(id.authenticate(&s, &bearer(&token)).await);
        assert_eq!(msg, "Access token validation failure.", "{aud}");
    }
}

#[tokio::test]
async fn identity_refuses_wrong_issuer() {
    let id = identity();
    for iss in [
        format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        "https://sts.windows.net/99999999-0000-4000-8000-000000000009/".to_string(),
        format!("https://sts.windows.net/{TENANT}"),
        format!("https://evil.example/{TENANT}/"),
    ] {
        let token = id.issue(&AccessClaims { iss: iss.clone(), ..app_claims() }).unwrap();
        let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&token)).await);
        assert_eq!(msg, "Access token validation failure.", "{iss}");
    }
}

#[tokio::test]
async fn identity_refuses_unknown_tenant() {
    let id = identity();
    let other = "99999999-0000-4000-8000-000000000009";
    let token = id.issue(&AccessClaims::application(other, &app(), unix_now())).unwrap();
    let msg = unauthenticated_message(id.authenticate(&store(), &bearer(&token)).await);
    assert_eq!(msg, "Access token validation failure. Invalid tenant.");
    assert_eq!(id.cached_tokens(), 0, "refusals are not cached");
}

#[tokio::test]
async fn identity_cache_hit_returns_the_same_principal() {
    let id = identity();
    let s = store();
    let token = id.issue(&app_claims()).unwrap();
    let first = id.authenticate(&s, &bearer(&token)).await.unwrap();
    assert_eq!(id.cached_tokens(), 1);
    // The second call does not consult the store: the tenant is gone and it still passes.
    s.tenants.lock().unwrap().clear();
    let second = id.authenticate(&s, &bearer(&token)).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(id.cached_tokens(), 1);
}

#[tokio::test]
async fn identity_cache_rechecks_the_directory_and_can_be_forgotten() {
    let id = identity();
    let s = store();
    let now = unix_now();
    let token = id.issue(&app_claims()).unwrap();
    id.authenticate_at(&s, &bearer(&token), now).await.unwrap();
    s.tenants.lock().unwrap().clear();
    // Within the bound the cache answers; after it the directory is read again.
    id.authenticate_at(&s, &bearer(&token), now + DIRECTORY_RECHECK_SECS - 1).await.unwrap();
    let late = id.authenticate_at(&s, &bearer(&token), now + DIRECTORY_RECHECK_SECS).await;
    assert!(late.is_err(), "a token of a removed tenant is refused once the bound has passed");

    // A reset or restore on this node forgets at once.
    let id = identity();
    let s = store();
    id.authenticate_at(&s, &bearer(&token), now).await.unwrap();
    s.tenants.lock().unwrap().clear();
    id.forget_verified_tokens();
    assert_eq!(id.cached_tokens(), 0);
    assert!(id.authenticate_at(&s, &bearer(&token), now).await.is_err());
}

#[tokio::test]
async fn identity_cache_honours_exp() {
    let id = identity();
    let s = store();
    let now = unix_now();
    let token = id.issue(&AccessClaims { exp: now + 10, ..app_claims() }).unwrap();
    id.authenticate_at(&s, &bearer(&token), now).await.unwrap();
    assert_eq!(id.cached_tokens(), 1);
    id.authenticate_at(&s, &bearer(&token), now + 9).await.unwrap();
    let msg = unauthenticated_message(id.authenticate_at(&s, &bearer(&token), now + 10).await);
    assert_eq!(msg, "Access token has expired or is not yet valid.");
    assert_eq!(id.cached_tokens(), 0, "the expired entry is dropped");
}

#[test]
fn identity_cache_is_bounded() {
    let principal = Principal {
        tenant_id: TENANT.into(),
        app_id: APP_ID.into(),
        kind: PrincipalKind::Application,
        permissions: vec![],
        is_admin: false,
        personal_account: false,
    };
    let mut cache = TokenCache::new(4);
    // Two expired at t=100, two live.
    for (i, exp) in [(0u8, 50), (1, 60), (2, 500), (3, 600)] {
        cache.insert([i; 32], principal.clone(), exp, 10);
    }
    assert_eq!(cache.entries.len(), 4);
    cache.insert([9; 32], principal.clone(), 700, 100);
    assert_eq!(cache.entries.len(), 3, "expired entries are evicted first");
    assert!(cache.entries.contains_key(&[2; 32]) && cache.entries.contains_key(&[9; 32]));
    cache.insert([10; 32], principal.clone(), 700, 100);
    assert_eq!(cache.entries.len(), 4);
    // Full of live entries: half of them go.
    cache.insert([11; 32], principal.clone(), 700, 100);
    assert_eq!(cache.entries.len(), 3);
    assert!(cache.entries.contains_key(&[11; 32]));
    // Re-inserting a present key never evicts.
    let before = cache.entries.len();
    cache.insert([11; 32], principal, 800, 100);
    assert_eq!(cache.entries.len(), before);
}

#[tokio::test]
async fn identity_load_or_create_generates_once() {
    let s = MemStore { keys: Mutex::new(vec![]), ..store() };
    let first = Identity::load_or_create(&s).await.unwrap();
    let stored = s.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    let kid = &stored[0].kid;
    assert_eq!(&first.signing_kid(), kid);
    assert_eq!(kid.len(), 22, "base64url of 16 bytes");
    let private = RsaPrivateKey::from_pkcs8_pem(&stored[0].private_pem).unwrap();
    assert_eq!(&key_id(&private.to_public_key()).unwrap(), kid);
    assert!(stored[0].private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));

    let second = Identity::load_or_create(&s).await.unwrap();
    assert_eq!(s.signing_keys().await.unwrap().len(), 1);
    assert_eq!(&second.signing_kid(), kid);
    // Tokens of one verify with the other (same key, e.g. after a restart).
    let token = first.issue(&app_claims()).unwrap();
    assert!(second.authenticate(&s, &bearer(&token)).await.is_ok());
}

#[test]
fn identity_jwks_publishes_verifiable_keys() {
    let id = Identity::from_signing_keys(&[key_b(), key_a()]).unwrap();
    let jwks = id.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kid"], key_b().kid);
    assert_eq!(keys[1]["kid"], key_a().kid);
    for k in keys {
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["use"], "sig");
        assert_eq!(k["x5t"], k["kid"]);
        assert_eq!(k["e"], "AQAB");
        assert_eq!(k["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0");
    }
    // A verifier that knows only the JWKS accepts our tokens.
    let token = id.issue(&app_claims()).unwrap();
    let key = DecodingKey::from_rsa_components(
        keys[0]["n"].as_str().unwrap(),
        keys[0]["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    let data = jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims.appid, APP_ID);
}

// --- token endpoint -----------------------------------------------------------------------

fn form_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded"));
    h
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

async fn post_token(
    id: &Identity,
    s: &MemStore,
    headers: &HeaderMap,
    body: &str,
) -> Result<TokenSuccess, AadError> {
    token_response(id, s, BASE, TENANT, headers, body.as_bytes()).await
}

async fn post_form(
    id: &Identity,
    s: &MemStore,
    pairs: &[(&str, &str)],
) -> Result<TokenSuccess, AadError> {
    post_token(id, s, &form_headers(), &form(pairs)).await
}

fn cc(scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", APP_ID.into()),
        ("client_secret", SECRET.into()),
        ("scope", scope.into()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn expect_err(
    result: Result<TokenSuccess, AadError>,
    status: u16,
    error: &str,
    code: u32,
) -> AadError {
    match result {
        Err(e) => {
            assert_eq!((e.status.as_u16(), e.error, e.code), (status, error, code), "{e:?}");
            e
        }
        Ok(ok) => panic!("expected AADSTS{code}, got {ok:?}"),
    }
}

#[tokio::test]
async fn identity_token_client_credentials() {
    let id = identity();
    let s = store();
    for scope in [
        "https://graph.microsoft.com/.default",
        "00000003-0000-0000-c000-000000000000/.default",
        "https://graph.microsoft.com//.default",
        "HTTPS://Graph.Microsoft.com/.DEFAULT",
    ] {
        let ok = post_form(&id, &s, &pairs(&cc(scope))).await.unwrap();
        assert_eq!((ok.token_type, ok.expires_in, ok.ext_expires_in), ("Bearer", 3599, 3599));
        assert!(ok.id_token.is_none() && ok.client_info.is_none());
        let json = serde_json::to_value(&ok).unwrap();
        let mut keys = json.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        keys.sort();
        assert_eq!(keys, vec!["access_token", "expires_in", "ext_expires_in", "token_type"]);
        let p = id.authenticate(&s, &bearer(&ok.access_token)).await.unwrap();
        assert_eq!(p.kind, PrincipalKind::Application);
        assert_eq!(p.permissions, app().application_permissions);
        let claims = payload_of(&ok.access_token);
        assert_eq!(claims["oid"], service_principal_id(TENANT, APP_ID));
        assert_eq!(claims["app_displayname"], "Rollout bot");
    }
    // v1-style `resource` instead of `scope`.
    let ok = post_form(
        &id,
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP_ID),
            ("client_secret", SECRET),
            ("resource", "https://graph.microsoft.com/"),
        ],
    )
    .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn identity_token_client_secret_basic() {
    let id = identity();
    let s = store();
    let mut headers = form_headers();
    let basic = STANDARD.encode(format!("{}:{}", enc(APP_ID), enc(SECRET)));
    headers.insert("authorization", HeaderValue::from_str(&format!("Basic {basic}")).unwrap());
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    let ok = post_token(&id, &s, &headers, &body).await.unwrap();
    assert_eq!(payload_of(&ok.access_token)["appid"], APP_ID);

    let wrong = STANDARD.encode(format!("{APP_ID}:nope"));
    headers.insert("authorization", HeaderValue::from_str(&format!("Basic {wrong}")).unwrap());
    expect_err(post_token(&id, &s, &headers, &body).await, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn identity_token_refuses_unknown_tenant() {
    let id = identity();
    let s = store();
    let body = form(&pairs(&cc("https://graph.microsoft.com/.default")));
    let err =
        token_response(&id, &s, BASE, "contoso.example", &form_headers(), body.as_bytes()).await;
    let err = expect_err(err, 400, "invalid_request", 90002);
    assert_eq!(
        err.message,
        "Tenant 'contoso.example' not found. Check to make sure you have the correct tenant ID \
         and are signing into the correct cloud."
    );
    // The tenant id is matched case-insensitively.
    let ok =
        token_response(&id, &s, BASE, &TENANT.to_uppercase(), &form_headers(), body.as_bytes())
            .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn identity_token_refuses_missing_parameters_and_wrong_content_type() {
    let id = identity();
    let s = store();
    let e = expect_err(post_form(&id, &s, &[]).await, 400, "invalid_request", 900144);
    assert_eq!(e.message, "The request body must contain the following parameter: 'grant_type'.");
    let e = expect_err(
        post_form(&id, &s, &[("grant_type", "client_credentials"), ("scope", "x")]).await,
        400,
        "invalid_request",
        900144,
    );
    assert!(e.message.contains("'client_id'"));
    let e = expect_err(
        post_form(
            &id,
            &s,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP_ID),
                ("client_secret", SECRET),
            ],
        )
        .await,
        400,
        "invalid_request",
        900144,
    );
    assert!(e.message.contains("'scope'"));
    let e = expect_err(
        post_form(
            &id,
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", APP_ID),
                ("scope", "openid"),
                ("username", "megan@contoso.example"),
            ],
        )
        .await,
        400,
        "invalid_request",
        900144,
    );
    assert!(e.message.contains("'password'"));

    // JSON (or no content type) is a body without parameters.
    let body = json!({"grant_type": "client_credentials"}).to_string();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let e = expect_err(post_token(&id, &s, &headers, &body).await, 400, "invalid_request", 900144);
    assert!(e.message.contains("'grant_type'"));
    let body = form(&pairs(&cc("https://graph.microsoft.com/.default")));
    expect_err(post_token(&id, &s, &HeaderMap::new(), &body).await, 400, "invalid_request", 900144);
    // A charset parameter is fine.
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("Application/X-WWW-Form-UrlEncoded; charset=UTF-8"),
    );
    assert!(post_token(&id, &s, &headers, &body).await.is_ok());

    // Repeated parameter.
    let body = format!("{}&scope=x", form(&pairs(&cc("https://graph.microsoft.com/.default"))));
    let e = expect_err(
        post_token(&id, &s, &form_headers(), &body).await,
        400,
        "invalid_request",
        9000411,
    );
    assert!(e.message.contains("'scope' is duplicated"));
}

#[tokio::test]
async fn identity_token_refuses_unsupported_grant() {
    let id = identity();
    let s = store();
    for gt in [
        "authorization_code",
        "refresh_token",
        "PASSWORD",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let e = expect_err(
            post_form(&id, &s, &[("grant_type", gt), ("client_id", APP_ID)]).await,
            400,
            "unsupported_grant_type",
            70003,
        );
        assert!(e.message.contains(gt));
    }
}

#[tokio::test]
async fn identity_token_refuses_unknown_client() {
    let id = identity();
    let s = store();
    let mut req = cc("https://graph.microsoft.com/.default");
    req[1].1 = "55555555-5555-4555-8555-555555555555".into();
    let e = expect_err(post_form(&id, &s, &pairs(&req)).await, 400, "unauthorized_client", 700016);
    assert!(e.message.starts_with(
        "Application with identifier '55555555-5555-4555-8555-555555555555' was not found in the \
         directory 'Contoso'."
    ));
}

#[tokio::test]
async fn identity_token_refuses_bad_client_secret() {
    let id = identity();
    let s = store();
    let mut req = cc("https://graph.microsoft.com/.default");
    req[2].1 = "wrong".into();
    let e = expect_err(post_form(&id, &s, &pairs(&req)).await, 401, "invalid_client", 7000215);
    assert_eq!(
        e.message,
        format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID, for a secret added to app '{APP_ID}'."
        )
    );
    // Not trimmed, not case-folded.
    req[2].1 = format!("{SECRET} ");
    expect_err(post_form(&id, &s, &pairs(&req)).await, 401, "invalid_client", 7000215);
    req[2].1 = SECRET.to_uppercase();
    expect_err(post_form(&id, &s, &pairs(&req)).await, 401, "invalid_client", 7000215);
    // Missing secret.
    req.remove(2);
    expect_err(post_form(&id, &s, &pairs(&req)).await, 401, "invalid_client", 7000218);
    // A public client (no secret registered) cannot use client credentials.
    let e = post_form(
        &id,
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", PUBLIC_APP_ID),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    expect_err(e, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn identity_token_refuses_bad_client_credentials_scope() {
    let id = identity();
    let s = store();
    for scope in [
        "https://graph.microsoft.com/User.Read",
        "User.Read.All",
        "openid",
        "https://graph.microsoft.com/.default openid",
    ] {
        let e =
            expect_err(post_form(&id, &s, &pairs(&cc(scope))).await, 400, "invalid_scope", 1002012);
        assert!(e
            .message
            .contains("Client credential flows must have a scope value with /.default"));
    }
    let e = expect_err(
        post_form(&id, &s, &pairs(&cc("https://management.azure.com/.default"))).await,
        400,
        "invalid_resource",
        500011,
    );
    assert!(e
        .message
        .contains("https://management.azure.com was not found in the tenant named Contoso"));
    for scope in ["https://graph.microsoft.com", "https://graph.microsoft.com/", "/.default"] {
        expect_err(post_form(&id, &s, &pairs(&cc(scope))).await, 400, "invalid_scope", 70011);
    }
}

fn ropc(username: &str, password: &str, scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "password".into()),
        ("client_id", APP_ID.into()),
        ("client_secret", SECRET.into()),
        ("username", username.into()),
        ("password", password.into()),
        ("scope", scope.into()),
    ]
}

#[tokio::test]
async fn identity_token_password_grant() {
    let id = identity();
    let s = store();
    let sorted = "AppCatalog.ReadWrite.All appcatalog.submit TeamsAppInstallation.ReadWriteForChat";
    for scope in [
        "https://graph.microsoft.com/.default",
        "https://graph.microsoft.com/.default openid profile offline_access",
        "openid profile",
        "AppCatalog.ReadWrite.All",
        "https://graph.microsoft.com/appcatalog.readwrite.all email TeamsAppInstallation.ReadWriteForChat",
    ] {
        let ok = post_form(&id, &s, &pairs(&ropc("MEGAN@Contoso.Example", "pa ss", scope))).await.unwrap();
        let claims = payload_of(&ok.access_token);
        assert_eq!(claims["scp"], sorted, "{scope}");
        assert_eq!(claims["idtyp"], "user");
        assert_eq!(claims["oid"], MEGAN);
        assert_eq!(claims["upn"], "megan@contoso.example");
        assert_eq!(claims["name"], "Megan");
        assert_eq!(claims["wids"], json!([TEAMS_ADMIN_ROLE_TEMPLATE]));
        assert!(claims.get("roles").is_none());
        let p = id.authenticate(&s, &bearer(&ok.access_token)).await.unwrap();
        assert_eq!(p.kind, PrincipalKind::Delegated { user_id: MEGAN.into() });
        assert_eq!(p.permissions.join(" "), sorted);
        assert!(p.is_admin);
    }

    // A public client without secret; `openid` and `client_info=1` as MSAL sends them.
    let mut req = ropc(
        "alex@contoso.example",
        "alexpw",
        "https://graph.microsoft.com/.default openid profile offline_access",
    );
    req[1].1 = PUBLIC_APP_ID.into();
    req.remove(2);
    req.push(("client_info", "1".into()));
    let ok = post_form(&id, &s, &pairs(&req)).await.unwrap();
    let claims = payload_of(&ok.access_token);
    assert_eq!(claims["scp"], "AppCatalog.Read.All");
    assert_eq!(claims["appidacr"], "0");
    assert!(claims.get("wids").is_none());
    let id_token = payload_of(ok.id_token.as_deref().unwrap());
    assert_eq!(id_token["aud"], PUBLIC_APP_ID);
    assert_eq!(id_token["iss"], format!("{BASE}/{TENANT}/v2.0"));
    assert_eq!(id_token["preferred_username"], "alex@contoso.example");
    assert_eq!(id_token["oid"], ALEX);
    assert_eq!(id_token["tid"], TENANT);
    assert_eq!(id_token["ver"], "2.0");
    let info: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(ok.client_info.unwrap()).unwrap()).unwrap();
    assert_eq!(info, json!({"uid": ALEX, "utid": TENANT}));
}

#[tokio::test]
async fn identity_token_password_refusals() {
    let id = identity();
    let s = store();
    let scope = "https://graph.microsoft.com/.default";
    for (user, pw) in [("megan@contoso.example", "wrong"), ("megan@contoso.example", "pa ss ")] {
        let e = expect_err(
            post_form(&id, &s, &pairs(&ropc(user, pw, scope))).await,
            400,
            "invalid_grant",
            50126,
        );
        assert_eq!(e.message, "Error validating credentials due to invalid username or password.");
    }
    for user in ["nobody@contoso.example", MEGAN /* an object id is not a user name */] {
        let e = expect_err(
            post_form(&id, &s, &pairs(&ropc(user, "pa ss", scope))).await,
            400,
            "invalid_grant",
            50034,
        );
        assert!(e.message.contains("does not exist in the"), "{}", e.message);
    }
    // Not consented.
    let e = expect_err(
        post_form(
            &id,
            &s,
            &pairs(&ropc(
                "megan@contoso.example",
                "pa ss",
                "https://graph.microsoft.com/User.Read",
            )),
        )
        .await,
        400,
        "invalid_grant",
        65001,
    );
    assert!(e.message.contains(&format!("application with ID '{APP_ID}' named 'Rollout bot'")));
    // .default with specific scopes.
    expect_err(
        post_form(
            &id,
            &s,
            &pairs(&ropc(
                "megan@contoso.example",
                "pa ss",
                "https://graph.microsoft.com/.default AppCatalog.ReadWrite.All",
            )),
        )
        .await,
        400,
        "invalid_scope",
        70011,
    );
    // Another resource.
    expect_err(
        post_form(
            &id,
            &s,
            &pairs(&ropc(
                "megan@contoso.example",
                "pa ss",
                "https://management.azure.com/user_impersonation",
            )),
        )
        .await,
        400,
        "invalid_resource",
        500011,
    );
    // A confidential client sending a wrong secret.
    let mut req = ropc("megan@contoso.example", "pa ss", scope);
    req[2].1 = "nope".into();
    expect_err(post_form(&id, &s, &pairs(&req)).await, 401, "invalid_client", 7000215);
    // Missing username.
    let mut req = ropc("megan@contoso.example", "pa ss", scope);
    req.remove(3);
    let e = expect_err(post_form(&id, &s, &pairs(&req)).await, 400, "invalid_request", 900144);
    assert!(e.message.contains("'username'"));
}

#[test]
fn identity_aad_error_body_shape() {
    let e = AadError::tenant_not_found("x", "invalid_request");
    let now = DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z").unwrap().with_timezone(&Utc);
    let body = e.body(BASE, "trace-1", "corr-1", now);
    assert_eq!(
        body,
        json!({
            "error": "invalid_request",
            "error_description": "AADSTS90002: Tenant 'x' not found. Check to make sure you have \
                the correct tenant ID and are signing into the correct cloud. Trace ID: trace-1 \
                Correlation ID: corr-1 Timestamp: 2024-05-06 07:08:09Z",
            "error_codes": [90002],
            "timestamp": "2024-05-06 07:08:09Z",
            "trace_id": "trace-1",
            "correlation_id": "corr-1",
            "error_uri": "http://127.0.0.1:8080/error?code=90002",
        })
    );
}

// --- discovery ----------------------------------------------------------------------------

#[test]
fn identity_base_url_and_scheme() {
    let uri: Uri = "/x/v2.0/.well-known/openid-configuration".parse().unwrap();
    let mut h = HeaderMap::new();
    assert_eq!(base_url(&h, &uri), "http://localhost");
    h.insert("host", HeaderValue::from_static("127.0.0.1:8443"));
    assert_eq!(base_url(&h, &uri), "http://127.0.0.1:8443");
    h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
    assert_eq!(request_scheme(&h, &uri), "https");
    assert_eq!(base_url(&h, &uri), "https://127.0.0.1:8443");
    h.insert("x-forwarded-proto", HeaderValue::from_static("gopher"));
    assert_eq!(base_url(&h, &uri), "http://127.0.0.1:8443");
    h.insert("host", HeaderValue::from_static("evil/\"x"));
    assert_eq!(base_url(&h, &uri), "http://localhost");
    let abs: Uri =
        "https://login.example:4443/t/v2.0/.well-known/openid-configuration".parse().unwrap();
    assert_eq!(base_url(&HeaderMap::new(), &abs), "https://login.example:4443");
}

#[test]
fn identity_openid_configuration_document() {
    let doc = openid_configuration_v2_document("https://127.0.0.1:8443", TENANT);
    let root = format!("https://127.0.0.1:8443/{TENANT}");
    assert_eq!(doc["issuer"], format!("{root}/v2.0"));
    assert_eq!(doc["token_endpoint"], format!("{root}/oauth2/v2.0/token"));
    assert_eq!(doc["authorization_endpoint"], format!("{root}/oauth2/v2.0/authorize"));
    assert_eq!(doc["jwks_uri"], format!("{root}/discovery/v2.0/keys"));
    assert_eq!(doc["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post", "client_secret_basic"])
    );
    assert_eq!(doc["tenant_region_scope"], Value::Null);
    assert_eq!(doc["cloud_instance_name"], "microsoftonline.com");
    assert_eq!(doc["cloud_graph_host_name"], "graph.windows.net");
    assert_eq!(doc["msgraph_host"], "graph.microsoft.com");
    assert_eq!(doc["request_uri_parameter_supported"], false);
    for field in [
        "response_types_supported",
        "subject_types_supported",
        "scopes_supported",
        "claims_supported",
        "end_session_endpoint",
        "device_authorization_endpoint",
        "frontchannel_logout_supported",
        "http_logout_supported",
        "kerberos_endpoint",
    ] {
        assert!(doc.get(field).is_some(), "{field}");
    }
}

// --- HTTP framing through the router ------------------------------------------------------

fn app_state(s: MemStore, id: Identity) -> Endpoints {
    Endpoints { store: std::sync::Arc::new(s), identity: std::sync::Arc::new(id) }
}

async fn call(state: Endpoints, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    use tower::ServiceExt;
    let res = endpoints(state.identity, state.store).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn identity_http_token_endpoint() {
    let state = app_state(store(), identity());
    let req = Request::post(format!("/{TENANT}/oauth2/v2.0/token"))
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form(&pairs(&cc("https://graph.microsoft.com/.default")))))
        .unwrap();
    let (status, headers, body) = call(state.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().unwrap();
    assert!(state.identity.authenticate(state.store.as_ref(), &bearer(token)).await.is_ok());

    let correlation = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let req = Request::post(format!("/{TENANT}/oauth2/v2.0/token"))
        .header("host", "127.0.0.1:8080")
        .header("client-request-id", correlation)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials&client_id=nope&client_secret=x&scope=x"))
        .unwrap();
    let (status, headers, body) = call(state, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"], json!([700016]));
    assert_eq!(body["correlation_id"], correlation);
    assert_eq!(body["error_uri"], "http://127.0.0.1:8080/error?code=700016");
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.starts_with("AADSTS700016: Application with identifier 'nope'"));
    assert!(desc.contains(&format!("Correlation ID: {correlation}")));
    assert!(uuid::Uuid::parse_str(body["trace_id"].as_str().unwrap()).is_ok());
    let ts = body["timestamp"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%SZ").is_ok(), "{ts}");
}

#[tokio::test]
async fn identity_http_discovery() {
    let state = app_state(store(), identity());
    let req = Request::get(format!("/{TENANT}/v2.0/.well-known/openid-configuration"))
        .header("host", "127.0.0.1:8443")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(state.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(body["issuer"], format!("https://127.0.0.1:8443/{TENANT}/v2.0"));
    assert_eq!(body["jwks_uri"], format!("https://127.0.0.1:8443/{TENANT}/discovery/v2.0/keys"));

    let req = Request::get(format!("/{TENANT}/.well-known/openid-configuration"))
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(state.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["issuer"], format!("https://sts.windows.net/{TENANT}/"));

    let req = Request::get(format!("/{TENANT}/discovery/v2.0/keys"))
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(state.clone(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["keys"][0]["kid"], key_a().kid);
    assert_eq!(body["keys"][0]["issuer"], format!("http://127.0.0.1:8080/{TENANT}/v2.0"));

    let req = Request::get("/contoso.example/v2.0/.well-known/openid-configuration")
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(state.clone(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"], json!([90002]));

    let req = Request::get("/common/userrealm/megan@contoso.example?api-version=1.0")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(state, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["account_type"], "Managed");
    assert_eq!(body["domain_name"], "contoso.example");
}

#[tokio::test]
async fn identity_refuses_tokens_of_deleted_or_rotated_app_registrations_and_deleted_users() {
    let id = identity();
    let app_token = id.issue(&app_claims()).unwrap();
    let user_claims =
        AccessClaims::delegated(TENANT, &app(), &megan(), "AppCatalog.Read.All".into(), unix_now());
    let user_token = id.issue(&user_claims).unwrap();
    // Valid against the store as it is.
    assert!(id.authenticate(&store(), &bearer(&app_token)).await.is_ok());
    assert!(identity().authenticate(&store(), &bearer(&user_token)).await.is_ok());

    let deleted = MemStore { apps: vec![public_app()], ..store() };
    let rotated = MemStore {
        apps: vec![Application { client_secret: "rotated".into(), ..app() }, public_app()],
        ..store()
    };
    let user_gone = MemStore { users: vec![alex()], ..store() };
    for (what, s, token) in [
        ("deleted app registration", &deleted, &app_token),
        ("rotated secret", &rotated, &app_token),
        ("rotated secret, delegated", &rotated, &user_token),
        ("deleted user", &user_gone, &user_token),
    ] {
        // A fresh identity: nothing cached, as after a restart.
        let msg = unauthenticated_message(identity().authenticate(s, &bearer(token)).await);
        assert_eq!(msg, "Access token validation failure.", "{what}");
    }
}

#[test]
fn identity_retires_a_superseded_key_after_its_tokens_expired() {
    let now = chrono::Utc::now();
    let mut newer = key_b();
    let mut older = key_a();
    // Rotated just now: the previous key is still accepted until its tokens have expired.
    newer.created_at = now;
    older.created_at = now - chrono::Duration::days(30);
    let states = key_states(&[newer.clone(), older.clone()], now);
    let until = now + chrono::Duration::seconds(TOKEN_LIFETIME_SECS + KEY_RETIRE_GRACE_SECS);
    assert_eq!(states, vec![KeyState::Signing, KeyState::Retiring(until)]);
    let id = Identity::from_signing_keys(&[newer.clone(), older.clone()]).unwrap();
    assert_eq!(id.signing_kid(), newer.kid);
    assert_eq!(id.jwks()["keys"].as_array().unwrap().len(), 2);
    let token =
        Identity::from_signing_keys(&[older.clone()]).unwrap().issue(&app_claims()).unwrap();
    assert!(id.verify_for_test(&token));

    // Rotated longer ago than the token lifetime plus the grace: the previous key is gone.
    newer.created_at = now - chrono::Duration::seconds(TOKEN_LIFETIME_SECS + KEY_RETIRE_GRACE_SECS);
    let states = key_states(&[newer.clone(), older.clone()], now);
    assert_eq!(states, vec![KeyState::Signing, KeyState::Retired]);
    let id = Identity::from_signing_keys(&[newer.clone(), older]).unwrap();
    assert_eq!(id.signing_kid(), newer.kid);
    let jwks = id.jwks();
    let kids: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, vec![newer.kid.as_str()]);
    assert!(!id.verify_for_test(&token), "a token of the retired key is refused");
}
