//! The source tree keeps the shape `lib.rs`'s Layout section promises: every `use crate::` (and `super::`)
//! follows the stage order, no two files import each other in a circle, no source file grows past 600 lines,
//! no `mod.rs` holds logic, and every module opens with a comment saying what it owns.
//!
//! This reads the source as text: it is a guard on the tree, not on behaviour.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The library's stages, lowest first. A module may import its own stage and the stages before it, except that
/// the two runners (`sim` and `real`, the same rank) never import each other.
const STAGES: [(&str, usize); 7] =
    [("sut", 0), ("model", 1), ("judge", 2), ("sim", 3), ("real", 3), ("hunt", 4), ("report", 5)];

/// The longest a source file may be.
const MAX_LINES: usize = 600;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/src")
}

/// Every `.rs` file under `dir`, as (module path like `judge::view`, file).
fn modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "snapshots" {
                let mut deeper = prefix.to_vec();
                deeper.push(name);
                modules(&path, &deeper, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut parts = prefix.to_vec();
            if !matches!(name.as_str(), "mod" | "lib" | "main") {
                parts.push(name);
            }
            out.insert(parts.join("::"), path);
        }
    }
}

/// The code of a file without its test module and comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The modules of `all` that `module`'s code names through `crate::` or `super::`.
fn imports(module: &str, code: &str, all: &BTreeMap<String, PathBuf>) -> Vec<String> {
    let mut found = Vec::new();
    // `super` of `judge::view` (view.rs) is `judge`; of `judge` (judge/mod.rs) the crate root.
    let mut parent: Vec<&str> = module.split("::").collect();
    parent.pop();
    let words: Vec<(usize, &str)> =
        code.match_indices(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).collect();
    let mut start = 0;
    let mut tokens = Vec::new();
    for (at, sep) in words {
        tokens.push(&code[start..at]);
        start = at + sep.len();
    }
    tokens.push(&code[start..]);
    // `use crate::a::{b, c}` names `a::b` and `a::c`: the brace groups are expanded by reading the first word
    // after each `{` or `,` in a `use` line against the path before the brace.
    for line in code.split(';') {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("use ").or_else(|| line.strip_prefix("pub use ")) else { continue };
        for path in expand(rest.trim()) {
            if let Some(target) = resolve(&path, &parent, all) {
                found.push(target);
            }
        }
    }
    for token in tokens {
        if token.starts_with("crate::") || token.starts_with("super::") {
            if let Some(target) = resolve(token, &parent, all) {
                found.push(target);
            }
        }
    }
    found.retain(|t| t != module && !module.starts_with(&format!("{t}::")) && !t.is_empty());
    found.sort();
    found.dedup();
    found
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else { return vec![path.to_string()] };
    let head = &path[..open];
    let inner = &path[open + 1..path.rfind('}').unwrap_or(path.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(inner[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).flat_map(|p| expand(&format!("{head}{p}"))).collect()
}

/// The longest module of `all` that `path` names, relative to the crate or to `parent` (for `super::`).
fn resolve(path: &str, parent: &[&str], all: &BTreeMap<String, PathBuf>) -> Option<String> {
    let path = path.split(" as ").next().unwrap().trim();
    let absolute: Vec<String> = if let Some(rest) = path.strip_prefix("crate::") {
        rest.split("::").map(String::from).collect()
    } else if let Some(rest) = path.strip_prefix("super::") {
        parent.iter().map(|s| s.to_string()).chain(rest.split("::").map(String::from)).collect()
    } else {
        return None;
    };
    (1..=absolute.len()).rev().map(|k| absolute[..k].join("::")).find(|m| all.contains_key(m))
}

fn stage(module: &str) -> Option<(&'static str, usize)> {
    let top = module.split("::").next().unwrap();
    STAGES.iter().find(|(name, _)| *name == top).copied()
}

fn library() -> BTreeMap<String, PathBuf> {
    let mut all = BTreeMap::new();
    modules(&src(), &[], &mut all);
    // The binary's modules (`cli/`, `main.rs`) import the library by name, never through `crate::` paths of it.
    all.retain(|m, _| !m.is_empty() && !m.starts_with("cli"));
    all
}

#[test]
fn imports_follow_the_stage_order() {
    let all = library();
    let mut wrong = Vec::new();
    for (module, path) in &all {
        let Some((from, rank)) = stage(module) else { continue };
        for target in imports(module, &code(path), &all) {
            let Some((to, target_rank)) = stage(&target) else { continue };
            if target_rank > rank || (from != to && target_rank == rank) {
                wrong.push(format!("{module} ({from}) imports {target} ({to})"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the stage order of lib.rs:\n{}", wrong.join("\n"));
}

#[test]
fn no_circle_between_files() {
    let all = library();
    let graph: BTreeMap<String, Vec<String>> =
        all.iter().map(|(m, p)| (m.clone(), imports(m, &code(p), &all))).collect();
    // Depth-first search with colours: reaching a grey module again closes a circle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, Vec<String>>,
        colour: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        colour.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            match colour.get(next).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == next).unwrap();
                    let mut circle = stack[from..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, colour, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        colour.insert(m.to_string(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for m in graph.keys() {
        if colour.get(m).copied().unwrap_or(0) == 0 {
            if let Some(circle) = visit(m, &graph, &mut colour, &mut Vec::new()) {
                panic!("import circle: {}", circle.join(" -> "));
            }
        }
    }
}

#[test]
fn the_checker_sees_a_circle_and_an_upward_import() {
    // The checks above must be able to fail: a planted upward import and a planted circle are found.
    let mut all = BTreeMap::new();
    for m in ["sut::net", "model::trace", "judge::view", "judge::tally"] {
        all.insert(m.to_string(), PathBuf::from(format!("{m}.rs")));
    }
    let upward = imports("sut::net", "use crate::model::trace::{Event, Run};", &all);
    assert_eq!(upward, ["model::trace"]);
    assert!(stage("model::trace").unwrap().1 > stage("sut::net").unwrap().1);
    let sibling = imports("judge::view", "use super::tally::SuiteReport; let x = super::tally::f();", &all);
    assert_eq!(sibling, ["judge::tally"]);
    assert_eq!(expand("a::{b, c::{d, e}}"), ["a::b", "a::c::d", "a::c::e"]);
}

#[test]
fn no_file_is_too_long_and_every_module_says_what_it_owns() {
    let mut all = BTreeMap::new();
    modules(&src(), &[], &mut all);
    let mut wrong = Vec::new();
    for path in all.values() {
        let text = std::fs::read_to_string(path).unwrap();
        let lines = text.lines().count();
        let name = path.strip_prefix(src()).unwrap().display().to_string();
        if lines > MAX_LINES {
            wrong.push(format!("{name}: {lines} lines (at most {MAX_LINES})"));
        }
        if !text.starts_with("//!") {
            wrong.push(format!("{name}: does not open with a `//!` comment saying what it owns"));
        }
        if path.ends_with("mod.rs") {
            let logic = text.lines().map(str::trim).find(|l| {
                !(l.is_empty()
                    || l.starts_with("//")
                    || l.starts_with("#[cfg(test)]")
                    || l.starts_with("pub mod ")
                    || l.starts_with("mod ")
                    || l.starts_with("pub use "))
            });
            if let Some(line) = logic {
                wrong.push(format!("{name}: a mod.rs holds only declarations, found `{line}`"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
