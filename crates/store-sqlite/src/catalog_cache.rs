//! Decoded catalog apps kept in memory between reads.
//!
//! Requests about installations read their apps (and the apps' definitions) again and again,
//! and the catalog changes rarely: decoding those rows was most of a request's store time.
//! Every change to `apps` or `definitions` bumps `catalog_generation` in the same transaction
//! (triggers, migration 0004), so a read transaction that sees generation G sees exactly the
//! catalog that any other snapshot at G saw. The cache holds apps read at one generation and
//! answers only reads whose snapshot shows that generation: a catalog write committed by this
//! store, another store on the same file or another process is never answered from the cache
//! once a read's snapshot includes it.
//!
//! Only reads on a read-only reader connection use it. A read queued to the writer thread runs
//! inside the group's write transaction, where the generation may include changes that are not
//! committed yet (and may still be rolled back): such reads go to the tables.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use teamsapps_core::model::CatalogApp;
use teamsapps_core::store::StoreResult;

use crate::rows::first;

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

impl CatalogCache {
    /// The app as read at `generation`, if cached. A newer generation empties the cache (its
    /// entries are of an older catalog); an older one (a snapshot that began before the last
    /// catalog commit) finds nothing.
    fn get(&self, generation: i64, tenant_id: &str, app_id: &str) -> Option<Arc<CatalogApp>> {
        let mut state = crate::lock(&self.state);
        if generation > state.generation {
            state.generation = generation;
            state.apps.clear();
            return None;
        }
        if generation < state.generation {
            return None;
        }
        state.apps.get(tenant_id)?.get(app_id).cloned()
    }

    /// Keeps `app`, read at `generation`, unless the cache has moved on to another one.
    fn put(&self, generation: i64, app: &Arc<CatalogApp>) {
        let mut state = crate::lock(&self.state);
        if generation != state.generation {
            return;
        }
        let tenant = match state.apps.get_mut(&app.app.tenant_id) {
            Some(tenant) => tenant,
            None => state.apps.entry(app.app.tenant_id.clone()).or_default(),
        };
        tenant.insert(app.app.id.clone(), Arc::clone(app));
    }
}

/// How one read transaction reaches catalog apps: through the cache on a reader, straight to
/// the tables on the writer.
pub(crate) struct CatalogReads<'a> {
    cache: Option<&'a CatalogCache>,
    /// The snapshot's generation, read at the first lookup.
    generation: Cell<Option<i64>>,
}

impl<'a> CatalogReads<'a> {
    /// Lookups of a read-only transaction: cached.
    pub(crate) fn cached(cache: &'a CatalogCache) -> Self {
        CatalogReads { cache: Some(cache), generation: Cell::new(None) }
    }

    /// Lookups inside a write transaction: never cached (see the module docs).
    pub(crate) fn uncached() -> Self {
        CatalogReads { cache: None, generation: Cell::new(None) }
    }

    /// The app `app_id` of `tenant_id` with its definitions, from the cache when this
    /// snapshot's generation matches it, else by `read` (and then cached).
    pub(crate) fn app(
        &self,
        c: &Connection,
        tenant_id: &str,
        app_id: &str,
        what: &'static str,
        read: impl FnOnce() -> StoreResult<Option<CatalogApp>>,
    ) -> StoreResult<Option<Arc<CatalogApp>>> {
        let Some(cache) = self.cache else { return Ok(read()?.map(Arc::new)) };
        let generation = match self.generation.get() {
            Some(g) => g,
            None => {
                let g = first(
                    c,
                    what,
                    "SELECT generation FROM catalog_generation WHERE id = 1",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .unwrap_or(0);
                self.generation.set(Some(g));
                g
            }
        };
        if let Some(hit) = cache.get(generation, tenant_id, app_id) {
            return Ok(Some(hit));
        }
        let Some(app) = read()?.map(Arc::new) else { return Ok(None) };
        cache.put(generation, &app);
        Ok(Some(app))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teamsapps_core::model::{DistributionMethod, TeamsApp};

    fn app(id: &str, name: &str) -> Arc<CatalogApp> {
        Arc::new(CatalogApp {
            app: TeamsApp {
                tenant_id: "t".into(),
                id: id.into(),
                external_id: Some(name.into()),
                distribution_method: DistributionMethod::Organization,
            },
            definitions: Vec::new(),
        })
    }

    #[test]
    fn answers_only_reads_at_its_generation() {
        let cache = CatalogCache::default();
        assert!(cache.get(5, "t", "a").is_none());
        cache.put(5, &app("a", "v5"));
        assert_eq!(cache.get(5, "t", "a").unwrap().app.external_id.as_deref(), Some("v5"));
        // An older snapshot never sees what a newer one read.
        assert!(cache.get(4, "t", "a").is_none());
        // A newer generation drops everything; a late put from an older snapshot is ignored.
        assert!(cache.get(6, "t", "a").is_none());
        cache.put(5, &app("a", "v5"));
        assert!(cache.get(6, "t", "a").is_none());
        cache.put(6, &app("a", "v6"));
        assert_eq!(cache.get(6, "t", "a").unwrap().app.external_id.as_deref(), Some("v6"));
        assert!(cache.get(6, "other", "a").is_none());
    }
}
