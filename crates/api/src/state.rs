//! Shared state handed to every handler. No globals: tests build several apps side by side.
//! This module sits at the bottom of the crate: it names the node's parts and uses none of the
//! modules that serve requests.

use std::sync::Arc;

use teamsapps_core::fixture::Fixture;
use teamsapps_core::Store;

use crate::admission::Admission;
use crate::identity::Identity;
use crate::request_log::RequestLog;
use crate::settings::Settings;

/// What an upgrade does when the installation is already at the newest version (spec 6.3, [U]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpgradeWhenCurrent {
    /// 204 and nothing changes (the default).
    #[default]
    NoOp,
    /// 400 `BadRequest`.
    BadRequest,
}

/// The fixture a node started with (`reset` re-applies it) and a digest of its text naming it.
pub struct SeedFixture {
    pub digest: String,
    pub fixture: Fixture,
}

impl SeedFixture {
    pub fn new(text: &str, fixture: Fixture) -> SeedFixture {
        use sha2::Digest;
        let d = sha2::Sha256::digest(text.as_bytes());
        let digest = d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>();
        SeedFixture { digest, fixture }
    }
}

impl std::fmt::Debug for SeedFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedFixture").field("digest", &self.digest).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub upgrade_when_current: UpgradeWhenCurrent,
    /// Largest JSON request body accepted.
    pub max_json_bytes: usize,
    /// Largest app package accepted.
    pub max_package_bytes: usize,
    /// Reject publishing an app whose `webApplicationInfo.id` another catalog app uses (5.2).
    pub unique_client_app_id: bool,
    /// Append to every 403 which rule refused it and which permissions would have allowed it.
    /// Off by default so messages stay wire-exact; a request can ask with
    /// `x-teamsapps-explain-denials: true`.
    pub explain_denials: bool,
    /// The national cloud played (spec 13).
    pub cloud: teamsapps_core::permissions::Cloud,
    /// `Authorization: Bearer <key>` for `/_teamsapps/`; none refuses every control request.
    pub admin_key: Option<String>,
    /// The `--seed` fixture, which `/_teamsapps/reset` restores.
    pub seed: Option<Arc<SeedFixture>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upgrade_when_current: UpgradeWhenCurrent::NoOp,
            max_json_bytes: 1024 * 1024,
            max_package_bytes: teamsapps_core::manifest::MAX_PACKAGE_BYTES,
            unique_client_app_id: true,
            explain_denials: false,
            cloud: teamsapps_core::permissions::Cloud::Global,
            admin_key: None,
            seed: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub identity: Arc<Identity>,
    pub config: Arc<Config>,
    /// This node's throttling and fault state under its runtime settings.
    pub admission: Arc<Admission>,
    /// This node's request log.
    pub request_log: Arc<RequestLog>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        identity: Arc<Identity>,
        config: Config,
        settings: Settings,
    ) -> AppState {
        AppState {
            store,
            identity,
            config: Arc::new(config),
            admission: Arc::new(Admission::new(settings)),
            request_log: Arc::default(),
        }
    }
}
