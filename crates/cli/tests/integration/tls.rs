//! HTTPS: a certificate from `teamsapps cert`, `serve --tls-cert/--tls-key`, a token and Graph
//! calls over https with a client that trusts only that certificate; plain HTTP on the TLS port
//! fails; bad PEM files stop the server with a clear error.

use crate::common::*;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn teamsapps(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teamsapps")).args(args).output().expect("run teamsapps")
}

/// `teamsapps cert --out DIR`, checked; returns (cert.pem, key.pem).
fn make_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let out = teamsapps(&["cert".as_ref(), "--out".as_ref(), dir.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("cert.pem") && stdout.contains("NODE_EXTRA_CA_CERTS"), "{stdout}");
    assert!(stdout.contains("REQUESTS_CA_BUNDLE") && stdout.contains("SSL_CERT_FILE"), "{stdout}");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The server process, killed when the test ends.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_tls(data: &Path, cert: &Path, key: &Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_teamsapps"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(store_args(data))
        .arg("--seed")
        .arg(fixture_path())
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn teamsapps");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_default().to_string();
    (Running(child), base)
}

#[tokio::test]
async fn https_with_a_generated_certificate_serves_tokens_discovery_and_graph() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(&dir.path().join("tls"));
    let (_server, base) = serve_tls(dir.path(), &cert, &key);
    assert!(base.starts_with("https://127.0.0.1:"), "listening line: {base:?}");

    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Discovery says https, so SDKs that follow it stay on TLS.
    let doc: Value = client
        .get(format!("{base}/{TENANT}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], format!("{base}/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(doc["issuer"], format!("{base}/{TENANT}/v2.0"));
    assert!(doc["jwks_uri"].as_str().unwrap().starts_with("https://"), "{doc}");

    // A client claiming plain http through X-Forwarded-Proto does not change that.
    let spoofed: Value = client
        .get(format!("{base}/{TENANT}/v2.0/.well-known/openid-configuration"))
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spoofed["issuer"], doc["issuer"]);

    let token = |form: Vec<(&'static str, &'static str)>| {
        let req = client.post(format!("{base}/{TENANT}/oauth2/v2.0/token")).form(&form);
        async move {
            let body: Value = req.send().await.unwrap().json().await.unwrap();
            body["access_token"].as_str().unwrap_or_else(|| panic!("{body}")).to_string()
        }
    };
    let scope = ("scope", "https://graph.microsoft.com/.default");
    let (id, secret) = (("client_id", ROLLOUT.0), ("client_secret", ROLLOUT.1));
    let access = &token(vec![("grant_type", "client_credentials"), id, secret, scope]).await;
    let admin = &token(vec![
        ("grant_type", "password"),
        id,
        secret,
        ("username", "megan@contoso.example"),
        ("password", "megan-pw"),
        scope,
    ])
    .await;
    for _ in 0..2 {
        let res = client
            .post(format!("{base}/v1.0/appCatalogs/teamsApps"))
            .bearer_auth(admin)
            .header("content-type", "application/zip")
            .body(package(&manifest(&new_manifest_id(), "1.0.0")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    let res = client
        .get(format!("{base}/v1.0/appCatalogs/teamsApps?$top=1"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let next = page["@odata.nextLink"].as_str().unwrap_or_else(|| panic!("{page}"));
    assert!(next.starts_with(&format!("{base}/v1.0/")), "{next}");

    // The same port over plain HTTP gets no HTTP answer.
    let plain = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let http_url = base.replacen("https://", "http://", 1);
    match plain.get(format!("{http_url}/v1.0/appCatalogs/teamsApps")).send().await {
        Err(_) => {}
        Ok(res) => panic!("plain HTTP on the TLS port answered {}", res.status()),
    }
    // A client that does not trust the certificate is refused.
    let untrusting = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    assert!(untrusting
        .get(format!("{base}/{TENANT}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .is_err());
    // And the server still serves trusting clients after those failed handshakes.
    let again =
        client.get(format!("{base}/v1.0/appCatalogs/teamsApps")).bearer_auth(access).send().await;
    assert_eq!(again.unwrap().status(), 200);
}

/// Runs `serve` with the given TLS flags; it must exit non-zero at once with `expected` in
/// its error.
fn refuses(data: &Path, tls_args: &[&std::ffi::OsStr], expected: &str) {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["serve".as_ref(), "--listen".as_ref(), "127.0.0.1:0".as_ref()];
    let store = store_args(data);
    args.extend(store.iter().map(|a| a.as_os_str()));
    args.extend_from_slice(tls_args);
    let out = teamsapps(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{tls_args:?} started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains(expected), "{tls_args:?}: expected {expected:?} in {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"), "{tls_args:?}");
}

#[test]
fn bad_or_incomplete_tls_settings_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(&dir.path().join("tls"));
    let (_, other_key) = make_cert(&dir.path().join("other"));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let truncated = dir.path().join("truncated.pem");
    let text = std::fs::read_to_string(&cert).unwrap();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let missing = dir.path().join("missing.pem");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let os = |p: &Path| p.as_os_str().to_owned();
    let (cert, key, other_key, garbage, truncated, missing) =
        (os(&cert), os(&key), os(&other_key), os(&garbage), os(&truncated), os(&missing));
    let flag_cert: &std::ffi::OsStr = "--tls-cert".as_ref();
    let flag_key: &std::ffi::OsStr = "--tls-key".as_ref();

    refuses(&data, &[flag_cert, &cert], "--tls-key");
    refuses(&data, &[flag_key, &key], "--tls-cert");
    refuses(&data, &[flag_cert, &missing, flag_key, &key], "cannot read the TLS certificate");
    refuses(&data, &[flag_cert, &cert, flag_key, &missing], "cannot read the TLS private key");
    refuses(&data, &[flag_cert, &garbage, flag_key, &key], "holds no PEM certificate");
    refuses(&data, &[flag_cert, &truncated, flag_key, &key], "is not valid PEM: no END line");
    refuses(&data, &[flag_cert, &cert, flag_key, &garbage], "holds no usable PEM private key");
    refuses(&data, &[flag_cert, &key, flag_key, &key], "holds no PEM certificate");
    refuses(&data, &[flag_cert, &cert, flag_key, &other_key], "do not make a usable pair");
}

#[test]
fn help_names_the_tls_flags_and_the_cert_command() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_teamsapps")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let serve = help(&["serve", "--help"]);
    for flag in ["--tls-cert", "--tls-key", "TEAMSAPPS_TLS_CERT", "TEAMSAPPS_TLS_KEY", "https://"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    assert!(help(&["--help"]).contains("cert "), "the cert command is listed");
    let cert = help(&["cert", "--help"]);
    assert!(cert.contains("--out") && cert.contains("--name"), "{cert}");
}
