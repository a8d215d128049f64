//! Shared state handed to every handler. No globals: tests build several apps side by side.

use std::sync::Arc;

use teamsapps_core::Store;

use crate::identity::Identity;

/// What an upgrade does when the installation is already at the newest version (spec 6.3, [U]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpgradeWhenCurrent {
    /// 204 and nothing changes (the default).
    #[default]
    NoOp,
    /// 400 `BadRequest`.
    BadRequest,
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
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub identity: Arc<Identity>,
    pub config: Arc<Config>,
    /// This node's runtime state for throttling, fault injection and the test controls
    /// (buckets, settings changed at runtime, request log); configuration stays in `config`.
    pub controls: Arc<crate::controls::Controls>,
}
