//! Exploration split across machines, through the binary: `explore --shard K/N` runs disjoint shares of a run's
//! cases, and the shards' `explore.json` documents merge (with the library's `merge`) into the unsharded run's
//! results; a bad `--shard` is one error line and exit 2; `run --json` prints one document of a finding's replay.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use echo_harness::hunt::explore::Shard;
use echo_harness::report::explore_results::{merge, ExploreResults};

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

/// A mutant most generated cases catch, so that every shard has findings to compare.
const TARGET: &str = "unicode_upper";

/// Starts `explore --json` of the test's run (seed 5, 40 cases), writing into `dir`.
fn start_explore(dir: &Path, shard: Option<&str>) -> Child {
    let mut command = Command::new(BIN);
    command
        .args(["explore", "--target", TARGET, "--seed", "5", "--cases", "40", "--keep-going", "--jobs", "1", "--json"])
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .arg("--failures")
        .arg(dir.join("failures"));
    if let Some(shard) = shard {
        command.args(["--shard", shard]);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start echo-harness explore")
}

/// Waits for a run; checks that stdout is only the document, the same as `explore.json`, and the exit code says
/// whether it found anything.
fn finish_explore(child: Child, dir: &Path) -> ExploreResults {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let printed: ExploreResults =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one document ({e}):\n{stdout}"));
    let written = std::fs::read_to_string(dir.join("reports/explore.json")).expect("explore writes explore.json");
    let written: ExploreResults = serde_json::from_str(&written).unwrap();
    assert_eq!(printed, written);
    let expected = if printed.findings.is_empty() { 0 } else { 1 };
    assert_eq!(out.status.code(), Some(expected), "{stderr}");
    printed
}

/// What must agree between the whole run and the merged shards: per finding its case, property, seed, shrunk
/// size and the shrunk scenario itself (the written file without its comment header, which names the file).
fn findings(results: &ExploreResults) -> BTreeSet<(u64, String, u64, String, String)> {
    results
        .findings
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f.file).unwrap_or_else(|e| panic!("{}: {e}", f.file));
            let scenario: String = text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
            (f.case, f.property.clone(), f.seed, f.shrunk_size.clone(), scenario)
        })
        .collect()
}

#[test]
fn three_shards_merge_into_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<(Option<&str>, std::path::PathBuf)> = [None, Some("1/3"), Some("2/3"), Some("3/3")]
        .into_iter()
        .map(|shard| (shard, dir.path().join(shard.map_or("whole".into(), |s| s.replace('/', "-of-")))))
        .collect();
    let children: Vec<Child> = runs.iter().map(|(shard, d)| start_explore(d, *shard)).collect();
    let mut results: Vec<ExploreResults> =
        children.into_iter().zip(&runs).map(|(child, (_, d))| finish_explore(child, d)).collect();
    let whole = results.remove(0);
    assert_eq!((whole.cases, whole.shard, whole.merged.as_ref()), (40, None, None));
    assert!(whole.findings.len() >= 6, "{TARGET} should fail often: {:?}", whole.findings);

    // Each shard ran its own share, and the shares are disjoint.
    let mut seen = BTreeSet::new();
    for (k, part) in (1..).zip(&results) {
        let shard = Shard::new(k, 3).unwrap();
        assert_eq!(part.shard, Some(shard));
        assert_eq!(part.cases, shard.count(40));
        for f in &part.findings {
            assert!(shard.contains(f.case), "shard {shard} ran case {}", f.case);
            assert!(seen.insert(f.case), "case {} in two shards", f.case);
        }
    }

    // Merged in any order, they are the whole run.
    results.reverse();
    let merged = merge(results).expect("the three shards merge");
    assert_eq!(merged.shard, None);
    let m = merged.merged.as_ref().unwrap();
    assert_eq!((m.n, m.shards.as_slice(), m.complete), (3, &[1, 2, 3][..], true));
    assert_eq!(merged.cases, whole.cases);
    assert_eq!((merged.target.as_str(), merged.seed, merged.cases_limit), (TARGET, 5, 40));
    assert_eq!(merged.stopped, whole.stopped);
    assert!(merged.findings.windows(2).all(|w| w[0].case < w[1].case), "sorted by case");
    assert_eq!(findings(&merged), findings(&whole));

    // A finding replays through `run --json`: one document, the failure in it, the exit code as without --json.
    let finding = &whole.findings[0];
    let out = Command::new(BIN).args(["run", &finding.file, "--json", "--target", TARGET]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["path"], finding.file.as_str());
    assert_eq!(doc["seed"], finding.seed);
    assert_eq!(doc["target"], TARGET);
    assert_eq!(doc["backend"], "sim");
    assert!(doc["scenario"].as_str().is_some_and(|s| !s.is_empty()), "{doc}");
    let hash = doc["trace_hash"].as_str().unwrap();
    assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    assert!(doc["events"].as_u64().is_some_and(|n| n > 0), "{doc}");
    let verdicts = doc["verdicts"].as_array().unwrap();
    assert!(verdicts.iter().any(|v| v["property"] == finding.property.as_str() && v["verdict"] == "fail"), "{doc}");
    // Without --json, the lines as before, ending with the same trace hash.
    let out = Command::new(BIN).args(["run", &finding.file, "--target", TARGET]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("scenario "), "{text}");
    assert!(text.trim_end().ends_with(&format!("trace hash {hash}, {} events", doc["events"])), "{text}");
}

#[test]
fn a_bad_shard_is_one_error_line_and_exit_2() {
    for bad in ["0/3", "4/3", "a/b", "3"] {
        let out = Command::new(BIN).args(["explore", "--cases", "1", "--shard", bad]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{bad}: {err}");
        assert!(errors[0].contains(bad) && errors[0].contains("--shard"), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "{bad}: nothing ran");
    }
}
