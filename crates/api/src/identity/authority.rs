//! The token authority: signing keys (shared through the store, rotated, retired), access-token
//! claims, and verification of the tokens Graph requests carry (with a cache of tokens already
//! verified).

// The tests read this module's private parts and reach the endpoints through the parent.
#[cfg(test)]
#[path = "tests.rs"]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use teamsapps_core::model::{Application, SigningKey, User};
use teamsapps_core::principal::{Principal, PrincipalKind};
use teamsapps_core::{CoreError, CoreResult, Store};

/// `aud` of every access token this server issues.
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's well-known application id (also accepted as `aud` and as scope resource).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Lifetime of an access token, as the identity platform answers in `expires_in`.
pub const TOKEN_LIFETIME_SECS: i64 = 3599;
/// Directory role template id of Teams (Service) Administrator.
pub const TEAMS_ADMIN_ROLE_TEMPLATE: &str = "69091246-20e8-4a56-aa4d-066075b2a7a8";
/// Directory role template id of Global Administrator.
pub const GLOBAL_ADMIN_ROLE_TEMPLATE: &str = "62e90394-69f5-4237-9190-012177145e10";

const KEY_BITS: usize = 2048;
const CACHE_CAPACITY: usize = 10_000;
/// How often one unknown `kid` may trigger a re-read of the keys.
const UNKNOWN_KID_RETRY: Duration = Duration::from_secs(1);
/// At most this many re-reads for unknown `kid`s per second (garbage tokens cannot flood the
/// database).
const UNKNOWN_KID_READS_PER_SEC: u32 = 20;
/// A node may keep signing with a predecessor key for up to its refresh interval after the
/// successor was added (and clocks differ): the predecessor stays valid this much longer than
/// the token lifetime. Refresh intervals are capped below it.
pub const KEY_RETIRE_GRACE_SECS: i64 = 300;

const MSG_EMPTY: &str = "Access token is empty.";
const MSG_INVALID: &str = "Access token validation failure.";
const MSG_LIFETIME: &str = "Access token has expired or is not yet valid.";
const MSG_TENANT: &str = "Access token validation failure. Invalid tenant.";

/// The payload of an access token (v1.0 shape, as Graph receives it from the identity platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_displayname: Option<String>,
    pub appid: String,
    /// `1`: the client authenticated with a secret; `0`: public client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appidacr: Option<String>,
    pub azp: String,
    /// `app` or `user`.
    pub idtyp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub oid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Space-separated delegated permissions (delegated tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    pub sub: String,
    pub tid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub uti: String,
    pub ver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wids: Vec<String>,
    /// Fingerprint of the client credential the token was issued for: a token outlives neither
    /// its app registration nor a rotation of that app's secret (ours, not Entra's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_cfp: Option<String>,
}

/// A short, one-way fingerprint of an app registration's current secret.
pub fn credential_fingerprint(app: &Application) -> String {
    use base64::Engine;
    let digest =
        Sha256::digest(format!("{}\n{}\n{}", app.tenant_id, app.app_id, app.client_secret));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
}

impl AccessClaims {
    /// An app-only token for `app`: `roles` = its application permissions.
    pub fn application(tenant_id: &str, app: &Application, now: i64) -> AccessClaims {
        let sp = service_principal_id(tenant_id, &app.app_id);
        AccessClaims {
            aud: GRAPH_AUDIENCE.to_string(),
            iss: token_issuer(tenant_id),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECS,
            app_displayname: non_empty(&app.display_name),
            appid: app.app_id.clone(),
            appidacr: Some("1".to_string()),
            azp: app.app_id.clone(),
            idtyp: "app".to_string(),
            name: None,
            oid: sp.clone(),
            roles: app.application_permissions.clone(),
            scp: None,
            sub: sp,
            tid: tenant_id.to_string(),
            unique_name: None,
            upn: None,
            uti: random_uti(),
            ver: "1.0".to_string(),
            wids: Vec::new(),
            xms_cfp: Some(credential_fingerprint(app)),
        }
    }

