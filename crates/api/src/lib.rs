//! HTTP: the Graph surface (`/v1.0`, `/beta`) and the identity endpoints, on axum.

pub mod controls;
pub mod error;
pub mod extract;
pub mod headers;
pub mod health;
pub mod identity;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod views;

pub use state::{AppState, Config, UpgradeWhenCurrent};

/// The whole application router.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}
