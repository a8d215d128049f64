//! The identity side, shaped like the Microsoft identity platform: RS256 access tokens, their
//! verification for Graph requests (with a cache of tokens already verified), and the token and
//! discovery endpoints (`token.rs`, `discovery.rs`, framed in `endpoints.rs`).
//!
//! Keys live in the store, so every API node serving one database signs and verifies with the
//! same keys. The newest key (by `created_at`, ties by `kid`: the store's order) signs, so every
//! node makes the same choice from the same rows; every node re-reads the keys periodically
//! ([`Identity::spawn_key_refresh`]) and whenever it meets a `kid` it does not know, so a key
//! added by another node or by `teamsapps keys rotate` is picked up within a bounded time and
//! never refused. A key stays published and accepted until every token it can have signed has
//! expired ([`key_retires_at`]), then it is dropped from the ring.

mod authority;
mod discovery;
mod endpoints;
mod token;

use std::sync::Arc;

use axum::routing::{get, post};
use teamsapps_core::Store;

pub use authority::*;
pub use discovery::{base_url, request_scheme};
pub use token::{token_response, AadError, TokenSuccess};

/// The identity endpoints, to be merged into the application router:
/// - `POST /{tenant}/oauth2/v2.0/token` (and the v1 path `/{tenant}/oauth2/token`, same handler)
/// - `GET /{tenant}/v2.0/.well-known/openid-configuration`
/// - `GET /{tenant}/.well-known/openid-configuration` (v1 metadata: issuer `https://sts.windows.net/{tid}/`)
/// - `GET /{tenant}/discovery/v2.0/keys` and `GET /{tenant}/discovery/keys`
/// - `GET /common/userrealm/{username}` (MSAL's home realm discovery before the password grant)
pub fn endpoints(identity: Arc<Identity>, store: Arc<dyn Store>) -> axum::Router {
    axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(endpoints::token_endpoint))
        .route("/{tenant}/oauth2/token", post(endpoints::token_endpoint))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(endpoints::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(endpoints::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(endpoints::keys_v2))
        .route("/{tenant}/discovery/keys", get(endpoints::keys_v1))
        .route("/common/userrealm/{username}", get(endpoints::user_realm))
        .with_state(Endpoints { identity, store })
}
