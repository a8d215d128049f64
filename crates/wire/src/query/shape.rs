//! Response shaping: `$select` and `$expand` applied to an entity's full JSON view.

use serde_json::{Map, Value};

#[cfg(test)]
use super::eval::{member, passes};
use super::options::{ExpandItem, ODataQuery};
use crate::metadata::EntityType;
use crate::odata::ApiVersion;

impl ODataQuery {
    /// [`shape`] with this query's `$select` and `$expand`.
    pub fn shape(&self, full: Value, ty: &'static EntityType, version: ApiVersion) -> Value {
        shape(full, ty, version, self.select.as_deref(), &self.expand)
    }
}

/// Shapes an entity for output. `full` holds every property and navigation of the entity
/// (navigations fully materialised: objects, arrays, or null/absent). The output keeps the
/// annotations (keys starting with `@`), then the `$select`-ed properties (or the default
/// `properties` when there is no `$select`; `select_only` properties only when selected; `*`
/// means all default properties), then each expanded navigation shaped recursively with its own
/// nested select/expand (and nested `$filter`). An expanded single-valued navigation whose value
/// is null/absent is omitted (spec 1.4); an expanded collection that is absent becomes `[]`.
/// Non-expanded navigations are dropped. A property missing from `full` is emitted as `null`.
/// `full` is consumed: values move into the output (for lists, copying them was a third of the
/// rendering work); a member read twice (names equal but for case) is copied.
/// Where each output member comes from: the entry of the view `member` finds for it (exact
/// name first, else the first name equal ignoring ASCII case), as the wire shaping looks up.
fn find(entries: &[(String, Value)], key: &str) -> Option<usize> {
    entries
        .iter()
        .position(|(k, _)| k == key)
        .or_else(|| entries.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)))
}

/// Takes entry `i` when no later output member reads it, else clones it.
fn take(entries: &mut [(String, Value)], uses: &mut [u8], i: usize) -> Value {
    uses[i] -= 1;
    if uses[i] == 0 {
        std::mem::take(&mut entries[i].1)
    } else {
        entries[i].1.clone()
    }
}

/// The output name `name` as a `String`: the view's own key when entry `i` is spelled so and
/// read for the last time (no new allocation), else a copy.
fn key(entries: &mut [(String, Value)], uses: &[u8], at: Option<usize>, name: &str) -> String {
    match at {
        Some(i) if uses[i] == 0 && entries[i].0 == name => std::mem::take(&mut entries[i].0),
        _ => name.to_string(),
    }
}

pub fn shape(
    full: Value,
    ty: &'static EntityType,
    version: ApiVersion,
    select: Option<&[String]>,
    expand: &[ExpandItem],
) -> Value {
    let Value::Object(obj) = full else {
        return full;
    };
    let mut out = Map::new();
    // Annotations first, in the view's order; the rest stays addressable by position.
    let mut entries: Vec<(String, Value)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        if k.starts_with('@') {
            out.insert(k, v);
        } else {
            entries.push((k, v));
        }
    }
    let selected =
        |name: &str| select.is_some_and(|s| s.iter().any(|x| x.eq_ignore_ascii_case(name)));
    let all_defaults = match select {
        None => true,
        Some(s) => s.iter().any(|x| x == "*"),
    };
    let props: Vec<&'static str> = ty
        .properties
        .iter()
        .filter(|p| all_defaults || selected(p))
        .chain(ty.select_only.iter().filter(|p| selected(p)))
        .copied()
        .collect();
    let navs: Vec<_> = expand
        .iter()
        .filter_map(|item| ty.navigation(&item.navigation).map(|nav| (item, nav)))
        .collect();
    // Count the reads of each entry first, so that only an entry read twice is copied.
    let mut uses = vec![0u8; entries.len()];
    let prop_at: Vec<Option<usize>> = props.iter().map(|p| find(&entries, p)).collect();
    let nav_at: Vec<Option<usize>> = navs.iter().map(|(_, nav)| find(&entries, nav.name)).collect();
    for i in prop_at.iter().chain(&nav_at).flatten() {
        uses[*i] = uses[*i].saturating_add(1);
    }
    for (p, at) in props.iter().zip(&prop_at) {
        let value = at.map_or(Value::Null, |i| take(&mut entries, &mut uses, i));
        out.insert(key(&mut entries, &uses, *at, p), value);
    }
    for ((item, nav), at) in navs.iter().zip(&nav_at) {
        let target = (nav.target)(version);
        let value = at.map(|i| take(&mut entries, &mut uses, i));
        let keep = |v: &Value| item.filter.as_ref().is_none_or(|f| f.matches(v));
        let shape_one = |v: Value| shape(v, target, version, item.select.as_deref(), &item.expand);
        if nav.collection {
            let items = match value {
                Some(Value::Array(a)) => a.into_iter().filter(|v| keep(v)).map(shape_one).collect(),
                _ => Vec::new(),
            };
            out.insert(key(&mut entries, &uses, *at, nav.name), Value::Array(items));
        } else if let Some(v) = value.filter(|v| v.is_object()).filter(|v| keep(v)) {
            out.insert(key(&mut entries, &uses, *at, nav.name), shape_one(v));
        }
    }
    Value::Object(out)
}

/// The first, copying implementation of [`shape`], kept as the tests' oracle.
#[cfg(test)]
pub(super) fn shape_by_reference(
    full: &Value,
    ty: &'static EntityType,
    version: ApiVersion,
    select: Option<&[String]>,
    expand: &[ExpandItem],
) -> Value {
    let Some(obj) = full.as_object() else {
        return full.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        if k.starts_with('@') {
            out.insert(k.clone(), v.clone());
        }
    }
    let selected =
        |name: &str| select.is_some_and(|s| s.iter().any(|x| x.eq_ignore_ascii_case(name)));
    let all_defaults = match select {
        None => true,
        Some(s) => s.iter().any(|x| x == "*"),
    };
    let props = ty.properties.iter().filter(|p| all_defaults || selected(p));
    for p in props.chain(ty.select_only.iter().filter(|p| selected(p))) {
        out.insert(p.to_string(), member(full, p).cloned().unwrap_or(Value::Null));
    }
    for item in expand {
        let Some(nav) = ty.navigation(&item.navigation) else {
            continue;
        };
        let target = (nav.target)(version);
        let value = member(full, nav.name);
        let keep = |v: &&Value| passes(item.filter.as_ref(), v);
        let shape_one = |v: &Value| {
            shape_by_reference(v, target, version, item.select.as_deref(), &item.expand)
        };
        if nav.collection {
            let items = value
                .and_then(Value::as_array)
                .map(|a| a.iter().filter(keep).map(shape_one).collect())
                .unwrap_or_default();
            out.insert(nav.name.to_string(), Value::Array(items));
        } else if let Some(v) = value.filter(|v| v.is_object()).filter(keep) {
            out.insert(nav.name.to_string(), shape_one(v));
        }
    }
    Value::Object(out)
}
