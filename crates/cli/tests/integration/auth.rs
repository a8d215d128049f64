//! Identity and authorization over real HTTP: the token endpoint (success and AADSTS error
//! shapes, the claims of the JWTs it issues), discovery documents, Graph's 401 for every kind of
//! bad bearer token, tenant isolation, and the permission table (spec 5.7 step 2) for every
//! Graph operation, checked against the spec's tables written out here independently of
//! `crates/core/src/permissions.rs`.

use crate::common::*;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

// --- helpers ----------------------------------------------------------------------------------

/// The three dot-separated parts of a JWT, header and payload decoded.
fn jwt_parts(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("header b64"))
        .expect("header json");
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload b64"))
        .expect("payload json");
    (header, payload, parts[2].to_string())
}

fn b64url_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// SHA-256 (FIPS 180-4), small and local: the test crate has no hash dependency and must not
/// add one. Checked against the standard test vectors before use.
fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (slot, word) in w.iter_mut().zip(block.chunks(4)) {
            *slot = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut a = h;
        for (k, wi) in K.iter().zip(w.iter()) {
            let s1 = a[4].rotate_right(6) ^ a[4].rotate_right(11) ^ a[4].rotate_right(25);
            let ch = (a[4] & a[5]) ^ (!a[4] & a[6]);
            let t1 = a[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(*k).wrapping_add(*wi);
            let s0 = a[0].rotate_right(2) ^ a[0].rotate_right(13) ^ a[0].rotate_right(22);
            let maj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
            let t2 = s0.wrapping_add(maj);
            a = [t1.wrapping_add(t2), a[0], a[1], a[2], a[3].wrapping_add(t1), a[4], a[5], a[6]];
        }
        for (hv, av) in h.iter_mut().zip(a) {
            *hv = hv.wrapping_add(av);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, v) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let inner_hash = sha256(&inner);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&inner_hash);
    sha256(&outer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else if len < 0x100 {
        vec![0x81, len as u8]
    } else {
        vec![0x82, (len >> 8) as u8, len as u8]
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(bytes);
    der(0x02, &content)
}

/// The SubjectPublicKeyInfo DER and PEM of an RSA key given as JWKS `n` and `e`: what an
/// attacker would feed an HS256 "key confusion" forgery.
fn public_key_der_and_pem(n: &[u8], e: &[u8]) -> (Vec<u8>, String) {
    let rsa_key = der(0x30, &[der_uint(n), der_uint(e)].concat());
    let mut bit_string = vec![0u8];
    bit_string.extend(rsa_key);
    let alg = der(
        0x30,
        &[der(0x06, &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]), vec![0x05, 0x00]]
            .concat(),
    );
    let spki = der(0x30, &[alg, der(0x03, &bit_string)].concat());
    let b64 = STANDARD.encode(&spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    (spki, pem)
}

fn assert_aad_error(
    status: reqwest::StatusCode,
    body: &Value,
    want_status: u16,
    error: &str,
    code: u32,
) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(
        desc.starts_with(&format!("AADSTS{code}:")),
        "description {desc:?} should start with AADSTS{code}"
    );
    let codes = body["error_codes"].as_array().unwrap_or_else(|| panic!("error_codes: {body}"));
    assert!(codes.iter().any(|c| c.as_u64() == Some(code as u64)), "{body}");
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].as_str().is_some_and(|s| !s.is_empty()), "{key} missing: {body}");
    }
    for key in ["trace_id", "correlation_id"] {
        let v = body[key].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(v).is_ok(), "{key} is a GUID: {body}");
    }
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        v.as_array().unwrap_or(&vec![]).iter().map(|s| s.as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

async fn jwks(s: &Server, tenant: &str) -> Value {
    let res = s.client.get(s.url(&format!("/{tenant}/discovery/v2.0/keys"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

// --- token endpoint ---------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_token_has_the_identity_platform_shape_and_graph_claims() {
    let s = Server::start().await;
    let before = unix_now();
    let (status, body) = s
        .token_raw(
            TENANT,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ROLLOUT.0),
                ("client_secret", ROLLOUT.1),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 3599, "{body}");
    assert!(body["ext_expires_in"].is_i64(), "{body}");
    let token = body["access_token"].as_str().expect("access_token");

    let (header, claims, signature) = jwt_parts(token);
    assert_eq!(header["alg"], "RS256", "{header}");
    assert!(!signature.is_empty());
    let kid = header["kid"].as_str().expect("kid in the header");
    let keys = jwks(&s, TENANT).await;
    assert!(
        keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid),
        "kid {kid} not in the JWKS {keys}"
    );

    assert_eq!(claims["aud"], "https://graph.microsoft.com", "{claims}");
    // Graph receives v1.0 access tokens: issuer https://sts.windows.net/{tenant}/.
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{TENANT}/"), "{claims}");
    assert_eq!(claims["tid"], TENANT, "{claims}");
    assert_eq!(claims["appid"], ROLLOUT.0, "{claims}");
    assert_eq!(claims["azp"], ROLLOUT.0, "{claims}");
    assert_eq!(claims["idtyp"], "app", "{claims}");
    assert!(claims.get("scp").is_none(), "app tokens carry no scp: {claims}");
    let mut want_roles = vec![
        "AppCatalog.Read.All",
        "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
        "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
        "TeamsAppInstallation.ReadWriteAndConsentForTeam.All",
    ];
    want_roles.sort();
    assert_eq!(sorted(&claims["roles"]), want_roles, "{claims}");
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["nbf"].as_i64().expect("nbf"),
        claims["exp"].as_i64().expect("exp"),
    );
    let after = unix_now();
    assert!(iat >= before - 5 && iat <= after + 5, "iat {iat} not now ({before}..{after})");
    assert!(nbf <= iat, "nbf {nbf} after iat {iat}");
    assert!((exp - iat - 3599).abs() <= 5, "exp {exp} should be iat {iat} + expires_in 3599");
    assert!(claims["oid"].as_str().is_some_and(|o| uuid::Uuid::parse_str(o).is_ok()), "{claims}");

    // The token works on Graph.
    let r = s.graph(token).list_teams_apps("").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A second app's token carries that app's own roles.
    let reader = s.app_token(READER).await;
    let (_, c, _) = jwt_parts(&reader);
    let mut want = vec![
        "AppCatalog.Read.All",
        "TeamsAppInstallation.ReadForUser.All",
        "TeamsAppInstallation.ReadForChat.All",
        "TeamsAppInstallation.ReadForTeam.All",
    ];
    want.sort();
    assert_eq!(sorted(&c["roles"]), want);
    assert_eq!(c["appid"], READER.0);
}

#[tokio::test]
async fn password_grant_gives_a_delegated_token_for_the_signed_in_user() {
    let s = Server::start().await;
    let (status, body) = s
        .token_raw(
            TENANT,
            &[
                ("grant_type", "password"),
                ("client_id", ROLLOUT.0),
                ("client_secret", ROLLOUT.1),
                ("username", "megan@contoso.example"),
                ("password", "megan-pw"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let (header, claims, _) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["idtyp"], "user", "{claims}");
    assert_eq!(claims["oid"], MEGAN, "{claims}");
    assert_eq!(claims["tid"], TENANT, "{claims}");
    assert_eq!(claims["aud"], "https://graph.microsoft.com", "{claims}");
    assert_eq!(claims["appid"], ROLLOUT.0, "{claims}");
    assert_eq!(claims["azp"], ROLLOUT.0, "{claims}");
    let mut scp: Vec<&str> = claims["scp"].as_str().expect("scp").split(' ').collect();
    scp.sort();
    let mut want = vec![
        "AppCatalog.ReadWrite.All",
        "TeamsAppInstallation.ReadWriteForUser",
        "TeamsAppInstallation.ReadWriteAndConsentForChat",
        "TeamsAppInstallation.ReadWriteAndConsentForTeam",
    ];
    want.sort();
    assert_eq!(scp, want, "{claims}");
    assert!(claims.get("roles").is_none_or(|r| r.as_array().is_some_and(|a| a.is_empty())));

    // Lee signed in to the app without Teams permissions: scp is just User.Read.
    let lee = s.user_token(NOPERM, "lee@contoso.example", "lee-pw").await;
    let (_, c, _) = jwt_parts(&lee);
    assert_eq!(c["scp"], "User.Read", "{c}");
    assert_eq!(c["oid"], LEE);
    assert_eq!(c["idtyp"], "user");
}

#[tokio::test]
async fn token_errors_carry_aadsts_codes_in_the_identity_platform_shape() {
    let s = Server::start().await;
    let scope = ("scope", "https://graph.microsoft.com/.default");
    let cc = ("grant_type", "client_credentials");
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u32);
    let unknown_client = "99999999-9999-4999-8999-999999999999";
    let unknown_tenant = "00000000-dead-4bad-8bad-000000000000";
    let cases: Vec<Case> = vec![
        (
            "wrong client secret",
            TENANT,
            vec![cc, ("client_id", ROLLOUT.0), ("client_secret", "nope"), scope],
            401,
            "invalid_client",
            7000215,
        ),
        (
            "unknown client",
            TENANT,
            vec![cc, ("client_id", unknown_client), ("client_secret", "x"), scope],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "client of another tenant",
            TENANT,
            vec![cc, ("client_id", FAB.0), ("client_secret", FAB.1), scope],
            400,
            "unauthorized_client",
            700016,
        ),
        (
            "wrong password",
            TENANT,
            vec![
                ("grant_type", "password"),
                ("client_id", ROLLOUT.0),
                ("client_secret", ROLLOUT.1),
                ("username", "megan@contoso.example"),
                ("password", "wrong"),
                scope,
            ],
            400,
            "invalid_grant",
            50126,
        ),
        (
            "unknown user",
            TENANT,
            vec![
                ("grant_type", "password"),
                ("client_id", ROLLOUT.0),
                ("client_secret", ROLLOUT.1),
                ("username", "nobody@contoso.example"),
                ("password", "megan-pw"),
                scope,
            ],
            400,
            "invalid_grant",
            50034,
        ),
        (
            "unknown tenant",
            unknown_tenant,
            vec![cc, ("client_id", ROLLOUT.0), ("client_secret", ROLLOUT.1), scope],
            400,
            "invalid_request",
            90002,
        ),
        (
            "missing grant_type",
            TENANT,
            vec![("client_id", ROLLOUT.0), ("client_secret", ROLLOUT.1), scope],
            400,
            "invalid_request",
            900144,
        ),
        (
            "missing client_id",
            TENANT,
            vec![cc, ("client_secret", ROLLOUT.1), scope],
            400,
            "invalid_request",
            900144,
        ),
        (
            "missing scope",
            TENANT,
            vec![cc, ("client_id", ROLLOUT.0), ("client_secret", ROLLOUT.1)],
            400,
            "invalid_request",
            900144,
        ),
        (
            "missing password",
            TENANT,
            vec![
                ("grant_type", "password"),
                ("client_id", ROLLOUT.0),
                ("username", "megan@contoso.example"),
                scope,
            ],
            400,
            "invalid_request",
            900144,
        ),
        (
            "unsupported grant_type",
            TENANT,
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", ROLLOUT.0),
                scope,
            ],
            400,
            "unsupported_grant_type",
            70003,
        ),
    ];
    for (what, tenant, form, status, error, code) in &cases {
        let (got_status, body) = s.token_raw(tenant, form).await;
        eprintln!("{what}: {got_status} {body}");
        assert_aad_error(got_status, &body, *status, error, *code);
    }

    // The correlation id echoes a GUID client-request-id.
    let crid = "0b5e2f60-1a2b-4c3d-8e9f-123456789abc";
    let res = s
        .client
        .post(s.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .header("client-request-id", crid)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ROLLOUT.0),
            ("client_secret", "bad"),
            scope,
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["correlation_id"], crid, "{body}");
    assert!(body["error_description"].as_str().unwrap().contains(crid), "{body}");

    // A token request that is not a form has no parameters (AADSTS900144), never a 5xx.
    let res = s
        .client
        .post(s.url(&format!("/{TENANT}/oauth2/v2.0/token")))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_aad_error(status, &body, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn discovery_documents_point_at_this_server_and_publish_the_signing_keys() {
    let s = Server::start().await;
    let res = s
        .client
        .get(s.url(&format!("/{TENANT}/v2.0/.well-known/openid-configuration")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    let issuer = doc["issuer"].as_str().expect("issuer");
    assert!(issuer.contains(TENANT), "{doc}");
    assert_eq!(doc["token_endpoint"], s.url(&format!("/{TENANT}/oauth2/v2.0/token")), "{doc}");
    assert_eq!(doc["jwks_uri"], s.url(&format!("/{TENANT}/discovery/v2.0/keys")), "{doc}");
    let authz = doc["authorization_endpoint"].as_str().expect("authorization_endpoint");
    assert!(authz.starts_with(&s.base), "{doc}");

    // The advertised token endpoint issues tokens.
    let token_url = doc["token_endpoint"].as_str().unwrap();
    let res = s
        .client
        .post(token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", READER.0),
            ("client_secret", READER.1),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token: Value = res.json().await.unwrap();
    let (header, _, _) = jwt_parts(token["access_token"].as_str().unwrap());

    // The advertised JWKS holds RSA keys, among them the one that signed the token.
    let res = s.client.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let keys: Value = res.json().await.unwrap();
    let list = keys["keys"].as_array().expect("keys");
    assert!(!list.is_empty());
    for k in list {
        assert_eq!(k["kty"], "RSA", "{k}");
        for field in ["kid", "n", "e"] {
            let v = k[field].as_str().unwrap_or_else(|| panic!("{field} missing: {k}"));
            assert!(!v.is_empty());
            if field != "kid" {
                URL_SAFE_NO_PAD.decode(v).unwrap_or_else(|e| panic!("{field} not base64url: {e}"));
            }
        }
        let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
        assert!(n.len() >= 256, "RSA modulus of at least 2048 bits");
    }
    assert!(list.iter().any(|k| k["kid"] == header["kid"]), "{keys}");

    // Unknown tenants: AADSTS90002.
    let bad = "00000000-dead-4bad-8bad-000000000000";
    for path in [
        format!("/{bad}/v2.0/.well-known/openid-configuration"),
        format!("/{bad}/discovery/v2.0/keys"),
    ] {
        let res = s.client.get(s.url(&path)).send().await.unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS90002"), "{body}");
    }
}

// --- Graph 401 --------------------------------------------------------------------------------

#[tokio::test]
async fn graph_answers_every_missing_or_forged_token_with_401_invalid_authentication_token() {
    // Sanity of the local hash: FIPS 180-4 and RFC 4231 test vectors.
    assert_eq!(
        hex(&sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );

    let s = Server::start().await;
    let token = s.app_token(ROLLOUT).await;
    let path = "/v1.0/appCatalogs/teamsApps";
    assert_eq!(s.get(&token, path).await.status, 200, "the genuine token works");

    let (header, claims, signature) = jwt_parts(&token);
    let signing_input = |h: &Value, c: &Value| format!("{}.{}", b64url_json(h), b64url_json(c));
    let parts: Vec<&str> = token.split('.').collect();

    // alg: none, no signature.
    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let alg_none = format!("{}.", signing_input(&none_header, &claims));

    // HS256 re-signed with the public key material (key confusion), in each form an attacker
    // might try: PEM, DER, raw modulus, the JWK JSON.
    let keys = jwks(&s, TENANT).await;
    let jwk = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signing key in JWKS")
        .clone();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let (spki_der, pem) = public_key_der_and_pem(&n, &e);
    let mut hs_header = header.clone();
    hs_header["alg"] = json!("HS256");
    let hs_input = signing_input(&hs_header, &claims);
    let hs = |key: &[u8]| {
        format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(hmac_sha256(key, hs_input.as_bytes())))
    };

    // Payload tampered (more roles; another tenant's id; a later exp), original signature kept.
    let mut more_roles = claims.clone();
    more_roles["roles"] =
        json!(["AppCatalog.ReadWrite.All", "TeamsAppInstallation.ReadWriteForUser.All"]);
    let mut later_exp = claims.clone();
    later_exp["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let mut expired = claims.clone();
    expired["exp"] = json!(unix_now() - 3600);
    expired["nbf"] = json!(unix_now() - 7200);
    expired["iat"] = json!(unix_now() - 7200);
    let tampered = |c: &Value| format!("{}.{}.{signature}", parts[0], b64url_json(c));

    // Another token's signature on this token's header and payload.
    let other = s.app_token(READER).await;
    let other_sig = other.split('.').nth(2).unwrap().to_string();
    let swapped = format!("{}.{}.{other_sig}", parts[0], parts[1]);

    // A kid the server never issued.
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("not-a-key-of-this-server");
    let foreign_kid = format!("{}.{}.{signature}", b64url_json(&unknown_kid), parts[1]);

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        (
            "Basic scheme",
            Some(format!("Basic {}", STANDARD.encode(format!("{}:{}", ROLLOUT.0, ROLLOUT.1)))),
        ),
        ("Bearer without token", Some("Bearer".into())),
        ("Bearer with blanks", Some("Bearer    ".into())),
        ("garbage token", Some("Bearer garbage".into())),
        ("three garbage parts", Some("Bearer aaa.bbb.ccc".into())),
        ("token without Bearer scheme", Some(token.clone())),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("alg none with the original signature", Some(format!("Bearer {alg_none}{signature}"))),
        ("HS256 with the PEM public key", Some(format!("Bearer {}", hs(pem.as_bytes())))),
        (
            "HS256 with the PEM without final newline",
            Some(format!("Bearer {}", hs(pem.trim_end().as_bytes()))),
        ),
        ("HS256 with the DER public key", Some(format!("Bearer {}", hs(&spki_der)))),
        ("HS256 with the modulus", Some(format!("Bearer {}", hs(&n)))),
        ("HS256 with the JWK JSON", Some(format!("Bearer {}", hs(jwk.to_string().as_bytes())))),
        (
            "payload with more roles, original signature",
            Some(format!("Bearer {}", tampered(&more_roles))),
        ),
        (
            "payload with later exp, original signature",
            Some(format!("Bearer {}", tampered(&later_exp))),
        ),
        ("expired payload, original signature", Some(format!("Bearer {}", tampered(&expired)))),
        ("signature of another token", Some(format!("Bearer {swapped}"))),
        ("signature stripped", Some(format!("Bearer {}.{}.", parts[0], parts[1]))),
        ("unknown kid", Some(format!("Bearer {foreign_kid}"))),
        ("truncated signature", Some(format!("Bearer {}", &token[..token.len() - 10]))),
    ];
    for (what, auth) in &cases {
        let headers: Vec<(&str, &str)> = match auth {
            Some(v) => vec![("authorization", v.as_str())],
            None => vec![],
        };
        for p in [path.to_string(), format!("/beta/users/{ADELE}/teamwork/installedApps")] {
            let r = s.send(Method::GET, None, &p, None, &headers).await;
            assert_eq!(r.status, 401, "{what} on {p}: {}", r.body);
            let msg = r.assert_error(401, "InvalidAuthenticationToken");
            assert!(!msg.is_empty(), "{what}");
        }
        // A write is refused the same way and writes nothing.
        let r = s
            .send(
                Method::POST,
                None,
                &format!("/v1.0/users/{ADELE}/teamwork/installedApps"),
                Some(("application/json", bind(STORE_APP).to_string().into_bytes())),
                &headers,
            )
            .await;
        r.assert_error(401, "InvalidAuthenticationToken");
    }
    let r = s.graph(&token).list_user_installed_apps(ADELE, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"], json!([]), "nothing was installed by refused requests");
    // And the genuine token still works after all the forgeries.
    assert_eq!(s.get(&token, path).await.status, 200);
}

// --- tenants ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_of_tenant_b_sees_nothing_of_tenant_a() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;
    let mid = new_manifest_id();
    let app = s.publish(&admin, &manifest(&mid, "1.0.0")).await;
    let app_id = app["id"].as_str().unwrap().to_string();
    let r = s.graph(&rollout).install_app_for_user(ADELE, &app_id).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let list = s.graph(&rollout).list_user_installed_apps(ADELE, "").await;
    let installation = list.body["value"][0]["id"].as_str().unwrap().to_string();

    let fab = s.app_token_in(TENANT_B, FAB).await;
    let (_, claims, _) = jwt_parts(&fab);
    assert_eq!(claims["tid"], TENANT_B);

    // Tenant A's user does not exist for tenant B.
    let r = s.graph(&fab).list_user_installed_apps(ADELE, "").await;
    r.assert_error(404, "NotFound");
    let r = s.get(&fab, "/v1.0/users/adele@contoso.example/teamwork/installedApps").await;
    r.assert_error(404, "NotFound");
    let r = s.graph(&fab).get_user_installed_app(ADELE, &installation, "").await;
    r.assert_error(404, "NotFound");
    let r = s.graph(&fab).install_app_for_user(ADELE, &app_id).await;
    r.assert_error(404, "NotFound");

    // Tenant B's catalog does not contain tenant A's apps.
    let r = s.graph(&fab).list_teams_apps("").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<&str> =
        r.body["value"].as_array().unwrap().iter().filter_map(|a| a["id"].as_str()).collect();
    assert!(!ids.contains(&app_id.as_str()), "tenant A's app visible to tenant B: {ids:?}");
    let externals: Vec<&Value> =
        r.body["value"].as_array().unwrap().iter().map(|a| &a["externalId"]).collect();
    assert!(!externals.contains(&&json!(mid)), "{}", r.body);
    let r = s.graph(&fab).list_teams_apps(&format!("$filter=externalId eq '{mid}'")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"], json!([]));
    let r = s.graph(&fab).get_teams_app(&app_id, "").await;
    r.assert_error(404, "NotFound");

    // Tenant B's delegated admin cannot delete tenant A's app either.
    let ann = s.user_token_in(TENANT_B, FAB, "ann@fabrikam.example", "ann-pw").await;
    let r = s.graph(&ann).delete_teams_app(&app_id).await;
    r.assert_error(404, "NotFound");
    // Tokens are bound to their tenant: tenant A's user cannot sign in through tenant B.
    let (status, body) = s
        .token_raw(
            TENANT_B,
            &[
                ("grant_type", "password"),
                ("client_id", FAB.0),
                ("client_secret", FAB.1),
                ("username", "megan@contoso.example"),
                ("password", "megan-pw"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS"), "{body}");

    // Tenant A still sees its app and installation.
    let r = s.graph(&rollout).get_user_installed_app(ADELE, &installation, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.graph(&rollout).get_teams_app(&app_id, "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// --- the permission table (spec 3.x, 4.x tables; 5.6; 5.7 step 2) ----------------------------

const TAI: &str = "TeamsAppInstallation.";

// Catalog (spec 3.1, 3.2 "same as list", 3.3, 3.4, 3.5, 3.6, 3.7).
const CATALOG_READ_D: &[&str] = &[
    "AppCatalog.Submit",
    "AppCatalog.Read.All",
    "AppCatalog.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const CATALOG_READ_A: &[&str] = &["AppCatalog.Read.All", "AppCatalog.ReadWrite.All"];
const BOT_D: &[&str] = &["AppCatalog.Read.All", "AppCatalog.ReadWrite.All", "AppCatalog.Submit"];
const CATALOG_WRITE_D: &[&str] =
    &["AppCatalog.Submit", "AppCatalog.ReadWrite.All", "Directory.ReadWrite.All"];
// 3.5: approving requires AppCatalog.ReadWrite.All.
const REVIEW_D: &[&str] = &["AppCatalog.ReadWrite.All"];
// 3.6: the observed message for deleting an app names exactly these two.
const DELETE_APP_D: &[&str] = &["AppCatalog.ReadWrite.All", "Directory.ReadWrite.All"];

// User scope (spec 4.1 table). Names after "TeamsAppInstallation." unless they contain a dot
// of their own namespace (expanded by `names`).
const USER_READ_D: &[&str] = &[
    "ReadForUser",
    "ReadWriteSelfForUser",
    "ManageSelectedForUser",
    "ReadWriteAndConsentForUser",
    "ReadWriteAndConsentSelfForUser",
    "ReadWriteForUser",
    "ReadWriteSelectedForUser",
];
const USER_READ_A: &[&str] = &[
    "ReadForUser.All",
    "ReadWriteSelfForUser.All",
    "ManageSelectedForUser.All",
    "Read.All",
    "Read.User",
    "ReadWriteAndConsentForUser.All",
    "ReadWriteAndConsentSelfForUser.All",
    "ReadWriteForUser.All",
    "ReadWriteSelectedForUser.All",
];
// List (4.1): the documented table, then Read.All and Read.User, inferred from Get ([I]).
const USER_LIST_A: &[&str] = &[
    "ReadForUser.All",
    "ReadWriteSelfForUser.All",
    "ManageSelectedForUser.All",
    "ReadWriteAndConsentForUser.All",
    "ReadWriteAndConsentSelfForUser.All",
    "ReadWriteForUser.All",
    "ReadWriteSelectedForUser.All",
    "Read.All",
    "Read.User",
];
// Get chat (4.1): the documented three first, then "the other List permissions [I]".
const USER_CHAT_D: &[&str] = &[
    "ReadForUser",
    "ReadWriteSelfForUser",
    "ReadWriteForUser",
    "ManageSelectedForUser",
    "ReadWriteAndConsentForUser",
    "ReadWriteAndConsentSelfForUser",
    "ReadWriteSelectedForUser",
];
const USER_CHAT_A: &[&str] = &[
    "ReadForUser.All",
    "ReadWriteSelfForUser.All",
    "ReadWriteForUser.All",
    "ManageSelectedForUser.All",
    "ReadWriteAndConsentForUser.All",
    "ReadWriteAndConsentSelfForUser.All",
    "ReadWriteSelectedForUser.All",
    "Read.All",
    "Read.User",
];
const USER_WRITE_D: &[&str] = &[
    "ReadWriteSelfForUser",
    "ManageSelectedForUser",
    "ReadWriteAndConsentForUser",
    "ReadWriteAndConsentSelfForUser",
    "ReadWriteForUser",
    "ReadWriteSelectedForUser",
];
const USER_WRITE_A: &[&str] = &[
    "ReadWriteSelfForUser.All",
    "ManageSelectedForUser.All",
    "ReadWriteAndConsentForUser.All",
    "ReadWriteAndConsentSelfForUser.All",
    "ReadWriteForUser.All",
    "ReadWriteSelectedForUser.All",
];
const USER_DELETE_D: &[&str] = &[
    "ReadWriteSelfForUser",
    "ReadWriteAndConsentForUser",
    "ReadWriteAndConsentSelfForUser",
    "ReadWriteForUser",
    "ManageSelectedForUser",
    "ReadWriteSelectedForUser",
];
const USER_DELETE_A: &[&str] = &[
    "ReadWriteSelfForUser.All",
    "ReadWriteAndConsentForUser.All",
    "ReadWriteAndConsentSelfForUser.All",
    "ReadWriteForUser.All",
    "ManageSelectedForUser.All",
    "ReadWriteSelectedForUser.All",
];

// Chat scope (spec 4.2 table; Read.All reads every scope per the 5.6 matrix).
const CHAT_READ_D: &[&str] = &[
    "ReadForChat",
    "ReadWriteSelfForChat",
    "ManageSelectedForChat",
    "ReadWriteAndConsentForChat",
    "ReadWriteAndConsentSelfForChat",
    "ReadWriteForChat",
];
const CHAT_READ_A: &[&str] = &[
    "ReadForChat.All",
    "ReadWriteSelfForChat.All",
    "=Chat.Manage.Chat",
    "ManageSelectedForChat.All",
    "Read.Chat",
    "ReadWriteAndConsentForChat.All",
    "ReadWriteAndConsentSelfForChat.All",
    "ReadWriteForChat.All",
    "Read.All",
];
const CHAT_WRITE_D: &[&str] = &[
    "ReadWriteSelfForChat",
    "ManageSelectedForChat",
    "ReadWriteAndConsentForChat",
    "ReadWriteAndConsentSelfForChat",
    "ReadWriteForChat",
];
const CHAT_WRITE_A: &[&str] = &[
    "ReadWriteSelfForChat.All",
    "=Chat.Manage.Chat",
    "ManageSelectedForChat.All",
    "ReadWriteAndConsentForChat.All",
    "ReadWriteAndConsentSelfForChat.All",
    "ReadWriteForChat.All",
];
const CHAT_DELETE_D: &[&str] =
    &["ReadWriteSelfForChat", "ManageSelectedForChat", "ReadWriteForChat"];
const CHAT_DELETE_A: &[&str] = &[
    "ReadWriteSelfForChat.All",
    "=Chat.Manage.Chat",
    "ManageSelectedForChat.All",
    "ReadWriteForChat.All",
];

// Team scope (spec 4.3 table; delegated ReadWriteAndConsentForTeam allowed for install too [I]).
const TEAM_LIST_D: &[&str] = &[
    "ReadForTeam",
    "ReadWriteSelfForTeam",
    "ManageSelectedForTeam",
    "ReadWriteAndConsentForTeam",
    "ReadWriteAndConsentSelfForTeam",
    "ReadWriteForTeam",
    "=Group.Read.All",
    "=Group.ReadWrite.All",
    "=Directory.Read.All",
    "=Directory.ReadWrite.All",
];
const TEAM_GET_D: &[&str] = &[
    "ReadWriteSelfForTeam",
    "ManageSelectedForTeam",
    "ReadForTeam",
    "ReadForUser",
    "ReadWriteAndConsentForTeam",
    "ReadWriteAndConsentSelfForTeam",
    "ReadWriteForTeam",
    "=Group.Read.All",
    "=Group.ReadWrite.All",
    "=Directory.Read.All",
    "=Directory.ReadWrite.All",
];
const TEAM_READ_A: &[&str] = &[
    "Read.Group",
    "ReadWriteSelfForTeam.All",
    "ManageSelectedForTeam.All",
    "Read.All",
    "ReadForTeam.All",
    "ReadWriteAndConsentForTeam.All",
    "ReadWriteAndConsentSelfForTeam.All",
    "ReadWriteForTeam.All",
    "=Group.Read.All",
    "=Group.ReadWrite.All",
    "=Directory.Read.All",
    "=Directory.ReadWrite.All",
];
// Install (4.3): the documented table lacks ReadWriteAndConsentForTeam; allowed by inference, last.
const TEAM_INSTALL_D: &[&str] = &[
    "ReadWriteSelfForTeam",
    "ManageSelectedForTeam",
    "ReadWriteAndConsentSelfForTeam",
    "ReadWriteForTeam",
    "=Group.ReadWrite.All",
    "=Directory.ReadWrite.All",
    "ReadWriteAndConsentForTeam",
];
const TEAM_WRITE_D: &[&str] = &[
    "ReadWriteSelfForTeam",
    "ManageSelectedForTeam",
    "ReadWriteAndConsentForTeam",
    "ReadWriteAndConsentSelfForTeam",
    "ReadWriteForTeam",
    "=Group.ReadWrite.All",
    "=Directory.ReadWrite.All",
];
const TEAM_WRITE_A: &[&str] = &[
    "ReadWriteSelfForTeam.All",
    "ManageSelectedForTeam.All",
    "ReadWriteAndConsentForTeam.All",
    "ReadWriteAndConsentSelfForTeam.All",
    "ReadWriteForTeam.All",
    "=Group.ReadWrite.All",
    "=Directory.ReadWrite.All",
];
const TEAM_DELETE_D: &[&str] = &[
    "ReadWriteSelfForTeam",
    "ManageSelectedForTeam",
    "ReadWriteForTeam",
    "=Group.ReadWrite.All",
    "=Directory.ReadWrite.All",
];
const TEAM_DELETE_A: &[&str] = &[
    "ReadWriteSelfForTeam.All",
    "ManageSelectedForTeam.All",
    "ReadWriteForTeam.All",
    "=Group.ReadWrite.All",
    "=Directory.ReadWrite.All",
];

/// The comma+space list a 403 names. Catalog lists are written in full; installation lists
/// omit `TeamsAppInstallation.` and mark other namespaces with a leading `=`.
fn names(list: &[&str]) -> String {
    list.iter()
        .map(|n| {
            if let Some(full) = n.strip_prefix('=') {
                full.to_string()
            } else if n.starts_with("AppCatalog.") || n.starts_with("Directory.") {
                n.to_string()
            } else {
                format!("{TAI}{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

struct OpRow {
    /// The `Operation` variant name in `crates/core/src/permissions.rs`.
    op: &'static str,
    method: Method,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    headers: Vec<(&'static str, String)>,
    delegated: &'static [&'static str],
    /// `None`: application context is not supported (403 AccessDenied, spec E16).
    application: Option<&'static [&'static str]>,
}

#[tokio::test]
async fn every_operation_refuses_a_token_without_an_accepted_permission_with_the_documented_403() {
    let s = Server::start().await;
    let admin = s.admin_token().await;
    let rollout = s.app_token(ROLLOUT).await;

    // Existing resources, so that each refusal is the permission check (step 2), which comes
    // before resource lookup (step 3+).
    let mid = new_manifest_id();
    let app = s.publish(&admin, &manifest(&mid, "1.0.0")).await;
    let app_id = app["id"].as_str().unwrap().to_string();
    let r = s.graph(&admin).get_teams_app(&app_id, "$expand=appDefinitions").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let def_id = r.body["appDefinitions"][0]["id"].as_str().unwrap().to_string();
    let sub_mid = new_manifest_id();
    let r = s.graph(&admin).publish_teams_app(&manifest(&sub_mid, "1.0.0"), true).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sub_app = r.body["id"].as_str().unwrap().to_string();
    let r = s.graph(&admin).get_teams_app(&sub_app, "$expand=appDefinitions").await;
    let sub_def = r.body["appDefinitions"][0]["id"].as_str().unwrap().to_string();
    let etag = r.body["appDefinitions"][0]["@odata.etag"].as_str().unwrap_or("*").to_string();

    let user = format!("/v1.0/users/{ADELE}/teamwork/installedApps");
    let chat = format!("/v1.0/chats/{}/installedApps", enc(CHAT));
    let team = format!("/v1.0/teams/{TEAM}/installedApps");
    let mut inst = Vec::new();
    for base in [&user, &chat, &team] {
        let r = s.post_json(&rollout, base, &bind(&app_id)).await;
        assert!(r.status == 201 || r.status == 200, "{base}: {}", r.body);
        let r = s.get(&rollout, &format!("{base}?$filter=teamsApp/externalId eq '{mid}'")).await;
        inst.push(r.body["value"][0]["id"].as_str().unwrap().to_string());
    }
    let (ui, ci, ti) = (&inst[0], &inst[1], &inst[2]);
    let other_mid = new_manifest_id();
    let other = s.publish(&admin, &manifest(&other_mid, "1.0.0")).await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let json_body = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let zip = |version: &str, id: &str| Some(("application/zip", package(&manifest(id, version))));
    let cat = "/v1.0/appCatalogs/teamsApps";

    let rows = vec![
        OpRow {
            op: "ListTeamsApps",
            method: Method::GET,
            path: cat.to_string(),
            body: None,
            headers: vec![],
            delegated: CATALOG_READ_D,
            application: Some(CATALOG_READ_A),
        },
        OpRow {
            op: "GetTeamsApp",
            method: Method::GET,
            path: format!("{cat}/{app_id}"),
            body: None,
            headers: vec![],
            delegated: CATALOG_READ_D,
            application: Some(CATALOG_READ_A),
        },
        OpRow {
            op: "ListAppDefinitions",
            method: Method::GET,
            path: format!("{cat}/{app_id}/appDefinitions"),
            body: None,
            headers: vec![],
            delegated: CATALOG_READ_D,
            application: Some(CATALOG_READ_A),
        },
        OpRow {
            op: "GetAppDefinition",
            method: Method::GET,
            path: format!("{cat}/{app_id}/appDefinitions/{def_id}"),
            body: None,
            headers: vec![],
            delegated: CATALOG_READ_D,
            application: Some(CATALOG_READ_A),
        },
        OpRow {
            op: "PublishTeamsApp",
            method: Method::POST,
            path: cat.to_string(),
            body: zip("1.0.0", &new_manifest_id()),
            headers: vec![],
            delegated: CATALOG_WRITE_D,
            application: None,
        },
        OpRow {
            op: "UpdateTeamsApp",
            method: Method::POST,
            path: format!("{cat}/{app_id}/appDefinitions"),
            body: zip("2.0.0", &mid),
            headers: vec![],
            delegated: CATALOG_WRITE_D,
            application: None,
        },
        OpRow {
            op: "ReviewAppDefinition",
            method: Method::PATCH,
            path: format!("{cat}/{sub_app}/appDefinitions/{sub_def}"),
            body: json_body(json!({"publishingState": "published"})),
            headers: vec![("if-match", etag.clone())],
            delegated: REVIEW_D,
            application: None,
        },
        OpRow {
            op: "DeleteTeamsApp",
            method: Method::DELETE,
            path: format!("{cat}/{app_id}"),
            body: None,
            headers: vec![],
            delegated: DELETE_APP_D,
            application: None,
        },
        OpRow {
            op: "DeleteAppDefinition",
            method: Method::DELETE,
            path: format!("{cat}/{sub_app}/appDefinitions/{sub_def}"),
            body: None,
            headers: vec![],
            delegated: CATALOG_WRITE_D,
            application: None,
        },
        OpRow {
            op: "GetTeamworkBot",
            method: Method::GET,
            path: format!("{cat}/{app_id}/appDefinitions/{def_id}/bot"),
            body: None,
            headers: vec![],
            delegated: BOT_D,
            application: Some(CATALOG_READ_A),
        },
        // Beta only, delegated only (lifecycle spec 5.2).
        OpRow {
            op: "GetTeamsAppIcon",
            method: Method::GET,
            path: format!("/beta/appCatalogs/teamsApps/{app_id}/appDefinitions/{def_id}/colorIcon"),
            body: None,
            headers: vec![],
            delegated: BOT_D,
            application: None,
        },
        // Beta only, delegated only (lifecycle spec 5.2).
        OpRow {
            op: "GetTeamworkHostedContent",
            method: Method::GET,
            path: format!("/beta/appCatalogs/teamsApps/{app_id}/appDefinitions/{def_id}/outlineIcon/hostedContent"),
            body: None,
            headers: vec![],
            delegated: BOT_D,
            application: None,
        },
        // Beta only, delegated only (lifecycle spec 5.2).
        OpRow {
            op: "GetTeamworkHostedContentBytes",
            method: Method::GET,
            path: format!("/beta/appCatalogs/teamsApps/{app_id}/appDefinitions/{def_id}/colorIcon/hostedContent/$value"),
            body: None,
            headers: vec![],
            delegated: BOT_D,
            application: None,
        },
        OpRow {
            op: "ListUserInstalledApps",
            method: Method::GET,
            path: user.clone(),
            body: None,
            headers: vec![],
            delegated: USER_READ_D,
            application: Some(USER_LIST_A),
        },
        OpRow {
            op: "GetUserInstalledApp",
            method: Method::GET,
            path: format!("{user}/{ui}"),
            body: None,
            headers: vec![],
            delegated: USER_READ_D,
            application: Some(USER_READ_A),
        },
        OpRow {
            op: "InstallAppForUser",
            method: Method::POST,
            path: user.clone(),
            body: json_body(bind(&other_id)),
            headers: vec![],
            delegated: USER_WRITE_D,
            application: Some(USER_WRITE_A),
        },
        OpRow {
            op: "UpgradeAppForUser",
            method: Method::POST,
            path: format!("{user}/{ui}/upgrade"),
            body: None,
            headers: vec![],
            delegated: USER_WRITE_D,
            application: Some(USER_WRITE_A),
        },
        OpRow {
            op: "UninstallAppForUser",
            method: Method::DELETE,
            path: format!("{user}/{ui}"),
            body: None,
            headers: vec![],
            delegated: USER_DELETE_D,
            application: Some(USER_DELETE_A),
        },
        OpRow {
            op: "GetUserInstalledAppChat",
            method: Method::GET,
            path: format!("{user}/{ui}/chat"),
            body: None,
            headers: vec![],
            delegated: USER_CHAT_D,
            application: Some(USER_CHAT_A),
        },
        OpRow {
            op: "ListChatInstalledApps",
            method: Method::GET,
            path: chat.clone(),
            body: None,
            headers: vec![],
            delegated: CHAT_READ_D,
            application: Some(CHAT_READ_A),
        },
        OpRow {
            op: "GetChatInstalledApp",
            method: Method::GET,
            path: format!("{chat}/{ci}"),
            body: None,
            headers: vec![],
            delegated: CHAT_READ_D,
            application: Some(CHAT_READ_A),
        },
        OpRow {
            op: "InstallAppInChat",
            method: Method::POST,
            path: chat.clone(),
            body: json_body(bind(&other_id)),
            headers: vec![],
            delegated: CHAT_WRITE_D,
            application: Some(CHAT_WRITE_A),
        },
        OpRow {
            op: "UpgradeAppInChat",
            method: Method::POST,
            path: format!("{chat}/{ci}/upgrade"),
            body: None,
            headers: vec![],
            delegated: CHAT_WRITE_D,
            application: Some(CHAT_WRITE_A),
        },
        OpRow {
            op: "UninstallAppInChat",
            method: Method::DELETE,
            path: format!("{chat}/{ci}"),
            body: None,
            headers: vec![],
            delegated: CHAT_DELETE_D,
            application: Some(CHAT_DELETE_A),
        },
        OpRow {
            op: "ListTeamInstalledApps",
            method: Method::GET,
            path: team.clone(),
            body: None,
            headers: vec![],
            delegated: TEAM_LIST_D,
            application: Some(TEAM_READ_A),
        },
        OpRow {
            op: "GetTeamInstalledApp",
            method: Method::GET,
            path: format!("{team}/{ti}"),
            body: None,
            headers: vec![],
            delegated: TEAM_GET_D,
            application: Some(TEAM_READ_A),
        },
        OpRow {
            op: "InstallAppInTeam",
            method: Method::POST,
            path: team.clone(),
            body: json_body(bind(&other_id)),
            headers: vec![],
            delegated: TEAM_INSTALL_D,
            application: Some(TEAM_WRITE_A),
        },
        OpRow {
            op: "UpgradeAppInTeam",
            method: Method::POST,
            path: format!("{team}/{ti}/upgrade"),
            body: json_body(json!({})),
            headers: vec![],
            delegated: TEAM_WRITE_D,
            application: Some(TEAM_WRITE_A),
        },
        OpRow {
            op: "UninstallAppInTeam",
            method: Method::DELETE,
            path: format!("{team}/{ti}"),
            body: None,
            headers: vec![],
            delegated: TEAM_DELETE_D,
            application: Some(TEAM_DELETE_A),
        },
    ];

    // Every app operation the server knows has a row, and no row names an unknown operation
    // (the directory reads and tenant settings have their own suites: directory.rs, teamwork.rs).
    let mut known: Vec<String> = teamsapps_core::permissions::Operation::ALL
        .iter()
        .filter(|o| {
            use teamsapps_core::operations::Surface;
            matches!(o.row().surface, Surface::Catalog | Surface::Installations)
        })
        .map(|o| format!("{o:?}"))
        .collect();
    known.sort();
    let mut covered: Vec<String> = rows.iter().map(|r| r.op.to_string()).collect();
    covered.sort();
    assert_eq!(covered, known, "the table must cover exactly Operation::ALL");

    let noperm_app = s.app_token(NOPERM).await;
    let noperm_user = s.user_token(NOPERM, "lee@contoso.example", "lee-pw").await;
    let mut failures = Vec::new();
    for row in &rows {
        let headers: Vec<(&str, &str)> =
            row.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for delegated in [false, true] {
            let token = if delegated { &noperm_user } else { &noperm_app };
            let r = s
                .send(row.method.clone(), Some(token), &row.path, row.body.clone(), &headers)
                .await;
            let kind = if delegated { "delegated" } else { "application" };
            let (want_code, want_msg) = match (delegated, row.application) {
                (true, _) => (
                    "Forbidden",
                    format!(
                        "Missing scope permissions on the request. API requires one of '{}'. Scopes on the request 'User.Read'",
                        names(row.delegated)
                    ),
                ),
                (false, Some(list)) => (
                    "Forbidden",
                    format!(
                        "Missing role permissions on the request. API required one of '{}'. Roles on the request 'User.Read.All'",
                        names(list)
                    ),
                ),
                (false, None) => ("AccessDenied", "User not authorized".to_string()),
            };
            let got_code = r.body["error"]["code"].as_str().unwrap_or_default();
            let got_msg = r.body["error"]["message"].as_str().unwrap_or_default();
            let msg_ok = if want_code == "AccessDenied" {
                got_msg.starts_with(&want_msg)
            } else {
                got_msg == want_msg
            };
            if r.status != 403 || got_code != want_code || !msg_ok {
                failures.push(format!(
                    "{} ({kind}) {} {}: want 403 {want_code} {want_msg:?}\n    got {} {}",
                    row.op, row.method, row.path, r.status, r.body
                ));
            } else {
                r.assert_error(403, want_code);
            }
        }
    }

    // Nothing the refused requests tried happened.
    let r = s.graph(&admin).get_teams_app(&app_id, "$expand=appDefinitions").await;
    assert_eq!(r.status, 200, "app deleted by a refused request: {}", r.body);
    assert_eq!(r.body["appDefinitions"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = s.graph(&admin).get_teams_app(&sub_app, "$expand=appDefinitions").await;
    assert_eq!(r.body["appDefinitions"][0]["publishingState"], "submitted", "{}", r.body);
    let r = s.get(&admin, cat).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3, "no app was published: {}", r.body);
    for (base, id) in [(&user, ui), (&chat, ci), (&team, ti)] {
        let r = s.get(&rollout, &format!("{base}/{id}?$expand=teamsAppDefinition")).await;
        assert_eq!(r.status, 200, "{base}: {}", r.body);
        assert_eq!(r.body["teamsAppDefinition"]["version"], "1.0.0");
        let r =
            s.get(&rollout, &format!("{base}?$filter=teamsApp/externalId eq '{other_mid}'")).await;
        assert_eq!(r.body["value"], json!([]), "{base}: {}", r.body);
    }
    assert!(
        failures.is_empty(),
        "{} permission rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