    /// A delegated token: `user` signed in to `app`, holding `scp` (space-separated).
    pub fn delegated(
        tenant_id: &str,
        app: &Application,
        user: &User,
        scp: String,
        now: i64,
    ) -> AccessClaims {
        let mut wids: Vec<String> = Vec::new();
        for id in user.roles.iter().filter_map(|r| role_template_id(r)) {
            if !wids.iter().any(|w| w == id) {
                wids.push(id.to_string());
            }
        }
        AccessClaims {
            aud: GRAPH_AUDIENCE.to_string(),
            iss: token_issuer(tenant_id),
            iat: now,
            nbf: now,
            exp: now + TOKEN_LIFETIME_SECS,
            app_displayname: non_empty(&app.display_name),
            appid: app.app_id.clone(),
            appidacr: Some(if app.client_secret.is_empty() { "0" } else { "1" }.to_string()),
            azp: app.app_id.clone(),
            idtyp: "user".to_string(),
            name: non_empty(&user.display_name),
            oid: user.id.clone(),
            roles: Vec::new(),
            scp: Some(scp),
            sub: pairwise_subject(tenant_id, &app.app_id, &user.id),
            tid: tenant_id.to_string(),
            unique_name: Some(user.user_principal_name.clone()),
            upn: Some(user.user_principal_name.clone()),
            uti: random_uti(),
            ver: "1.0".to_string(),
            wids,
            xms_cfp: Some(credential_fingerprint(app)),
        }
    }
}

/// `iss` of access tokens for a tenant (v1.0 tokens, as Graph gets them).
pub fn token_issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}

/// The directory role template id for a role name of the fixture (`TeamsServiceAdministrator`,
/// `Teams Administrator`, `GlobalAdministrator`, …; case and spaces ignored), or the id itself.
pub fn role_template_id(role: &str) -> Option<&'static str> {
    let key: String =
        role.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    match key.as_str() {
        "teamsserviceadministrator" | "teamsadministrator" | TEAMS_ADMIN_ROLE_TEMPLATE => {
            Some(TEAMS_ADMIN_ROLE_TEMPLATE)
        }
        "globaladministrator" | "companyadministrator" | GLOBAL_ADMIN_ROLE_TEMPLATE => {
            Some(GLOBAL_ADMIN_ROLE_TEMPLATE)
        }
        _ => None,
    }
}

