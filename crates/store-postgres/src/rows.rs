//! Conversions between rows and entities.
//!
//! Nothing read from the database is trusted: a JSON list of the wrong shape, an unknown enum
//! value or a bad timestamp becomes a backend error, never a panic.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use teamsapps_core::model::{
    AllowedScopes, AppDefinition, Application, Chat, DistributionMethod, Installation,
    PublishingState, ScopeKind, ScopeRef, SigningKey, Team, TeamsApp, Tenant, User,
};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use crate::{corrupt, Failure};

pub(crate) type Decoded<T> = Result<T, Failure>;

/// Timestamps are stored as RFC 3339 in UTC with nanoseconds: fixed width, so text order is
/// time order, and exact, so a value reads back equal to what was written.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(what: &'static str, text: &str) -> Decoded<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(what, format_args!("bad timestamp {text:?}: {e}")))
}

fn json<T: DeserializeOwned>(row: &Row, idx: usize) -> Decoded<T> {
    Ok(row.try_get::<_, Json<T>>(idx)?.0)
}

fn opt_json<T: DeserializeOwned>(row: &Row, idx: usize) -> Decoded<Option<T>> {
    Ok(row.try_get::<_, Option<Json<T>>>(idx)?.map(|j| j.0))
}

fn enum_col<T>(
    row: &Row,
    idx: usize,
    parse: fn(&str) -> Option<T>,
    what: &'static str,
    name: &str,
) -> Decoded<T> {
    let text: String = row.try_get(idx)?;
    parse(&text).ok_or_else(|| corrupt(what, format_args!("unknown {name} {text:?}")))
}

pub(crate) fn state_from_text(text: &str, what: &'static str) -> Decoded<PublishingState> {
    PublishingState::parse(text)
        .ok_or_else(|| corrupt(what, format_args!("unknown publishing state {text:?}")))
}

// --- entities -------------------------------------------------------------------------------

pub(crate) fn signing_key(row: &Row, what: &'static str) -> Decoded<SigningKey> {
    Ok(SigningKey {
        kid: row.try_get(0)?,
        private_pem: row.try_get(1)?,
        created_at: parse_time(what, row.try_get(2)?)?,
    })
}

pub(crate) fn tenant(row: &Row) -> Decoded<Tenant> {
    Ok(Tenant { id: row.try_get(0)?, display_name: row.try_get(1)? })
}

macro_rules! user_cols {
    () => {
        "tenant_id, id, user_principal_name, display_name, password, roles, mail, account_enabled, \
         user_type"
    };
}
pub(crate) use user_cols;

pub(crate) fn user(row: &Row) -> Decoded<User> {
    Ok(User {
        tenant_id: row.try_get(0)?,
        id: row.try_get(1)?,
        user_principal_name: row.try_get(2)?,
        display_name: row.try_get(3)?,
        password: row.try_get(4)?,
        roles: json(row, 5)?,
        mail: row.try_get(6)?,
        account_enabled: row.try_get(7)?,
        user_type: row.try_get(8)?,
    })
}

macro_rules! chat_cols {
    () => {
        "tenant_id, id, chat_type, topic, members, join_web_url, created_date_time"
    };
}
pub(crate) use chat_cols;

pub(crate) fn chat(row: &Row) -> Decoded<Chat> {
    Ok(Chat {
        tenant_id: row.try_get(0)?,
        id: row.try_get(1)?,
        chat_type: row.try_get(2)?,
        topic: row.try_get(3)?,
        members: json(row, 4)?,
        join_web_url: row.try_get(5)?,
        created_date_time: row
            .try_get::<_, Option<String>>(6)?
            .map(|t| parse_time("chat", &t))
            .transpose()?,
    })
}

macro_rules! team_cols {
    () => {
        "tenant_id, id, display_name, owners, members, description, visibility"
    };
}
pub(crate) use team_cols;

pub(crate) fn team(row: &Row) -> Decoded<Team> {
    Ok(Team {
        tenant_id: row.try_get(0)?,
        id: row.try_get(1)?,
        display_name: row.try_get(2)?,
        owners: json(row, 3)?,
        members: json(row, 4)?,
        description: row.try_get(5)?,
        visibility: row.try_get(6)?,
    })
}

