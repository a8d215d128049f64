//! Conversions between rows and entities, and rusqlite error mapping.
//!
//! Nothing read from the database is trusted: a malformed JSON list, an unknown enum value or
//! a bad timestamp becomes a conversion error (and so `StoreError::Backend`), never a panic.

use std::fmt::Display;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Type;
use rusqlite::{ffi, Connection, OptionalExtension, Params, Row};
use teamsapps_core::model::{
    AllowedScopes, AppDefinition, Application, Chat, DistributionMethod, Installation,
    PublishingState, ResourceSpecificPermission, ScopeKind, ScopeRef, SigningKey, Team, TeamsApp,
    Tenant, User,
};
use teamsapps_core::StoreError;

// --- errors ---------------------------------------------------------------------------------

/// A backend error naming what was being done.
pub(crate) fn backend(e: rusqlite::Error, what: impl Display) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e).context(format!("sqlite store: {what}")))
}

/// The constraint kinds the store turns into `StoreError::Conflict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A primary key or UNIQUE constraint (or unique index).
    Unique,
    ForeignKey,
}

pub(crate) fn violation(e: &rusqlite::Error) -> Option<Violation> {
    let err = e.sqlite_error()?;
    if err.code != rusqlite::ErrorCode::ConstraintViolation {
        return None;
    }
    match err.extended_code {
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
            Some(Violation::Unique)
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// Maps a write's result: a uniqueness violation becomes `Conflict(on_unique)`, a foreign key
/// violation `Conflict(on_foreign_key)` (when given); anything else is a backend error.
pub(crate) fn write_result<T>(
    result: rusqlite::Result<T>,
    what: &'static str,
    on_unique: Option<&'static str>,
    on_foreign_key: Option<&'static str>,
) -> Result<T, StoreError> {
    result.map_err(|e| match (violation(&e), on_unique, on_foreign_key) {
        (Some(Violation::Unique), Some(name), _) => StoreError::Conflict(name),
        (Some(Violation::ForeignKey), _, Some(name)) => StoreError::Conflict(name),
        _ => backend(e, what),
    })
}

// --- statement helpers ----------------------------------------------------------------------

/// Every row of a query.
pub(crate) fn all<T, P: Params>(
    c: &Connection,
    what: &'static str,
    sql: &str,
    params: P,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(|e| backend(e, what))?;
    let rows = stmt.query_map(params, map).map_err(|e| backend(e, what))?;
    rows.collect::<rusqlite::Result<Vec<T>>>().map_err(|e| backend(e, what))
}

/// The first row of a query, if any.
pub(crate) fn first<T, P: Params>(
    c: &Connection,
    what: &'static str,
    sql: &str,
    params: P,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(|e| backend(e, what))?;
    stmt.query_row(params, map).optional().map_err(|e| backend(e, what))
}

/// Whether a query returns a row.
pub(crate) fn exists<P: Params>(
    c: &Connection,
    what: &'static str,
    sql: &str,
    params: P,
) -> Result<bool, StoreError> {
    Ok(first(c, what, sql, params, |_| Ok(()))?.is_some())
}

/// Runs a write statement; the raw result, so callers can map constraint violations.
pub(crate) fn exec<P: Params>(c: &Connection, sql: &str, params: P) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

// --- column codecs --------------------------------------------------------------------------

fn bad_value(idx: usize, ty: Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, msg.into())
}

/// Timestamps are stored as RFC 3339 in UTC with nanoseconds: fixed width, so text order is
/// time order, and exact, so a value reads back equal to what was written.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(idx: usize, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad_value(idx, Type::Text, format!("bad timestamp {text:?}: {e}")))
}

fn time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_time(idx, &row.get::<_, String>(idx)?)
}

fn opt_time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(idx)?.map(|t| parse_time(idx, &t)).transpose()
}

/// The JSON lists kept in text columns.
pub(crate) trait JsonList: Sized {
    fn from_json(text: &str) -> serde_json::Result<Self>;
    fn to_json(&self) -> serde_json::Result<String>;
}

impl JsonList for Vec<String> {
    fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
    fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

impl JsonList for Vec<ResourceSpecificPermission> {
    fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
    fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }
}

/// Encodes a list for a JSON column.
pub(crate) fn json<T: JsonList>(value: &T, what: &'static str) -> Result<String, StoreError> {
    value.to_json().map_err(|e| {
        StoreError::Backend(
            anyhow::Error::new(e).context(format!("sqlite store: {what}: encoding JSON")),
        )
    })
}

fn parse_json<T: JsonList>(idx: usize, text: &str) -> rusqlite::Result<T> {
    T::from_json(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn json_col<T: JsonList>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    parse_json(idx, &row.get::<_, String>(idx)?)
}

fn opt_json_col<T: JsonList>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<String>>(idx)?.map(|t| parse_json(idx, &t)).transpose()
}

fn enum_col<T>(
    row: &Row<'_>,
    idx: usize,
    parse: fn(&str) -> Option<T>,
    name: &str,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| bad_value(idx, Type::Text, format!("unknown {name} {text:?}")))
}

pub(crate) fn parse_state(text: &str) -> Option<PublishingState> {
    PublishingState::parse(text)
}

