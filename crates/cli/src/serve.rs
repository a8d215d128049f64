//! `teamsapps serve` and `teamsapps migrate`: configuration, store selection, seeding, and
//! the HTTP server with graceful shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use teamsapps_api::identity::Identity;
use teamsapps_api::settings::{Settings, ThrottleMode};
use teamsapps_api::state::SeedFixture;
use teamsapps_api::{AppState, Config, UpgradeWhenCurrent};
use teamsapps_core::permissions::Cloud;
use teamsapps_core::Store;
use teamsapps_store_postgres::{PgOptions, PgStore};
use teamsapps_store_sqlite::{Durability, SqliteStore};

use crate::lock::LockTarget;
use crate::logging::{LogFormat, OnOff};

/// Where the data lives. Precedence: --in-memory, then --database-url, then --data.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database (teamsapps.db) and the token signing key.
    #[arg(long, env = "TEAMSAPPS_DATA", default_value = "./teamsapps-data")]
    pub data: PathBuf,
    /// Choose the store explicitly: sqlite://PATH, or postgres://USER[:PASSWORD]@HOST[:PORT]/DB
    /// (also postgresql://) for several nodes on one PostgreSQL database.
    #[arg(long, env = "TEAMSAPPS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Keep nothing: a private in-memory SQLite database (signing key included), gone when the
    /// process ends; --data and --database-url are ignored and no directory is created.
    #[arg(long, env = "TEAMSAPPS_IN_MEMORY", default_value_t = false)]
    pub in_memory: bool,
    /// PostgreSQL: connections this node keeps open at most.
    #[arg(
        long,
        env = "TEAMSAPPS_DB_POOL_SIZE",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub db_pool_size: u32,
    /// PostgreSQL: seconds to wait for the server to accept a connection.
    #[arg(
        long,
        env = "TEAMSAPPS_DB_CONNECT_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub db_connect_timeout: u64,
    /// PostgreSQL: seconds one statement may run (waiting for locks included) before it fails;
    /// 0 keeps the server's statement_timeout.
    #[arg(
        long,
        env = "TEAMSAPPS_DB_STATEMENT_TIMEOUT",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub db_statement_timeout: u64,
    /// SQLite: when a write counts as done. `normal` (WAL, synchronous=NORMAL): every write
    /// is committed to the write-ahead log before its response, so it survives the process
    /// being killed; an operating-system crash or power loss may lose the last writes (the
    /// database stays intact). `full` (synchronous=FULL): the log is also fsynced before the
    /// response, so writes survive an OS crash or power loss too; concurrent writes share one
    /// fsync (group commit). PostgreSQL always waits for the server's own commit.
    #[arg(long, env = "TEAMSAPPS_DURABILITY", value_enum, default_value = "normal")]
    pub durability: DurabilityArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityArg {
    Normal,
    Full,
}

impl DurabilityArg {
    fn sqlite(self) -> Durability {
        match self {
            DurabilityArg::Normal => Durability::Normal,
            DurabilityArg::Full => Durability::Full,
        }
    }
}

impl StoreArgs {
    fn pg_options(&self) -> PgOptions {
        PgOptions {
            pool_size: self.db_pool_size as usize,
            connect_timeout: Duration::from_secs(self.db_connect_timeout),
            statement_timeout: (self.db_statement_timeout > 0)
                .then(|| Duration::from_secs(self.db_statement_timeout)),
        }
    }
}