/// A stable GUID for the service principal of `app_id` in `tenant_id` (the `oid` of its app-only
/// tokens): derived from SHA-256, shaped as an RFC 9562 version 8 (custom) UUID.
pub fn service_principal_id(tenant_id: &str, app_id: &str) -> String {
    let digest = Sha256::digest(
        format!(
            "teamsapps:servicePrincipal:{}:{}",
            tenant_id.to_ascii_lowercase(),
            app_id.to_ascii_lowercase()
        )
        .as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

/// `sub` of delegated tokens: pairwise per app and user, 43 base64url characters like Entra's.
pub(super) fn pairwise_subject(tenant_id: &str, app_id: &str, user_id: &str) -> String {
    let digest = Sha256::digest(
        format!(
            "teamsapps:sub:{}:{}:{}",
            tenant_id.to_ascii_lowercase(),
            app_id.to_ascii_lowercase(),
            user_id.to_ascii_lowercase()
        )
        .as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(digest)
}

pub(super) fn random_uti() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub(super) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Locks a mutex, going on with the data when another thread panicked while holding it
/// (the protected data here is a cache or a timestamp: always safe to reuse).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// --- keys ---------------------------------------------------------------------------------

/// Generates a new 2048-bit RSA signing key (PKCS#8 PEM). Slow (CPU-bound): call it off the
/// async executor, e.g. in `spawn_blocking`.
pub fn generate_signing_key() -> anyhow::Result<SigningKey> {
    let private = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)
        .context("generating the RSA signing key")?;
    let pem = private.to_pkcs8_pem(LineEnding::LF).context("encoding the signing key")?;
    Ok(SigningKey {
        kid: key_id(&private.to_public_key())?,
        private_pem: pem.to_string(),
        created_at: chrono::Utc::now(),
    })
}

/// `kid`: base64url of the first 16 bytes of SHA-256 of the DER (SubjectPublicKeyInfo) public key.
fn key_id(public: &RsaPublicKey) -> anyhow::Result<String> {
    let der = public.to_public_key_der().context("encoding the public key")?;
    let digest = Sha256::digest(der.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// When `key`, whose successor (the next newer key) is `successor`, stops being published and
/// accepted: once every token it may have signed has expired.
pub fn key_retires_at(successor: &SigningKey) -> chrono::DateTime<chrono::Utc> {
    successor.created_at + chrono::Duration::seconds(TOKEN_LIFETIME_SECS + KEY_RETIRE_GRACE_SECS)
}

/// The state of each key of `keys` (newest first, the store's order) at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (the newest key).
    Signing,
    /// Superseded, still published and accepted until the given time.
    Retiring(chrono::DateTime<chrono::Utc>),
    /// Superseded and past its tokens' lifetime: neither published nor accepted.
    Retired,
}

/// The state of every key of `keys` (newest first) at `now`.
pub fn key_states(keys: &[SigningKey], now: chrono::DateTime<chrono::Utc>) -> Vec<KeyState> {
    keys.iter()
        .enumerate()
        .map(|(i, _)| match i {
            0 => KeyState::Signing,
            _ => {
                let until = key_retires_at(&keys[i - 1]);
                if now >= until {
                    KeyState::Retired
                } else {
                    KeyState::Retiring(until)
                }
            }
        })
        .collect()
}

struct Signer {
    kid: String,
    key: EncodingKey,
}

struct Verifier {
    kid: String,
    /// base64url modulus and exponent, as published in the JWKS.
    n: String,
    e: String,
    key: DecodingKey,
}

/// The keys of the store: the newest signs, all verify.
struct KeyRing {
    signer: Signer,
    verifiers: Vec<Verifier>,
}

impl KeyRing {
    /// `keys` newest first (the store's order); retired keys are left out.
    fn from_keys(keys: &[SigningKey]) -> anyhow::Result<KeyRing> {
        let mut signer = None;
        let mut verifiers = Vec::with_capacity(keys.len());
        let states = key_states(keys, chrono::Utc::now());
        for (stored, state) in keys.iter().zip(states) {
            if state == KeyState::Retired {
                continue;
            }
            let private = RsaPrivateKey::from_pkcs8_pem(&stored.private_pem)
                .with_context(|| format!("signing key {} is not a PKCS#8 RSA key", stored.kid))?;
            let public = private.to_public_key();
            let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
            let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
            let key = DecodingKey::from_rsa_components(&n, &e)
                .with_context(|| format!("signing key {}", stored.kid))?;
            if signer.is_none() {
                let der = private.to_pkcs1_der().context("encoding the signing key")?;
                signer = Some(Signer {
                    kid: stored.kid.clone(),
                    key: EncodingKey::from_rsa_der(der.as_bytes()),
                });
            }
            verifiers.push(Verifier { kid: stored.kid.clone(), n, e, key });
        }
        let signer = signer.context("no signing key")?;
        Ok(KeyRing { signer, verifiers })
    }

    fn verifier(&self, kid: &str) -> Option<&Verifier> {
        self.verifiers.iter().find(|v| v.kid == kid)
    }
}

// --- verification cache -------------------------------------------------------------------

struct CachedToken {
    principal: Principal,
    exp: i64,
    /// When the directory checks (tenant, app registration and its credential, user) passed.
    checked: i64,
}

/// How long a verified token is trusted without re-checking the directory. The directory only
/// changes through a fixture, a reset or a restore: this node forgets its cache on its own
/// reset/restore, and other nodes sharing the store notice within this bound.
const DIRECTORY_RECHECK_SECS: i64 = 5;

enum CacheLookup {
    Miss,
    Hit(Principal),
    Expired,
}

/// Tokens already verified, keyed by SHA-256 of the token text. Bounded: when full, expired
/// entries go first, then half of the rest.
struct TokenCache {
    entries: HashMap<[u8; 32], CachedToken>,
    capacity: usize,
}

impl TokenCache {
    fn new(capacity: usize) -> TokenCache {
        TokenCache { entries: HashMap::new(), capacity: capacity.max(2) }
    }

    fn lookup(&mut self, key: &[u8; 32], now: i64) -> CacheLookup {
        match self.entries.get(key) {
            None => CacheLookup::Miss,
            Some(entry) if now >= entry.exp => {
                self.entries.remove(key);
                CacheLookup::Expired
            }
            Some(entry) if now - entry.checked >= DIRECTORY_RECHECK_SECS => {
                self.entries.remove(key);
                CacheLookup::Miss
            }
            Some(entry) => CacheLookup::Hit(entry.principal.clone()),
        }
    }

    fn insert(&mut self, key: [u8; 32], principal: Principal, exp: i64, now: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.exp > now);
            if self.entries.len() >= self.capacity {
                let drop = self.entries.len() / 2;
                let mut seen = 0usize;
                self.entries.retain(|_, _| {
                    seen += 1;
                    seen > drop
                });
            }
        }
        self.entries.insert(key, CachedToken { principal, exp, checked: now });
    }
}

// --- Identity -----------------------------------------------------------------------------

/// Signing keys (the newest signs; all of the store's keys verify and are published in the
/// JWKS) and the cache of verified tokens. One per application state; no globals.
pub struct Identity {
    ring: RwLock<Arc<KeyRing>>,
    /// Unknown kids recently looked up in vain, and the re-reads of this second.
    misses: Mutex<KidMisses>,
    /// Serialises re-reads, so that an older read never replaces a newer ring.
    reload: tokio::sync::Mutex<()>,
    cache: Mutex<TokenCache>,
}

#[derive(Default)]
struct KidMisses {
    kids: HashMap<String, Instant>,
    window: Option<Instant>,
    reads: u32,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.ring();
        f.debug_struct("Identity")
            .field("signing_kid", &ring.signer.kid)
            .field("kids", &ring.verifiers.iter().map(|v| v.kid.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the signing keys from the store; generates a 2048-bit RSA key (PKCS#8 PEM) and
    /// stores it when there is none.
    pub async fn load_or_create(store: &dyn Store) -> anyhow::Result<Identity> {
        let mut keys = store.signing_keys().await.context("reading the signing keys")?;
        if keys.is_empty() {
            let key = tokio::task::spawn_blocking(generate_signing_key)
                .await
                .context("key generation task")??;
            store.add_signing_key(&key).await.context("storing the signing key")?;
            tracing::info!(kid = %key.kid, "generated a token signing key");
            // Re-read: another node sharing the store may have raced us; then the newest signs.
            keys = store.signing_keys().await.context("reading the signing keys")?;
            if keys.is_empty() {
                keys = vec![key];
            }
        }
        Identity::from_signing_keys(&keys)
    }

    /// An identity over the given keys (newest first: the first one signs). For tests and tools
    /// that hold keys without a store.
    pub fn from_signing_keys(keys: &[SigningKey]) -> anyhow::Result<Identity> {
        Ok(Identity {
            ring: RwLock::new(Arc::new(KeyRing::from_keys(keys)?)),
            misses: Mutex::new(KidMisses::default()),
            reload: tokio::sync::Mutex::new(()),
            cache: Mutex::new(TokenCache::new(CACHE_CAPACITY)),
        })
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `kid` new tokens are signed with.
    pub fn signing_kid(&self) -> String {
        self.ring().signer.kid.clone()
    }

    /// Issues an access token: RS256, header `{"typ":"JWT","alg":"RS256","kid":…}`.
    pub fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        self.sign(claims)
    }

    /// Signs any JSON payload with the current key (id tokens use this too).
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let ring = self.ring();
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_string());
        header.kid = Some(ring.signer.kid.clone());
        jsonwebtoken::encode(&header, claims, &ring.signer.key).context("signing a token")
    }

    /// The JWKS, every key carrying the multi-tenant issuer template as Microsoft's common
    /// endpoint does.
    pub fn jwks(&self) -> Value {
        self.jwks_with_issuer("https://login.microsoftonline.com/{tenantid}/v2.0")
    }

    /// The JWKS with `issuer` on every key (the tenant's endpoint puts its own issuer there).
    pub fn jwks_with_issuer(&self, issuer: &str) -> Value {
        let ring = self.ring();
        let keys: Vec<Value> = ring
            .verifiers
            .iter()
            .map(|v| {
                json!({
                    "kty": "RSA",
                    "use": "sig",
                    "kid": v.kid,
                    "x5t": v.kid,
                    "n": v.n,
                    "e": v.e,
                    "issuer": issuer,
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Verifies `Authorization: Bearer <jwt>` for a Graph request and returns who calls.
    /// Every refusal is `CoreError::Unauthenticated` with one of Graph's terse messages.
    pub async fn authenticate(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
    ) -> CoreResult<Principal> {
        self.authenticate_at(store, headers, unix_now()).await
    }

    async fn authenticate_at(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
        now: i64,
    ) -> CoreResult<Principal> {
        let token = bearer_token(headers)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match lock(&self.cache).lookup(&key, now) {
            CacheLookup::Hit(principal) => return Ok(principal),
            CacheLookup::Expired => return Err(unauthenticated(MSG_LIFETIME)),
            CacheLookup::Miss => {}
        }
        let (principal, exp, fingerprint) = self.verify(store, token, now).await?;
        if store.tenant(&principal.tenant_id).await?.is_none() {
            return Err(unauthenticated(MSG_TENANT));
        }
        // The app registration must still exist with the credential the token was issued for,
        // and a delegated token's user must still exist.
        let app = store.application(&principal.tenant_id, &principal.app_id).await?;
        let current = app.as_ref().map(credential_fingerprint);
        if current.is_none() || current != fingerprint {
            return Err(invalid());
        }
        if let Some(user_id) = principal.user_id() {
            if store.user(&principal.tenant_id, user_id).await?.is_none() {
                return Err(invalid());
            }
        }
        lock(&self.cache).insert(key, principal.clone(), exp, now);
        Ok(principal)
    }

    /// Signature and claims; returns the principal and `exp`.
    async fn verify(
        &self,
        store: &dyn Store,
        token: &str,
        now: i64,
    ) -> CoreResult<(Principal, i64, Option<String>)> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::RS256 || has_extensions(token) {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let mut ring = self.ring();
        if ring.verifier(&kid).is_none() {
            if !self.refresh_for_kid(store, &kid).await {
                return Err(invalid());
            }
            ring = self.ring();
        }
        let verifier = ring.verifier(&kid).ok_or_else(invalid)?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &verifier.key, &validation)
            .map_err(|_| invalid())?;
        let fingerprint = data.claims.get("xms_cfp").and_then(Value::as_str).map(str::to_string);
        let (principal, exp) = principal_from_claims(&data.claims, now)?;
        Ok((principal, exp, fingerprint))
    }

    /// Re-reads the keys because a token names `kid`, which this node does not know (another
    /// node created or rotated a key). Each kid at most once per `UNKNOWN_KID_RETRY`, and at
    /// most `UNKNOWN_KID_READS_PER_SEC` reads a second; true when the ring now knows `kid`.
    async fn refresh_for_kid(&self, store: &dyn Store, kid: &str) -> bool {
        {
            let mut misses = lock(&self.misses);
            let now = Instant::now();
            if misses.kids.get(kid).is_some_and(|t| now.duration_since(*t) < UNKNOWN_KID_RETRY) {
                return false;
            }
            if misses.window.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1)) {
                misses.window = Some(now);
                misses.reads = 0;
            }
            if misses.reads >= UNKNOWN_KID_READS_PER_SEC {
                return false;
            }
            misses.reads += 1;
        }
        if let Err(e) = self.reload_keys(store).await {
            tracing::warn!(error = %format!("{e:#}"), "re-reading the signing keys failed");
            return false;
        }
        let known = self.ring().verifier(kid).is_some();
        if !known {
            let mut misses = lock(&self.misses);
            if misses.kids.len() >= 1024 {
                misses.kids.clear();
            }
            misses.kids.insert(kid.to_string(), Instant::now());
        }
        known
    }

    /// Re-reads the keys from the store and replaces the ring: the newest key signs, retired
    /// keys are dropped. Returns the signing kid when it changed.
    pub async fn reload_keys(&self, store: &dyn Store) -> anyhow::Result<Option<String>> {
        let _serial = self.reload.lock().await;
        let keys = store.signing_keys().await.context("reading the signing keys")?;
        if keys.is_empty() {
            anyhow::bail!("the store holds no signing key");
        }
        let ring = KeyRing::from_keys(&keys).context("the stored signing keys are unusable")?;
        let mut slot = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let changed = (slot.signer.kid != ring.signer.kid).then(|| ring.signer.kid.clone());
        *slot = Arc::new(ring);
        Ok(changed)
    }

    /// Re-reads the keys every `every` until the returned task is aborted (or the runtime
    /// stops): a key rotated by `teamsapps keys rotate` or created by another node signs on
    /// this node within `every`, and retired keys leave the JWKS.
    pub fn spawn_key_refresh(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                match self.reload_keys(store.as_ref()).await {
                    Ok(Some(kid)) => tracing::info!(%kid, "now signing with a new key"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "key refresh failed"),
                }
            }
        })
    }

    /// Whether the ring accepts the signature of `token` (no claims checked, no re-read).
    #[cfg(test)]
    fn verify_for_test(&self, token: &str) -> bool {
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return false;
        };
        let ring = self.ring();
        let Some(verifier) = ring.verifier(&kid) else { return false };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Map<String, Value>>(token, &verifier.key, &validation).is_ok()
    }

    /// Forgets every verified token, so the next request of each is checked against the
    /// directory again (after a reset or restore changed it).
    pub fn forget_verified_tokens(&self) {
        lock(&self.cache).entries.clear();
    }

    #[cfg(test)]
    fn cached_tokens(&self) -> usize {
        lock(&self.cache).entries.len()
    }
}

