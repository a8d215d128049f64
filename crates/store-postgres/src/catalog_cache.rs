//! Decoded catalog apps kept in memory between reads, on each node.
//!
//! Requests about installations read their apps (and the apps' definitions) again and again,
//! and the catalog changes rarely. Every statement that changes `apps` or `definitions` bumps
//! `catalog_generation` in its transaction (triggers, migration 0004), so a snapshot that shows
//! generation G shows exactly the catalog every other snapshot at G showed, whichever node
//! wrote it. The cache holds apps read at one generation; a read sends that generation with
//! its query, and the one statement reads the current generation and, in the same snapshot,
//! the apps the cache cannot answer: all the asked ones when the generation moved on (the
//! cache is then dropped), only those it lacks when it did not. A catalog write committed by
//! any node is therefore never answered from a cache once a read's statement can see it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use teamsapps_core::model::CatalogApp;

/// The apps read at one catalog generation, by tenant and app id.
#[derive(Default)]
pub(crate) struct CatalogCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The generation every entry was read at (0: nothing read yet; generations start at 1).
    generation: i64,
    apps: HashMap<String, HashMap<String, Arc<CatalogApp>>>,
}

/// What the cache knows about some ids before the read.
pub(crate) struct Lookup {
    /// The generation of the entries below (0 when the cache is empty).
    pub(crate) generation: i64,
    /// The asked apps it holds, valid only if the read sees `generation`.
    pub(crate) hits: Vec<Arc<CatalogApp>>,
    /// The asked ids it does not hold (absent apps are not cached: asked again each time).
    pub(crate) missing: Vec<String>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CatalogCache {
    /// The cached apps among `ids` of `tenant_id`, and the ids it lacks.
    pub(crate) fn lookup(&self, tenant_id: &str, ids: &[&str]) -> Lookup {
        let state = lock(&self.state);
        let tenant = state.apps.get(tenant_id);
        let mut hits = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match tenant.and_then(|t| t.get(*id)) {
                Some(app) => hits.push(Arc::clone(app)),
                None => missing.push((*id).to_owned()),
            }
        }
        Lookup { generation: state.generation, hits, missing }
    }

    /// Keeps `apps`, read at `generation`. A newer generation first drops every entry (they are
    /// of an older catalog); apps read at an older one (a statement whose snapshot began before
    /// another's that already moved the cache on) are not kept.
    pub(crate) fn put(&self, generation: i64, apps: &[Arc<CatalogApp>]) {
        let mut state = lock(&self.state);
        if generation > state.generation {
            state.generation = generation;
            state.apps.clear();
        }
        if generation != state.generation {
            return;
        }
        for app in apps {
            let tenant = match state.apps.get_mut(&app.app.tenant_id) {
                Some(tenant) => tenant,
                None => state.apps.entry(app.app.tenant_id.clone()).or_default(),
            };
            tenant.insert(app.app.id.clone(), Arc::clone(app));
        }
    }
}

/// The answer to a read of `ids`: the lookup's hits when the statement saw the lookup's
/// generation, plus the apps the statement read (which the cache then keeps), ordered by id.
pub(crate) fn settle(
    cache: &CatalogCache,
    lookup: Lookup,
    seen: i64,
    read: Vec<CatalogApp>,
) -> Vec<Arc<CatalogApp>> {
    let read: Vec<Arc<CatalogApp>> = read.into_iter().map(Arc::new).collect();
    cache.put(seen, &read);
    let mut out = if seen == lookup.generation { lookup.hits } else { Vec::new() };
    out.extend(read);
    out.sort_by(|a, b| a.app.id.cmp(&b.app.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use teamsapps_core::model::{DistributionMethod, TeamsApp};

    fn app(id: &str, name: &str) -> CatalogApp {
        CatalogApp {
            app: TeamsApp {
                tenant_id: "t".into(),
                id: id.into(),
                external_id: Some(name.into()),
                distribution_method: DistributionMethod::Organization,
            },
            definitions: Vec::new(),
        }
    }

    fn names(apps: &[Arc<CatalogApp>]) -> Vec<&str> {
        apps.iter().map(|a| a.app.external_id.as_deref().unwrap_or("")).collect()
    }

    #[test]
    fn hits_count_only_when_the_read_saw_their_generation() {
        let cache = CatalogCache::default();
        let first = cache.lookup("t", &["a", "b"]);
        assert_eq!((first.generation, first.missing.len()), (0, 2));
        let got = settle(&cache, first, 5, vec![app("b", "b5"), app("a", "a5")]);
        assert_eq!(names(&got), ["a5", "b5"]);

        // Same generation: a and b come from memory, c is read.
        let second = cache.lookup("t", &["a", "b", "c"]);
        assert_eq!((second.generation, second.hits.len()), (5, 2));
        assert_eq!(second.missing, ["c"]);
        let got = settle(&cache, second, 5, vec![app("c", "c5")]);
        assert_eq!(names(&got), ["a5", "b5", "c5"]);

        // The statement saw generation 6: the hits are of an older catalog and are dropped;
        // the statement read every asked app again.
        let third = cache.lookup("t", &["a", "b"]);
        assert_eq!(third.hits.len(), 2);
        let got = settle(&cache, third, 6, vec![app("a", "a6")]);
        assert_eq!(names(&got), ["a6"]);
        let fourth = cache.lookup("t", &["a", "b", "c"]);
        assert_eq!((fourth.generation, fourth.missing.clone()), (6, vec!["b".into(), "c".into()]));

        // A late answer from an older snapshot is returned but not kept.
        let got = settle(&cache, fourth, 5, vec![app("b", "b5")]);
        assert_eq!(names(&got), ["b5"]);
        assert_eq!(cache.lookup("t", &["b"]).missing, ["b"]);
        assert_eq!(cache.lookup("other", &["a"]).missing, ["a"]);
    }
}