/// An opened store: the store, what it is (for logs), and its schema version.
pub struct OpenedStore {
    pub store: Arc<dyn Store>,
    pub what: String,
    pub schema_version: i64,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum WhenCurrent {
    /// 204 and nothing changes.
    Noop,
    /// 400 BadRequest.
    BadRequest,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum CloudArg {
    Global,
    Usgov,
    Dod,
    China,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum ThrottleArg {
    Off,
    Graph,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a rate between 0 and 1")),
    }
}

/// The throttling and fault settings of `--config`, `--throttle` and `--fault-rate`.
fn control_settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let mut settings = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            Settings::parse(&text)
                .with_context(|| format!("in the config file {}", path.display()))?
        }
        None => Settings::default(),
    };
    if let Some(t) = args.throttle {
        settings.throttle.mode = match t {
            ThrottleArg::Off => ThrottleMode::Off,
            ThrottleArg::Graph => ThrottleMode::Graph,
        };
    }
    if let Some(rate) = args.fault_rate {
        settings.faults.rate = rate;
    }
    Ok(settings)
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Prints `listening on http://HOST:PORT`
    /// (`https://` with --tls-cert/--tls-key).
    #[arg(long, env = "TEAMSAPPS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate (chain, leaf first); needs --tls-key.
    /// `teamsapps cert` makes one for localhost.
    #[arg(long, env = "TEAMSAPPS_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, RSA or EC).
    #[arg(long, env = "TEAMSAPPS_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// A tenant fixture (JSON or YAML) applied idempotently at start.
    #[arg(long, env = "TEAMSAPPS_SEED")]
    pub seed: Option<PathBuf>,
    /// What an upgrade answers when the installation is already at the newest version.
    #[arg(long, env = "TEAMSAPPS_UPGRADE_WHEN_CURRENT", value_enum, default_value = "noop")]
    pub upgrade_when_current: WhenCurrent,
    /// Explain every 403: which rule refused it, which permissions would have allowed the call
    /// and which the token holds (off by default: messages stay as Graph's). A request can also
    /// ask with the header `x-teamsapps-explain-denials: true`.
    #[arg(long, env = "TEAMSAPPS_EXPLAIN_DENIALS", default_value_t = false)]
    pub explain_denials: bool,
    /// The national cloud to play: `usgov` and `dod` refuse user-scope operations in
    /// application context; `china` serves only chat installations.
    #[arg(long, env = "TEAMSAPPS_CLOUD", value_enum, default_value = "global")]
    pub cloud: CloudArg,
    /// Allow several catalog apps with the same Entra app id (webApplicationInfo.id).
    #[arg(long, env = "TEAMSAPPS_ALLOW_SHARED_CLIENT_APP_ID", default_value_t = false)]
    pub allow_shared_client_app_id: bool,
    /// Throttling: `off` (the default) or `graph`, Graph's Teams limits per app per tenant
    /// (spec 8.2; limits overridable in --config).
    #[arg(long, env = "TEAMSAPPS_THROTTLE", value_enum)]
    pub throttle: Option<ThrottleArg>,
    /// Share (0..1) of Graph requests that fail with a transient Graph error (429, 500, 502, 503,
    /// 504) before anything is written. Identity requests are never faulted. Default 0.
    #[arg(long, env = "TEAMSAPPS_FAULT_RATE", value_parser = parse_rate)]
    pub fault_rate: Option<f64>,
    /// Throttling limits and fault rules (YAML or JSON; see docs/testing.md). --throttle and
    /// --fault-rate override what it says.
    #[arg(long, env = "TEAMSAPPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// The key of the test controls under /_teamsapps/ (`Authorization: Bearer KEY`); a random
    /// one is made and printed on stderr when not given.
    #[arg(long, env = "TEAMSAPPS_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Seconds between re-reads of the token signing keys: a key added by `teamsapps keys
    /// rotate` (or by another node) signs on this node within this time.
    #[arg(
        long,
        env = "TEAMSAPPS_KEY_REFRESH_INTERVAL",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=120)
    )]
    pub key_refresh_interval: u64,
    /// The `info` line per request (target `teamsapps::request`: method, path, operation,
    /// status, latency, request id); `off` silences it whatever TEAMSAPPS_LOG says.
    #[arg(long, env = "TEAMSAPPS_REQUEST_LOG", value_enum, default_value = "on")]
    pub request_log: OnOff,
}

/// Opens the store `args` choose and runs its migrations. A `--database-url` chooses the
/// backend by its scheme: `postgres://` and `postgresql://` are PostgreSQL, `sqlite:` SQLite.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<OpenedStore> {
    let sqlite = |store: SqliteStore, what: String| OpenedStore {
        store: Arc::new(store),
        what,
        schema_version: teamsapps_store_sqlite::SCHEMA_VERSION,
    };
    if args.in_memory {
        let store = SqliteStore::open_in_memory()?;
        return Ok(sqlite(store, "in-memory SQLite (nothing kept)".into()));
    }
    if let Some(url) = &args.database_url {
        if teamsapps_store_postgres::is_postgres_url(url) {
            let store = PgStore::connect(url, args.pg_options()).await?;
            let what = format!("PostgreSQL at {}", store.location());
            let schema_version = store.schema_version().await?;
            return Ok(OpenedStore { store: Arc::new(store), what, schema_version });
        }
        if !url.to_ascii_lowercase().starts_with("sqlite:") {
            bail!("unsupported --database-url '{url}': use sqlite://PATH or postgres://HOST/DB");
        }
        let store = SqliteStore::open_url_with(url, args.durability.sqlite())?;
        return Ok(sqlite(store, format!("SQLite at {url}")));
    }
    crate::data_dir::prepare(&args.data)?;
    let path = args.data.join("teamsapps.db");
    crate::data_dir::private_database(&path)?;
    let store = SqliteStore::open_with(&path, args.durability.sqlite())
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    Ok(sqlite(store, format!("SQLite at {}", path.display())))
}

pub async fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    let opened = open_store(&args).await?;
    println!("schema is up to date ({}, version {})", opened.what, opened.schema_version);
    Ok(())
}

/// A seed file read and checked: its text (the test controls' reset applies it again) and
/// the fixture, valid against the loader before anything is created.
struct SeedFile {
    path: PathBuf,
    text: String,
    fixture: teamsapps_core::fixture::Fixture,
}

