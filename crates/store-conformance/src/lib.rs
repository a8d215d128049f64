//! The storage conformance suite: the [`Store`] contract as tests, run by every backend.
//!
//! Each test is a plain `pub async fn` in [`tests`] taking a fresh, empty database
//! ([`TestDb`]). A backend runs all of them with one line in its integration tests:
//!
//! ```ignore
//! async fn fresh(test: &'static str) -> Option<Arc<dyn TestDb>> { … }
//! teamsapps_store_conformance::conformance_tests!(fresh);
//! ```
//!
//! which emits one `#[tokio::test]` per test (multi-threaded, so that the racing tests race),
//! named like the test. `fresh` returns `None` when the backend cannot run here (and has said
//! so loudly); the test then returns without running. [`ALL`] lists the same tests for a
//! runner of one's own. Both come from the one list in `__with_test_names!`, and a unit test
//! checks that every test function is on it.

pub mod fixtures;
pub mod spans;
pub mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use teamsapps_core::Store;

/// A fresh database for one test.
#[async_trait]
pub trait TestDb: Send + Sync {
    /// The store under test, on the fresh database.
    fn store(&self) -> Arc<dyn Store>;
    /// Another store on the same database, opened as a second node or process would open it
    /// (its own connections): the racing tests race the two.
    async fn another(&self) -> Arc<dyn Store>;
}

/// One test of the suite.
pub type TestFn = fn(Arc<dyn TestDb>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Calls `callback! { [args] name name … }` with the name of every test of the suite.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_test_names {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! {
            [$($args)*]
            signing_keys_newest_first
            seed_is_idempotent
            seed_upserts_directory_but_leaves_catalog_alone
            seed_is_one_transaction
            user_by_id_or_upn_case_insensitively
            directory_lists_are_per_tenant_and_ordered_by_id
            case_folding_is_ascii_only
            tenant_settings_default_until_set
            create_and_read_apps
            create_app_conflicts
            add_definition_rules
            replacing_a_rejected_definition_keeps_its_installations
            list_apps_orders_apps_by_id_and_definitions_by_version
            ordering_is_by_bytes
            transition_definition_outcomes
            delete_app_cascades
            delete_definition_only_in_state_and_cascades
            installation_lifecycle_and_conflicts
            scope_installation_reads_scope_installation_and_app_together
            get_apps_answers_the_existing_apps_once_each
            concurrent_writes_all_commit_and_failures_stay_alone
            upgrade_never_moves_backwards
            upgrade_compares_versions_numerically
            a_second_store_sees_every_write
            catalog_writes_are_visible_to_the_next_read
            ids_with_nul_name_nothing
            racing_upgrades_end_at_the_newest
            racing_upgrades_on_two_nodes_never_move_backwards
            concurrent_creates_of_one_installation_one_wins
            racing_installs_on_two_nodes_one_wins_per_scope
            racing_app_creates_one_wins_and_name_the_conflict
            racing_definitions_of_one_version_one_wins
            racing_transitions_one_wins
            concurrent_seeds_apply_once
            racing_writes_and_deletes_leave_no_dangling_installation
            snapshot_restore_is_exact
            wipe_removes_all_data_but_keys_and_snapshots
            every_call_runs_in_a_span_naming_it_and_its_tenant
        }
    };
}

/// Emits one `#[tokio::test]` per conformance test, each on a database from
/// `$fresh("module::test_name").await` (an `Option<Arc<dyn TestDb>>`; `None` skips).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:path) => {
        $crate::__with_test_names!([$crate::__emit_tests] $fresh);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_tests {
    ([$fresh:path] $($name:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if let Some(db) = $fresh(concat!(module_path!(), "::", stringify!($name))).await {
                    $crate::tests::$name(db).await;
                }
            }
        )*
    };
}

macro_rules! all_tests {
    ([] $($name:ident)*) => {
        /// Every test of the suite, by name.
        pub const ALL: &[(&str, TestFn)] = &[
            $((stringify!($name), (|db| Box::pin(tests::$name(db))) as TestFn),)*
        ];
    };
}

__with_test_names!([all_tests]);

#[cfg(test)]
mod unit {
    use super::ALL;

    /// A test written but left off the list would silently never run.
    #[test]
    fn every_test_function_is_listed() {
        let source = include_str!("tests.rs");
        let defined: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .map(|l| l.split('(').next().unwrap_or(l))
            .collect();
        let listed: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        for name in &defined {
            assert!(listed.contains(name), "{name} is not in __with_test_names!");
        }
        assert_eq!(defined.len(), listed.len(), "listed tests that do not exist?");
        let mut unique = listed.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), listed.len(), "a test is listed twice");
    }
}