// --- entities -------------------------------------------------------------------------------

pub(crate) fn signing_key(row: &Row<'_>) -> rusqlite::Result<SigningKey> {
    Ok(SigningKey { kid: row.get(0)?, private_pem: row.get(1)?, created_at: time_col(row, 2)? })
}

pub(crate) fn tenant(row: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant { id: row.get(0)?, display_name: row.get(1)? })
}

macro_rules! user_cols {
    () => {
        "tenant_id, id, user_principal_name, display_name, password, roles, mail, account_enabled, \
         user_type"
    };
}
pub(crate) use user_cols;

pub(crate) fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        tenant_id: row.get(0)?,
        id: row.get(1)?,
        user_principal_name: row.get(2)?,
        display_name: row.get(3)?,
        password: row.get(4)?,
        roles: json_col(row, 5)?,
        mail: row.get(6)?,
        account_enabled: row.get(7)?,
        user_type: row.get(8)?,
    })
}

macro_rules! chat_cols {
    () => {
        "tenant_id, id, chat_type, topic, members, join_web_url, created_date_time"
    };
}
pub(crate) use chat_cols;

pub(crate) fn chat(row: &Row<'_>) -> rusqlite::Result<Chat> {
    Ok(Chat {
        tenant_id: row.get(0)?,
        id: row.get(1)?,
        chat_type: row.get(2)?,
        topic: row.get(3)?,
        members: json_col(row, 4)?,
        join_web_url: row.get(5)?,
        created_date_time: opt_time_col(row, 6)?,
    })
}

macro_rules! team_cols {
    () => {
        "tenant_id, id, display_name, owners, members, description, visibility"
    };
}
pub(crate) use team_cols;

pub(crate) fn team(row: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        tenant_id: row.get(0)?,
        id: row.get(1)?,
        display_name: row.get(2)?,
        owners: json_col(row, 3)?,
        members: json_col(row, 4)?,
        description: row.get(5)?,
        visibility: row.get(6)?,
    })
}

macro_rules! application_cols {
    () => {
        "tenant_id, app_id, display_name, client_secret, application_permissions, \
         delegated_permissions, selected_teams_apps"
    };
}
pub(crate) use application_cols;

pub(crate) fn application(row: &Row<'_>) -> rusqlite::Result<Application> {
    Ok(Application {
        tenant_id: row.get(0)?,
        app_id: row.get(1)?,
        display_name: row.get(2)?,
        client_secret: row.get(3)?,
        application_permissions: json_col(row, 4)?,
        delegated_permissions: json_col(row, 5)?,
        selected_teams_apps: json_col(row, 6)?,
    })
}

macro_rules! app_cols {
    () => {
        "tenant_id, id, external_id, distribution_method"
    };
}
pub(crate) use app_cols;

pub(crate) fn app(row: &Row<'_>) -> rusqlite::Result<TeamsApp> {
    Ok(TeamsApp {
        tenant_id: row.get(0)?,
        id: row.get(1)?,
        external_id: row.get(2)?,
        distribution_method: enum_col(row, 3, DistributionMethod::parse, "distribution method")?,
    })
}

macro_rules! definition_cols {
    () => {
        "app_id, version, state, display_name, short_description, description, last_modified, \
         created_by, client_app_id, required_permissions, bot_id, allowed_team, \
         allowed_group_chat, allowed_personal, etag"
    };
}
pub(crate) use definition_cols;

pub(crate) fn definition(row: &Row<'_>) -> rusqlite::Result<AppDefinition> {
    Ok(AppDefinition {
        app_id: row.get(0)?,
        version: row.get(1)?,
        publishing_state: enum_col(row, 2, parse_state, "publishing state")?,
        display_name: row.get(3)?,
        short_description: row.get(4)?,
        description: row.get(5)?,
        last_modified: opt_time_col(row, 6)?,
        created_by: row.get(7)?,
        client_app_id: row.get(8)?,
        required_permissions: json_col(row, 9)?,
        bot_id: row.get(10)?,
        allowed_scopes: AllowedScopes {
            team: row.get(11)?,
            group_chat: row.get(12)?,
            personal: row.get(13)?,
        },
        etag: row.get(14)?,
    })
}

macro_rules! installation_cols {
    () => {
        "tenant_id, scope_kind, scope_id, app_id, version, consented"
    };
}
pub(crate) use installation_cols;

pub(crate) fn installation(row: &Row<'_>) -> rusqlite::Result<Installation> {
    Ok(Installation {
        tenant_id: row.get(0)?,
        scope: ScopeRef {
            kind: enum_col(row, 1, ScopeKind::parse, "scope kind")?,
            id: row.get(2)?,
        },
        app_id: row.get(3)?,
        version: row.get(4)?,
        consented: opt_json_col(row, 5)?,
    })
}

/// The publishing state a `state` column holds, from its text.
pub(crate) fn state_from_text(
    text: &str,
    what: &'static str,
) -> Result<PublishingState, StoreError> {
    parse_state(text).ok_or_else(|| {
        StoreError::Backend(anyhow::anyhow!(
            "sqlite store: {what}: unknown publishing state {text:?}"
        ))
    })
}
