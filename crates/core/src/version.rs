//! Manifest versions: numeric per-segment comparison, missing segments are 0 (spec section 11).

use std::cmp::Ordering;

/// Segments of a `MAJOR[.MINOR[.PATCH]]` version, or `None` when a segment is not a number.
pub fn segments(version: &str) -> Option<[u64; 3]> {
    let mut out = [0u64; 3];
    let parts: Vec<&str> = version.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for (slot, part) in out.iter_mut().zip(parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 9 {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(out)
}

/// Orders two versions; unparsable versions sort before parsable ones and then as strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (segments(a), segments(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => a.cmp(b),
    }
}

/// A string that sorts like the version, so the database can order and compare versions.
pub fn sort_key(version: &str) -> String {
    match segments(version) {
        Some([a, b, c]) => format!("{a:09}.{b:09}.{c:09}"),
        None => format!("000000000.000000000.000000000~{version}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically_per_segment() {
        assert_eq!(compare("1.10.0", "1.9.9"), Ordering::Greater);
        assert_eq!(compare("1.2", "1.2.0"), Ordering::Equal);
        assert_eq!(compare("0.9", "1.0.0"), Ordering::Less);
        assert!(sort_key("1.10.0") > sort_key("1.9.9"));
        assert!(sort_key("2") > sort_key("1.99.99"));
    }
}