fn unauthenticated(msg: &str) -> CoreError {
    CoreError::Unauthenticated(msg.to_string())
}

fn invalid() -> CoreError {
    unauthenticated(MSG_INVALID)
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> CoreResult<&str> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(unauthenticated(MSG_EMPTY));
    };
    let value = value.to_str().map_err(|_| invalid())?.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("bearer") {
        return Err(unauthenticated(MSG_EMPTY));
    }
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => {
            let token = value[7..].trim();
            if token.is_empty() {
                Err(unauthenticated(MSG_EMPTY))
            } else {
                Ok(token)
            }
        }
        _ => Err(invalid()),
    }
}

fn audience_accepted(aud: &str) -> bool {
    aud == GRAPH_AUDIENCE || aud == "https://graph.microsoft.com/" || aud == GRAPH_APP_ID
}

/// The latest NumericDate accepted (9999-12-31T23:59:59Z): `exp: 1e300` is not "never".
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

fn numeric_date(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    let n = v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(f))
            .map(|f| f.floor() as i64)
    })?;
    (0..=MAX_NUMERIC_DATE).contains(&n).then_some(n)
}

/// Whether the JOSE header asks for extensions this verifier does not implement: RFC 7515
/// 4.1.11 says a token with `crit` it does not understand must be refused, and `b64`
/// (RFC 7797) changes what the signature covers. Graph's tokens carry neither.
fn has_extensions(token: &str) -> bool {
    use base64::Engine;
    let Some(part) = token.split('.').next() else { return true };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part) else {
        return true;
    };
    match serde_json::from_slice::<Map<String, Value>>(&bytes) {
        Ok(header) => header.contains_key("crit") || header.contains_key("b64"),
        Err(_) => true,
    }
}

