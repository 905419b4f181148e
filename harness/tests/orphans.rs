//! No server outlives the harness, whatever the shape of its command line and however the harness ends: the
//! binary is started as a user starts it, a server it launched is caught listening, the harness is killed
//! (SIGKILL, which it cannot catch, or SIGTERM / SIGINT / SIGHUP, which it handles), and within a few seconds no
//! process of that server may remain, nor a file of its standard error in the harness's temp directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

/// How long the server may take to be seen listening, and the harness's servers to be gone after the signal.
const START_WITHIN: Duration = Duration::from_secs(60);
const GONE_WITHIN: Duration = Duration::from_secs(5);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the correct server under a name no other test uses, and the temp directory the harness is given.
struct Probe {
    _dir: tempfile::TempDir,
    script: PathBuf,
    tmp: PathBuf,
}

fn probe(name: &str) -> Probe {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join(format!("orphan_{name}_{}.py", std::process::id()));
    std::fs::copy(root().join("harness/tests/servers/correct.py"), &script).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    Probe { _dir: dir, script, tmp }
}

/// Every live process whose command line mentions `script` (the server, and any shell around it), as
/// (pid, argv).
fn processes_of(script: &Path) -> Vec<(u32, Vec<String>)> {
    let needle = script.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?; // empty for a zombie
            let argv: Vec<String> =
                raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
            argv.iter().any(|a| a.contains(&needle)).then_some((pid, argv))
        })
        .collect()
}

/// Ports given to the Python server processes running `script` (`python3 SCRIPT PORT`).
fn server_ports(script: &Path) -> Vec<u16> {
    let needle = script.display().to_string();
    processes_of(script)
        .into_iter()
        .filter(|(_, argv)| argv.first().is_some_and(|a| a.contains("python")))
        .filter_map(|(_, argv)| argv.iter().position(|a| *a == needle).and_then(|i| argv.get(i + 1)?.parse().ok()))
        .collect()
}

/// Whether a socket listens on `port` (read from the kernel's table, so the harness's server is not disturbed).
fn listening(port: u16) -> bool {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table).unwrap_or_default().lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3
                && fields[3] == "0A"
                && fields[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
        })
    })
}

/// Files of server stderr captures left in `tmp`.
fn stderr_files(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("echo-harness-") && n.ends_with(".stderr"))
        .collect()
}

/// `echo-harness ARGS` with its temp directory in the probe's, output discarded.
fn harness(args: &[&str], probe: &Probe, reports: &Path) -> Child {
    Command::new(BIN)
        .current_dir(root())
        .args(args)
        .arg("--report-dir")
        .arg(reports)
        .env("TMPDIR", &probe.tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start echo-harness")
}

/// Waits until one of the harness's servers listens; panics if the harness ends first or it takes too long.
fn wait_listening(harness: &mut Child, probe: &Probe) -> u16 {
    let started = Instant::now();
    loop {
        if let Some(port) = server_ports(&probe.script).into_iter().find(|&p| listening(p)) {
            return port;
        }
        if let Some(status) = harness.try_wait().unwrap() {
            panic!("the harness ended ({status}) before its server was seen listening");
        }
        assert!(started.elapsed() < START_WITHIN, "no server of {} listened", probe.script.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (at most [`GONE_WITHIN`]) until no process of the probe's server remains and nothing listens on `port`
/// (a killed process drops its memory, and so its command line, a moment before its sockets); returns the
/// processes left.
fn left_running(probe: &Probe, port: u16) -> Vec<(u32, Vec<String>)> {
    let started = Instant::now();
    loop {
        let left = processes_of(&probe.script);
        if (left.is_empty() && !listening(port)) || started.elapsed() > GONE_WITHIN {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `check` on a target of `shape` (with `{script}` and `{port}` in it), sends `signal` to the harness once
/// its server listens, and checks that nothing of that server is left. Returns the harness's exit status.
fn kill_while_serving(name: &str, shape: &str, extra: &[&str], signal: i32) -> std::process::ExitStatus {
    let probe = probe(name);
    let reports = tempfile::tempdir().unwrap();
    let target = shape.replace("{script}", &probe.script.display().to_string());
    let mut args = vec!["check", "--target", target.as_str()];
    args.extend_from_slice(extra);
    let mut child = harness(&args, &probe, reports.path());
    let port = wait_listening(&mut child, &probe);
    // SAFETY: kill(2) on the pid of our own child, not yet reaped; no memory is involved.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let status = child.wait().unwrap();
    let left = left_running(&probe, port);
    for (pid, _) in &left {
        // SAFETY: kill(2) of a leftover of this test (its command line names the test's own script copy).
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "`{target}`: after signal {signal} to the harness, left running: {left:?}");
    assert!(!listening(port), "`{target}`: port {port} still listens");
    let files = stderr_files(&probe.tmp);
    assert!(files.is_empty(), "`{target}`: stderr captures left in the temp directory: {files:?}");
    status
}

#[test]
fn sigkill_leaves_no_server_of_a_cd_then_command() {
    kill_while_serving("cd", "cd /tmp && python3 {script} {port}", &[], libc::SIGKILL);
}

#[test]
fn sigkill_leaves_no_server_of_a_pipeline() {
    kill_while_serving("pipe", "python3 {script} {port} | cat", &[], libc::SIGKILL);
}

#[test]
fn sigkill_leaves_no_server_of_a_command_list() {
    kill_while_serving("list", "python3 {script} {port}; true", &[], libc::SIGKILL);
}

#[test]
fn sigkill_leaves_no_server_of_a_simple_command() {
    kill_while_serving("simple", "python3 {script} {port}", &[], libc::SIGKILL);
}

#[test]
fn sigkill_leaves_no_server_on_the_real_backend() {
    let scenarios = root().join("scenarios").display().to_string();
    let extra = ["--backend", "real", "--skip-kernel", "--scenarios", scenarios.as_str()];
    kill_while_serving("real", "cd /tmp && python3 {script} {port} | cat", &extra, libc::SIGKILL);
}

#[test]
fn sigterm_sigint_and_sighup_kill_the_servers_and_exit_130() {
    for (name, signal) in [("term", libc::SIGTERM), ("int", libc::SIGINT), ("hup", libc::SIGHUP)] {
        let status = kill_while_serving(name, "cd /tmp && python3 {script} {port}; true", &[], signal);
        assert_eq!(status.code(), Some(130), "after signal {signal}: {status}");
    }
}

#[test]
fn a_server_that_cannot_start_is_a_one_line_usage_error_and_leaves_nothing() {
    let probe = probe("nostart");
    let reports = tempfile::tempdir().unwrap();
    let target = format!("cd /tmp && python3 {} not-a-port-{{port}}", probe.script.display());
    for extra in [&[][..], &["--backend", "real", "--skip-kernel"][..]] {
        let mut args = vec!["check", "--target", target.as_str()];
        args.extend_from_slice(extra);
        let out = Command::new(BIN)
            .current_dir(root())
            .args(&args)
            .arg("--report-dir")
            .arg(reports.path())
            .env("TMPDIR", &probe.tmp)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains("did not answer on port") && err.contains("ValueError"), "{extra:?}: {err}");
        assert!(processes_of(&probe.script).is_empty());
        assert!(stderr_files(&probe.tmp).is_empty(), "{:?}", stderr_files(&probe.tmp));
    }
}