macro_rules! application_cols {
    () => {
        "tenant_id, app_id, display_name, client_secret, application_permissions, \
         delegated_permissions, selected_teams_apps"
    };
}
pub(crate) use application_cols;

pub(crate) fn application(row: &Row) -> Decoded<Application> {
    Ok(Application {
        tenant_id: row.try_get(0)?,
        app_id: row.try_get(1)?,
        display_name: row.try_get(2)?,
        client_secret: row.try_get(3)?,
        application_permissions: json(row, 4)?,
        delegated_permissions: json(row, 5)?,
        selected_teams_apps: json(row, 6)?,
    })
}

/// The app columns (`a.`) then the definition columns (`d.`) of `apps a LEFT JOIN definitions
/// d`: one row per definition, or one row with NULL definition columns for an app without any.
macro_rules! app_with_definition_cols {
    () => {
        "a.tenant_id, a.id, a.external_id, a.distribution_method, \
         d.app_id, d.version, d.state, d.display_name, d.short_description, d.description, \
         d.last_modified, d.created_by, d.client_app_id, d.required_permissions, d.bot_id, \
         d.allowed_team, d.allowed_group_chat, d.allowed_personal, d.etag"
    };
}
pub(crate) use app_with_definition_cols;

/// Columns of [`definition`], in order.
macro_rules! definition_cols {
    () => {
        "app_id, version, state, display_name, short_description, description, last_modified, \
         created_by, client_app_id, required_permissions, bot_id, allowed_team, \
         allowed_group_chat, allowed_personal, etag"
    };
}
pub(crate) use definition_cols;

/// The app whose columns start at `at`.
pub(crate) fn app(row: &Row, at: usize, what: &'static str) -> Decoded<TeamsApp> {
    Ok(TeamsApp {
        tenant_id: row.try_get(at)?,
        id: row.try_get(at + 1)?,
        external_id: row.try_get(at + 2)?,
        distribution_method: enum_col(
            row,
            at + 3,
            DistributionMethod::parse,
            what,
            "distribution method",
        )?,
    })
}

/// A definition whose columns start at `at` (0 for [`definition_cols`], 4 after the app's).
pub(crate) fn definition(row: &Row, at: usize, what: &'static str) -> Decoded<AppDefinition> {
    Ok(AppDefinition {
        app_id: row.try_get(at)?,
        version: row.try_get(at + 1)?,
        publishing_state: state_from_text(row.try_get(at + 2)?, what)?,
        display_name: row.try_get(at + 3)?,
        short_description: row.try_get(at + 4)?,
        description: row.try_get(at + 5)?,
        last_modified: row
            .try_get::<_, Option<&str>>(at + 6)?
            .map(|t| parse_time(what, t))
            .transpose()?,
        created_by: row.try_get(at + 7)?,
        client_app_id: row.try_get(at + 8)?,
        required_permissions: json(row, at + 9)?,
        bot_id: row.try_get(at + 10)?,
        allowed_scopes: AllowedScopes {
            team: row.try_get(at + 11)?,
            group_chat: row.try_get(at + 12)?,
            personal: row.try_get(at + 13)?,
        },
        etag: row.try_get(at + 14)?,
    })
}

/// Whether the joined row carries a definition (its `d.app_id` is not NULL).
/// Whether the row of an outer join holds a value in column `at` (the first of an app's or a
/// definition's columns, all NOT NULL in their table).
pub(crate) fn is_present(row: &Row, at: usize) -> Decoded<bool> {
    Ok(row.try_get::<_, Option<&str>>(at)?.is_some())
}

macro_rules! installation_cols {
    () => {
        "tenant_id, scope_kind, scope_id, app_id, version, consented"
    };
}
pub(crate) use installation_cols;

pub(crate) fn installation(row: &Row, what: &'static str) -> Decoded<Installation> {
    Ok(Installation {
        tenant_id: row.try_get(0)?,
        scope: ScopeRef {
            kind: enum_col(row, 1, ScopeKind::parse, what, "scope kind")?,
            id: row.try_get(2)?,
        },
        app_id: row.try_get(3)?,
        version: row.try_get(4)?,
        consented: opt_json(row, 5)?,
    })
}