fn non_empty_str<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Checks the claims of a token whose signature is good and builds the principal.
fn principal_from_claims(claims: &Map<String, Value>, now: i64) -> CoreResult<(Principal, i64)> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audience_accepted(a),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(audience_accepted),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid());
    }
    let tid = non_empty_str(claims, "tid").ok_or_else(invalid)?;
    if non_empty_str(claims, "iss") != Some(token_issuer(tid).as_str()) {
        return Err(invalid());
    }
    let exp = numeric_date(claims.get("exp")).ok_or_else(invalid)?;
    let nbf = match claims.get("nbf") {
        None => None,
        Some(v) => Some(numeric_date(Some(v)).ok_or_else(invalid)?),
    };
    if now >= exp || nbf.is_some_and(|nbf| nbf > now) {
        return Err(unauthenticated(MSG_LIFETIME));
    }
    let app_id = non_empty_str(claims, "appid")
        .or_else(|| non_empty_str(claims, "azp"))
        .ok_or_else(invalid)?;
    let scp = match claims.get("scp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(invalid()),
    };
    let delegated = claims.get("idtyp").and_then(Value::as_str) == Some("user") || scp.is_some();
    let (kind, permissions) = if delegated {
        let user_id = non_empty_str(claims, "oid").ok_or_else(invalid)?;
        let permissions = scp.unwrap_or("").split_whitespace().map(str::to_string).collect();
        (PrincipalKind::Delegated { user_id: user_id.to_string() }, permissions)
    } else {
        let roles = match claims.get("roles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|r| r.as_str().map(str::to_string).ok_or_else(invalid))
                .collect::<CoreResult<Vec<_>>>()?,
            Some(_) => return Err(invalid()),
        };
        (PrincipalKind::Application, roles)
    };
    let is_admin = match claims.get("wids") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(|w| {
            w.eq_ignore_ascii_case(TEAMS_ADMIN_ROLE_TEMPLATE)
                || w.eq_ignore_ascii_case(GLOBAL_ADMIN_ROLE_TEMPLATE)
        }),
        _ => false,
    };
    let principal = Principal {
        tenant_id: tid.to_string(),
        app_id: app_id.to_string(),
        kind,
        permissions,
        is_admin,
        personal_account: tid.eq_ignore_ascii_case(teamsapps_core::principal::CONSUMER_TENANT),
    };
    Ok((principal, exp))
}

/// What the identity endpoints need: the authority and the store (tenants, apps, users).
#[derive(Clone)]
pub struct Endpoints {
    pub identity: Arc<Identity>,
    pub store: Arc<dyn Store>,
}
