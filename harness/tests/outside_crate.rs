//! The library as a user meets it: a throwaway crate in a temporary directory, with echo-harness as a path
//! dev-dependency and no `.cargo/config.toml` of its own (so no `--cfg tokio_unstable`), runs
//! - the README's "Test your own server" block, taken from README.md as it stands, with the suite embedded in the
//!   library (the crate has no `scenarios/` directory);
//! - a server with a bug only that crate knows: the failure's replay line must be the form that works there, and
//!   running exactly that line must replay the failure with its trace.
//!
//! It builds offline, reusing the crates this build already fetched (`Cargo.lock` is copied), in its own target
//! directory under this one, so a second run is incremental.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest the throwaway crate's build and tests may take.
const BUDGET: Duration = Duration::from_secs(900);

/// A server whose replies lose their last byte when a read brought more than one: a planted bug of the user's.
const LOSSY: &str = r#"
use echo_harness::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn lossy<L: Listener>(listener: L) {
    blocks::accept_loop(listener, Config::default(), |mut stream, _config| async move {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            buf[..n].make_ascii_uppercase();
            let keep = if n > 1 { n - 1 } else { n };
            if stream.write_all(&buf[..keep]).await.is_err() {
                break;
            }
        }
        let _ = stream.shutdown().await;
    })
    .await
}

#[test]
fn the_bug_is_caught_with_a_replay_line() {
    let target = Target::new("lossy", |listener| Box::pin(lossy(listener)));
    let report = check(&Scenario::suite(), &target, 2);
    let failed = report.properties.iter().find(|p| p.verdict == Verdict::Fail).expect("the bug is caught");
    println!("REPLAY-LINE {}", failed.evidence.replay.as_deref().expect("a failure has a replay line"));
}
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The first ```rust block after the README's "Test your own server" heading.
fn readme_snippet() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("## Test your own server").nth(1).expect("the README has the section");
    let block = section.split("```rust\n").nth(1).expect("the section has a rust block");
    block.split("```").next().unwrap().to_string()
}

/// Runs `cargo test` in `dir` with `envs`, within [`BUDGET`], and returns its output.
fn cargo_test(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("test")
        .arg("--offline")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo().join("target/outside-crate"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The user's build, not this one's: no flags leak in from the environment.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "RUSTDOCFLAGS", "ECHO_HARNESS_REPLAY"]
    {
        command.env_remove(var);
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("cargo starts");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > BUDGET {
            let _ = child.kill();
            panic!("the throwaway crate's `cargo test {args:?}` took more than {BUDGET:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn a_separate_crate_runs_the_readme_example_and_replays_its_own_failures() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-server\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dev-dependencies]\n\
             echo-harness = {{ path = {:?} }}\ntokio = {{ version = \"1\", features = [\"full\"] }}\n",
            repo().display().to_string()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/lib.rs"), "").unwrap();
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(root.join("tests/readme.rs"), readme_snippet()).unwrap();
    std::fs::write(root.join("tests/lossy.rs"), LOSSY).unwrap();
    std::fs::copy(repo().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();

    // The README's example passes, from a crate with no scenarios/ and no cfg flag.
    let readme = cargo_test(root, &["--test", "readme"], &[]);
    assert!(readme.status.success(), "the README example failed in a separate crate:\n{}", text(&readme));
    assert!(text(&readme).contains("test my_server_passes_the_scenario_suite ... ok"), "{}", text(&readme));

    // The user's bug is caught, and its replay line is for the user's crate, not the binary.
    let caught = cargo_test(root, &["--test", "lossy", "--", "--nocapture"], &[]);
    assert!(caught.status.success(), "{}", text(&caught));
    let out = text(&caught);
    let line = out.lines().find_map(|l| l.strip_prefix("REPLAY-LINE ")).unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("ECHO_HARNESS_REPLAY='lossy:"), "a library target's replay names the variable: {line}");
    assert!(!line.contains("echo-harness run"), "the binary does not know this target: {line}");

    // Running the line as printed replays that scenario and seed, trace and verdicts included.
    let value = line.split('\'').nth(1).expect("the value is quoted");
    let replayed = cargo_test(root, &["--test", "lossy", "--", "--nocapture"], &[("ECHO_HARNESS_REPLAY", value)]);
    let out = text(&replayed);
    assert!(replayed.status.success(), "{out}");
    let (_, seed_and_scenario) = value.split_once(':').unwrap();
    let (seed, scenario) = seed_and_scenario.split_once(':').unwrap();
    assert!(out.contains(&format!("replay: scenario {scenario} seed {seed} target lossy")), "{out}");
    assert!(out.contains("FAIL"), "the replay shows the failure: {out}");
    assert!(out.contains("trace hash"), "{out}");
}
