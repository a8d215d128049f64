//! HTTP: the Graph surface (`/v1.0`, `/beta`) and the identity endpoints, on axum.
//!
//! From the bottom up: `error` (the one place domain errors become Graph errors), `settings`,
//! `throttling`, `faults`, `admission`, `request_log` and `identity` (the node's parts), `state`
//! (which holds them), `response` and `views` (rendering), `extract` and `headers` (what every
//! request goes through), `test_controls`, `openapi` and `routes` (the handlers and the router).
//! No module uses one that uses it back (tests/module_graph.rs).

pub mod admission;
pub mod error;
pub mod extract;
pub mod faults;
pub mod headers;
pub mod health;
pub mod identity;
pub mod openapi;
pub mod request_log;
pub mod response;
pub mod routes;
pub mod settings;
pub mod state;
pub mod test_controls;
pub mod throttling;
pub mod views;

pub use state::{AppState, Config, UpgradeWhenCurrent};

/// The whole application router.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}