fn read_seed(path: &Path) -> anyhow::Result<SeedFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the seed file {}", path.display()))?;
    let fixture = teamsapps_core::fixture::parse(&text)
        .with_context(|| format!("in the seed file {}", path.display()))?;
    // The same checks applying it makes (ids, manifests, references), without a store.
    teamsapps_core::fixture::to_seed(&fixture)
        .with_context(|| format!("in the seed file {}", path.display()))?;
    Ok(SeedFile { path: path.to_path_buf(), text, fixture })
}

/// The lock that keeps a second server off this SQLite store (none for PostgreSQL, which
/// several nodes share on purpose, or in memory).
fn lock_target(args: &StoreArgs) -> Option<LockTarget> {
    if args.in_memory {
        return None;
    }
    match &args.database_url {
        Some(url) => LockTarget::sqlite_url(url),
        None => Some(LockTarget::data_dir(&args.data)),
    }
}

/// The future that resolves on SIGTERM or Ctrl-C. The handlers are installed here, before the
/// `listening on` line is printed: a signal sent as soon as a script sees that line must stop
/// the server gracefully, not kill it with the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        async move {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
    };
    #[cfg(not(unix))]
    let signals = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        signals.await;
        tracing::info!("shutting down: finishing requests in flight");
    })
}

pub async fn serve(args: ServeArgs, log_format: LogFormat) -> anyhow::Result<()> {
    // Everything that can be refused is checked before anything is created: the
    // configuration, the certificate, the seed file, then the port.
    let settings = control_settings(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together: give both or neither"),
    };
    if args.admin_key.as_ref().is_some_and(|k| k.trim().is_empty()) {
        bail!("--admin-key must not be empty");
    }
    let seed_file = args.seed.as_deref().map(read_seed).transpose()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let _lock = match lock_target(&args.store) {
        Some(target) => {
            if args.store.database_url.is_none() {
                crate::data_dir::prepare(&args.store.data)?;
            }
            let holder = format!("pid {}, listening on {scheme}://{addr}", std::process::id());
            Some(crate::lock::acquire(&target, &holder)?)
        }
        None => None,
    };
    let OpenedStore { store, what, .. } = open_store(&args.store).await?;
    let mut seed = None;
    if let Some(SeedFile { path, text, fixture }) = seed_file {
        crate::progress::apply_seed(store.as_ref(), &fixture, &path, log_format)
            .await
            .with_context(|| format!("cannot apply the seed file {}", path.display()))?;
        seed = Some((text, fixture));
    }
    let admin_key = match &args.admin_key {
        Some(k) => k.trim().to_string(),
        None => {
            let key = uuid::Uuid::new_v4().simple().to_string();
            match log_format {
                LogFormat::Text => {
                    eprintln!("admin key (Authorization: Bearer … for /_teamsapps/): {key}")
                }
                LogFormat::Json => {
                    tracing::info!(admin_key = %key, "admin key (Authorization: Bearer … for /_teamsapps/)")
                }
            }
            key
        }
    };
    tracing::info!(
        throttle = ?settings.throttle.mode, fault_rate = settings.faults.rate,
        fault_rules = settings.faults.rules.len(), "throttling and faults"
    );
    let seed = seed.map(|(text, fixture)| Arc::new(SeedFixture::new(&text, fixture)));
    let identity = Identity::load_or_create(store.as_ref())
        .await
        .context("cannot load the token signing key")?;
    let config = Config {
        upgrade_when_current: match args.upgrade_when_current {
            WhenCurrent::Noop => UpgradeWhenCurrent::NoOp,
            WhenCurrent::BadRequest => UpgradeWhenCurrent::BadRequest,
        },
        unique_client_app_id: !args.allow_shared_client_app_id,
        explain_denials: args.explain_denials,
        cloud: match args.cloud {
            CloudArg::Global => Cloud::Global,
            CloudArg::Usgov => Cloud::UsGov,
            CloudArg::Dod => Cloud::Dod,
            CloudArg::China => Cloud::China,
        },
        admin_key: Some(admin_key),
        seed,
        ..Config::default()
    };
    let identity = Arc::new(identity);
    let _key_refresh = identity
        .clone()
        .spawn_key_refresh(store.clone(), Duration::from_secs(args.key_refresh_interval));
    let state = AppState::new(store, identity, config, settings);
    let app = teamsapps_api::router(state);
    let shutdown = shutdown_signal()?;
    tracing::info!(store = %what, %addr, scheme, "teamsapps ready");
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{addr}")?;
        out.flush()?;
    }
    match tls {
        Some(config) => {
            let app = app.layer(axum::middleware::map_request(crate::tls::mark_https));
            let listener = crate::tls::TlsListener::new(listener, config)?;
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await?,
    }
    tracing::info!("stopped");
    Ok(())
}
