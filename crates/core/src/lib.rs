//! The domain of teamsapps: typed ids, the catalog and installation model, app package parsing,
//! the permission model, the use cases, and the `Store` trait the backends implement.

pub mod catalog;
pub mod directory;
pub mod error;
pub mod fixture;
pub mod grants;
pub mod ids;
pub mod installations;
pub mod manifest;
pub mod model;
pub mod operations;
pub mod permissions;
pub mod principal;
pub mod store;
pub mod tenant_settings;
pub mod version;

pub use error::{CoreError, CoreResult};
pub use store::{Store, StoreError};
