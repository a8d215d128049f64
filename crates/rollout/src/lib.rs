//! `teamsapps rollout`: moves every installation of a Teams app to a new version through
//! Microsoft Graph, real or teamsapps, at Graph's rate limit and resumable from a journal.
//!
//! `graph` signs in and calls Graph with retries and adaptive concurrency; `plan` finds the
//! installations; `journal` keeps the plan and every target's state; `run` upgrades them in
//! waves; `report` writes what happened. Nothing here calls anything teamsapps-specific.

pub mod graph;
pub mod journal;
pub mod plan;
pub mod report;
pub mod run;
