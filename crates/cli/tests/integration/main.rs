//! The integration suites, one test binary: each binary relinks the workspace, so one is
//! much cheaper to build than one per suite. Each module is one suite; `common` is the
//! harness (the real binary on port 0, a fresh database per test) and `common::graph` has
//! one request helper per Graph operation.

mod common;

mod aliases;
mod auth;
mod authorization;
mod batch;
mod catalog;
mod cli;
mod conformance;
mod controls;
mod directory;
mod durability;
mod faults;
mod first_runs;
mod fixtures;
mod grants;
mod health;
mod icons;
mod installations;
mod migrations;
mod multinode;
mod openapi;
mod paging;
mod persistence;
mod postgres_cli;
mod rollout;
mod smoke;
mod snapshots;
mod teamwork;
mod throttling;
mod tls;
mod wire_errors;
