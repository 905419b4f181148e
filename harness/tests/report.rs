//! `echo-harness report` as CI meets it: the four files from the latest results (with a failure's timeline), the
//! benchmark gate failing on a worsened baseline and naming the figure, and one-line errors on bad input.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

fn echo_harness(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN).args(args).current_dir(dir).output().expect("run echo-harness")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Benchmark summaries shaped as the benches write them, with `ratio` as the one throughput target.
fn write_benches(dir: &Path, ratio: f64, overhead: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let throughput = serde_json::json!({
        "rows": [{ "work": "stream, 1 conn, 64 KiB", "builtin": 1500.0 * ratio, "plain": 1500.0, "copy": 1000.0, "python": 270.0 }],
        "targets": [{ "name": "builtin_vs_plain: stream, 1 conn, 64 KiB", "value": ratio, "min": 0.95, "met": ratio >= 0.95 }],
    });
    let catch = serde_json::json!({
        "targets": [{ "name": "harness_vs_bare_turmoil", "value": overhead, "max": 1.1, "met": overhead <= 1.1 }],
        "explore": [{ "jobs": 2, "cases_per_s": 880.0 }],
        "catch": [{ "mutant": "partial_send", "median_s": 0.2, "worst_s": 0.3 }],
    });
    std::fs::write(dir.join("throughput.json"), throughput.to_string()).unwrap();
    std::fs::write(dir.join("catch.json"), catch.to_string()).unwrap();
}

#[test]
fn check_writes_the_html_and_markdown_reports_with_each_failures_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let reports = dir.path().join("reports");
    let scenarios = format!("{repo}/scenarios");
    let out = echo_harness(
        &[
            "check",
            "--target",
            "single_client",
            "--skip-kernel",
            "--scenarios",
            &scenarios,
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for file in ["check.json", "junit.xml", "results.json", "index.html", "REPORT.md"] {
        assert!(reports.join(file).is_file(), "{file} written");
    }
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(html.contains("<h2 id=\"failures\">"), "a failures section");
    assert!(html.contains("liveness broke"), "a timeline marks where liveness broke");
    let md = std::fs::read_to_string(reports.join("REPORT.md")).unwrap();
    assert!(md.contains("](charts/failure-1.svg)") && reports.join("charts/failure-1.svg").is_file(), "{md}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["schema_version"], 1);
    assert_eq!(results["check"]["target"], "single_client");
    assert!(results["explore"].is_null() && results["benchmarks"]["throughput"].is_null(), "not run: null");
}

#[test]
fn the_gate_passes_on_its_own_baseline_and_fails_naming_a_worsened_figure() {
    let dir = tempfile::tempdir().unwrap();
    let benches = dir.path().join("bench");
    write_benches(&benches, 1.0, 1.2);
    let gate = |args: &[&str]| {
        let mut all = vec!["report", "--bench-dir", "bench", "--report-dir", "reports"];
        all.extend_from_slice(args);
        echo_harness(&all, dir.path())
    };
    let saved = gate(&["--save-baseline", "baseline.json"]);
    assert_eq!(saved.status.code(), Some(0), "{}", text(&saved));
    assert!(text(&saved).contains("baseline saved: baseline.json (5 figures)"), "{}", text(&saved));

    let same = gate(&["--baseline", "baseline.json"]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("gate: 5 of 5 figures within 10% of the baseline: passed"), "{}", text(&same));

    write_benches(&benches, 0.8, 1.2);
    let worse = gate(&["--baseline", "baseline.json"]);
    assert_eq!(worse.status.code(), Some(1), "{}", text(&worse));
    let said = text(&worse);
    assert!(said.contains("`throughput builtin_vs_plain: stream, 1 conn, 64 KiB` got worse: 0.800"), "{said}");
    assert!(said.contains("20.0% worse"), "{said}");
    let html = std::fs::read_to_string(dir.path().join("reports/index.html")).unwrap();
    assert!(html.contains("<h2 id=\"gate\">Benchmark gate</h2>"), "the page shows the gate");

    let loose = gate(&["--baseline", "baseline.json", "--threshold", "25%"]);
    assert_eq!(loose.status.code(), Some(0), "20% worse passes a 25% threshold: {}", text(&loose));
}

#[test]
fn bad_report_input_gives_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("reports")).unwrap();
    std::fs::write(dir.path().join("reports/check.json"), "{\n  \"target\": 3,\n").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["report", "--report-dir", "empty"], "nothing to report in empty"),
        (&["report"], "check.json:3:"),
        (
            &["report", "--report-dir", "elsewhere", "--baseline", "missing.json"],
            "--baseline missing.json: no such file",
        ),
        (&["report", "--report-dir", "elsewhere", "--threshold", "lots"], "`lots` is not a percentage"),
        (&["report", "--report-dir", "elsewhere", "--merge", "nowhere"], "--merge nowhere: no explore.json there"),
    ];
    for (args, expected) in cases {
        let out = echo_harness(args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_merge_keeps_the_findings_files_and_a_merge_missing_a_shard_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"), dir.path().join("scenarios"))
        .unwrap();
    for k in 1..=3 {
        let (shard, out) = (format!("{k}/3"), format!("shard-{k}"));
        let args = ["explore", "--target", "ring_u16", "--seed", "5", "--cases", "45", "--keep-going", "--jobs", "1"];
        let explored = echo_harness(&[&args[..], &["--shard", &shard, "--report-dir", &out]].concat(), dir.path());
        assert_ne!(explored.status.code(), Some(2), "{}", text(&explored));
    }
    let all = echo_harness(&["report", "--merge", "shard-1", "shard-2", "shard-3", "--report-dir", "all"], dir.path());
    assert_eq!(all.status.code(), Some(1), "ring_u16 is found in 45 cases: {}", text(&all));
    let merged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("all/explore.json")).unwrap()).unwrap();
    assert_eq!(merged["cases"], 45);
    let findings = merged["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        let file = f["file"].as_str().unwrap();
        assert!(file.starts_with("all/failures/") && dir.path().join(file).is_file(), "kept with the report: {f}");
        assert!(f["replay"].as_str().unwrap().contains(file), "the replay runs the kept file: {f}");
    }

    let some = echo_harness(&["report", "--merge", "shard-1", "shard-3", "--report-dir", "some"], dir.path());
    assert_eq!(some.status.code(), Some(1), "{}", text(&some));
    assert!(text(&some).contains("only shards [1, 3] of 3 were merged"), "{}", text(&some));
}

#[test]
fn ctrl_c_during_a_black_box_check_reports_what_ran_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("python3 {}/harness/tests/servers/correct.py {{port}}", env!("CARGO_MANIFEST_DIR"));
    let child = Command::new(BIN)
        .args(["check", "--target", &server, "--report-dir", "reports"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The twelve properties take about 25 s; two seconds in, a few have run.
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SAFETY: kill(2) on the child's own pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("not run: interrupted (Ctrl-C)"), "the properties not run say why: {said}");
    assert!(said.contains("interrupted (Ctrl-C): the report covers what ran before it"), "{said}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reports/check.json")).unwrap()).unwrap();
    let run = report["properties"].as_array().unwrap().iter().filter(|p| p["verdict"] == "pass").count();
    assert!(run >= 1, "what ran before Ctrl-C is reported: {report}");
}
