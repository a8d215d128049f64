//! `teamsapps cert`: a self-signed certificate for serving HTTPS on this machine
//! (`serve --tls-cert cert.pem --tls-key key.pem`), for 127.0.0.1, ::1 and localhost.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Datelike;
use clap::Args;
use rcgen::{
    date_time_ymd, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Directory to write cert.pem and key.pem into (created if missing; existing files are
    /// replaced).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Another host name or IP address the certificate is for (repeatable); 127.0.0.1, ::1 and
    /// localhost are always included.
    #[arg(long = "name", value_name = "HOST")]
    pub names: Vec<String>,
}

/// The certificate and its private key, PEM-encoded, and the names it is for.
pub struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
    pub names: Vec<String>,
}

/// A self-signed end-entity certificate (not a CA: webpki-based clients refuse a CA certificate
/// as a server certificate) that clients trust by adding the certificate itself as a root.
pub fn generate(extra_names: &[String]) -> anyhow::Result<Generated> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    for n in extra_names {
        let n = n.trim();
        if n.is_empty() {
            anyhow::bail!("--name must not be empty");
        }
        if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    // Names that parse as IP addresses become IP SANs, the others DNS SANs.
    let mut params = CertificateParams::new(names.clone()).context("invalid certificate name")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "teamsapps local certificate");
    dn.push(DnType::OrganizationName, "teamsapps");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Valid from the start of last year (clock skew) for about two years: browsers and some
    // TLS stacks reject server certificates that live much longer.
    let year = chrono::Utc::now().year();
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 1, 12, 31);
    let key = KeyPair::generate().context("cannot generate a key pair")?;
    let cert = params.self_signed(&key).context("cannot sign the certificate")?;
    Ok(Generated { cert_pem: cert.pem(), key_pem: key.serialize_pem(), names })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn run(args: CertArgs) -> anyhow::Result<()> {
    let generated = generate(&args.names)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the directory {}", args.out.display()))?;
    let cert = args.out.join("cert.pem");
    let key = args.out.join("key.pem");
    write(&cert, &generated.cert_pem)?;
    write(&key, &generated.key_pem)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict the permissions of {}", key.display()))?;
    }
    let cert = cert.canonicalize().unwrap_or(cert);
    let key = key.canonicalize().unwrap_or(key);
    let (c, k) = (cert.display(), key.display());
    println!("wrote {c} (certificate for {})", generated.names.join(", "));
    println!("wrote {k} (private key)");
    println!();
    println!("serve HTTPS with:");
    println!("  teamsapps serve --tls-cert {c} --tls-key {k}");
    println!("trust it in clients (the certificate is its own root):");
    println!("  Node.js:        NODE_EXTRA_CA_CERTS={c}");
    println!("  Python:         REQUESTS_CA_BUNDLE={c}  (requests, azure-identity, msal)");
    println!("                  SSL_CERT_FILE={c}  (httpx, the Graph SDK, ssl module)");
    println!("  curl:           curl --cacert {c} ...");
    println!("  .NET, Java, OS: add it to the trust store (e.g. update-ca-certificates)");
    Ok(())
}
