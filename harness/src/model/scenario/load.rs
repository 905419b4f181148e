//! Loading scenario files: reading them, applying `[[twins]]` patches, and locating every mistake as
//! `file:line:column: what is wrong`. One scenario's text is resolved in `file.rs`; nothing here runs anything.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::model::property::Property;

use super::file::{line_column, parse_one};

include!(concat!(env!("OUT_DIR"), "/suite.rs"));
use super::types::{Scenario, ScenarioError, Twin};

impl Scenario {
    /// Loads and validates one scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = read_regular(path)?;
        Scenario::parse(path, &text)
    }

    /// Loads every `*.toml` file of a directory, sorted by name. The first bad file is an error: a file is never
    /// skipped.
    pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        let unreadable = |e: std::io::Error| ScenarioError::Read { path: dir.to_owned(), reason: e.to_string() };
        let entries = std::fs::read_dir(dir).map_err(unreadable)?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(unreadable)?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        paths.iter().map(|p| Scenario::load(p)).collect()
    }

    /// The scenario suite that ships with echo-harness (`scenarios/*.toml`, embedded when the library is built),
    /// in file-name order: what `echo-harness check` runs, available from any crate.
    pub fn suite() -> Vec<Scenario> {
        SUITE
            .iter()
            .map(|(path, text)| {
                Scenario::parse(Path::new(path), text).unwrap_or_else(|e| panic!("the embedded suite is valid: {e}"))
            })
            .collect()
    }

    /// The scenario of the embedded suite called `name` (`slow_reader`, or `scenarios/slow_reader.toml`).
    pub fn from_suite(name: &str) -> Option<Scenario> {
        let stem = name.strip_prefix("scenarios/").unwrap_or(name);
        let stem = stem.strip_suffix(".toml").unwrap_or(stem);
        let (path, text) = SUITE.iter().find(|(path, _)| Path::new(path).file_stem().is_some_and(|s| s == stem))?;
        Scenario::parse(Path::new(path), text).ok()
    }

    /// Parses and validates scenario text; `path` names it in errors and gives its name.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario = parse_one(path, text)?;
        let at = |span: Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            ScenarioError::Invalid { path: path.to_owned(), line, column, message }
        };
        let file: TwinsFile = toml::from_str(text).map_err(|e| at(e.span().unwrap_or(0..0), e.message().into()))?;
        if file.twins.is_empty() {
            return Ok(scenario);
        }
        let mut base: toml::Table = toml::from_str(text).map_err(|e| at(0..0, e.message().into()))?;
        base.remove("twins");
        for twin in file.twins {
            let span = twin.fails.span();
            let fails = Property::from_name(twin.fails.get_ref())
                .ok_or_else(|| at(span.clone(), format!("`fails` names no property: \"{}\"", twin.fails.get_ref())))?;
            let mut patched = base.clone();
            let patch = match &twin.patch {
                Some(p) => {
                    merge(&mut patched, p.get_ref());
                    Some(toml::Value::Table(p.get_ref().clone()).to_string())
                }
                None => None,
            };
            let patched_text = toml::to_string(&patched).map_err(|e| at(span.clone(), e.to_string()))?;
            let twin_scenario = parse_one(path, &patched_text).map_err(|e| match e {
                ScenarioError::Invalid { message, .. } => {
                    at(twin.patch.as_ref().map_or(span.clone(), |p| p.span()), format!("the twin's patch: {message}"))
                }
                other => other,
            })?;
            scenario.twins.push(Twin {
                mutant_at: twin.mutant.as_ref().map(|m| line_column(text, m.span().start)),
                mutant: twin.mutant.map(|m| m.into_inner()),
                scenario: Box::new(twin_scenario),
                patch,
                fails,
            });
        }
        Ok(scenario)
    }
}

/// The `[[twins]]` blocks, read apart from the rest (they patch the rest).
#[derive(Deserialize)]
struct TwinsFile {
    #[serde(default)]
    twins: Vec<TwinFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TwinFile {
    mutant: Option<Spanned<String>>,
    patch: Option<Spanned<toml::Table>>,
    fails: Spanned<String>,
}
/// Merges `patch` into `base`: tables key by key, arrays element by element (a longer patch appends), anything
/// else replaced.
fn merge(base: &mut toml::Table, patch: &toml::Table) {
    for (key, value) in patch {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(p)) => merge(b, p),
            (Some(toml::Value::Array(b)), toml::Value::Array(p)) => {
                for (i, item) in p.iter().enumerate() {
                    match (b.get_mut(i), item) {
                        (Some(toml::Value::Table(bt)), toml::Value::Table(pt)) => merge(bt, pt),
                        (Some(slot), _) => *slot = item.clone(),
                        (None, _) => b.push(item.clone()),
                    }
                }
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The largest scenario file read: the shipped ones are under 2 KiB, a generated one with every repeat written
/// out stays far below.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a scenario file: a regular file (a FIFO would block, a device never end) of at most [`MAX_FILE_BYTES`],
/// in UTF-8.
fn read_regular(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let fail = |reason: String| ScenarioError::Read { path: path.to_owned(), reason };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file (a scenario file is read whole: no FIFO, device or directory)".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!("{} bytes, more than the {MAX_FILE_BYTES} a scenario file may have", meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("more than the {MAX_FILE_BYTES} bytes a scenario file may have")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        fail(format!("not UTF-8 (an invalid byte at offset {at})"))
    })
}
