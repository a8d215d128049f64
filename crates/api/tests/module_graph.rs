//! The modules of this crate form no circle: no module uses, directly or through others, a
//! module that uses it back. Read from the sources: every `crate::…`, `super::…` and
//! child-module path is an edge from the file that writes it to the module file it names (the
//! longest prefix that is a module). Test code (`#[cfg(test)]` and below, `tests.rs`) is left out:
//! tests may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> =
        rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod") | Some("lib")) {
        parts.pop();
    }
    parts
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The paths written after `prefix::` at byte `at` of `text`: one path, or each entry of a
/// `{…}` group (only its leading segments matter).
fn paths_after(text: &str, at: usize) -> Vec<Vec<String>> {
    let rest = &text[at..];
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let inner = &group[..end];
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(segments(inner[start..i].trim()));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(segments(inner[start..].trim()));
        out.retain(|p| !p.is_empty());
        return out;
    }
    vec![segments(rest)]
}

fn segments(mut s: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(id) = ident_at(s) {
        out.push(id.to_string());
        match s[id.len()..].strip_prefix("::") {
            Some(r) => s = r,
            None => break,
        }
    }
    out
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeMap<Module, String> = all
        .iter()
        .map(|f| (module_of(&src, f), code(&std::fs::read_to_string(f).unwrap())))
        .collect();
    let known: BTreeSet<&Module> = modules.keys().collect();
    let resolve = |path: Vec<String>| -> Module {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| known.contains(p))
            .unwrap_or_default()
    };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &modules {
        let children: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let l = l.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
                l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')).map(str::to_string)
            })
            .collect();
        let mut targets = BTreeSet::new();
        let bytes = text.as_bytes();
        for (i, _) in text.char_indices() {
            // Only at the start of a path: not inside `a::crate`, not inside an identifier.
            let preceded = i > 0
                && (bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':');
            if preceded {
                continue;
            }
            let rest = &text[i..];
            let Some(first) = ident_at(rest) else { continue };
            let Some(after) = rest[first.len()..].strip_prefix("::") else { continue };
            let at = i + first.len() + 2;
            let base: Module = match first {
                "crate" => Vec::new(),
                "super" => {
                    let mut m = module.clone();
                    m.pop();
                    // `super::super::…`
                    let mut a = after;
                    let mut at = at;
                    while let Some(r) = a.strip_prefix("super::") {
                        m.pop();
                        a = r;
                        at += "super::".len();
                    }
                    for p in paths_after(text, at) {
                        let full = [m.clone(), p].concat();
                        targets.insert(resolve(full));
                    }
                    continue;
                }
                "self" => module.clone(),
                child if children.iter().any(|c| c == child) => {
                    let mut m = module.clone();
                    m.push(child.to_string());
                    targets.insert(resolve([m, segments(after)].concat()));
                    continue;
                }
                _ => continue,
            };
            for p in paths_after(text, at) {
                targets.insert(resolve([base.clone(), p].concat()));
            }
        }
        targets.remove(module);
        edges.insert(module.clone(), targets);
    }
    // A circle is a path from a module back to itself.
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, trail)) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if next == start {
                    let names: Vec<String> = trail
                        .iter()
                        .chain([start])
                        .map(|m| format!("crate::{}", m.join("::")))
                        .collect();
                    circles.push(names.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    assert!(circles.is_empty(), "module circles in crates/api:\n{}", circles.join("\n"));
}
