//! The `echo-harness` binary as a user meets it: `serve` answering a plain Python socket client, `client` with
//! piped input, `check` and `run` exit codes, and one-line errors on bad input.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_echo-harness");

/// `echo-harness serve` on an ephemeral port, killed on drop.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start echo-harness serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("odd first line {line:?}")).into();
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The checks the foundation issue names, written as the tutorial's client would: plain blocking sockets.
const PYTHON_CLIENT: &str = r#"
import socket, struct, sys, threading
host, port = sys.argv[1].rsplit(":", 1); port = int(port)

def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(65536)
        assert chunk, "EOF after %d of %d bytes" % (len(out), n)
        out += chunk
    return out

with socket.create_connection((host, port), timeout=10) as s:
    s.sendall(b"hello\x00\xff ok")
    assert recv_exactly(s, 10) == b"HELLO\x00\xff OK"

big = bytes(i % 251 for i in range(1 << 20))
with socket.create_connection((host, port), timeout=30) as s:
    got = []
    reader = threading.Thread(target=lambda: got.append(recv_exactly(s, len(big))))
    reader.start()
    s.sendall(big)
    reader.join()
    assert got[0] == big.upper(), "1 MiB reply differs"

rude = socket.create_connection((host, port), timeout=10)
rude.sendall(b"never read")
rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
rude.close()  # RST

errors = []
def one(i):
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            msg = ("client %d" % i).encode()
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg.upper()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
print("ok")
"#;

#[test]
fn serve_answers_a_plain_python_client() {
    let server = Serve::start(&[]);
    let out = Command::new("python3").args(["-c", PYTHON_CLIENT, &server.addr]).output().expect("python3 runs");
    assert!(out.status.success(), "python client failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn client_with_piped_input_skips_empty_lines() {
    let server = Serve::start(&["--buffer", "1024"]);
    let mut client = Command::new(BIN)
        .args(["client", "--addr", &server.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    client.stdin.take().unwrap().write_all(b"hello\n\nstra\xc3\x9fe ok\n").unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\nSTRAßE OK\n");
}

#[test]
fn client_to_a_dead_port_says_refused() {
    // Below the ephemeral range: no client socket can hold it, nor connect to itself on it.
    let addr = format!("127.0.0.1:{}", echo_harness::real::launch::free_port().unwrap());
    let out = Command::new(BIN).args(["client", "--addr", &addr]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("connection refused by {addr}")), "{err}");
}

#[test]
fn bad_input_gets_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "seeds = [1]\n[[clients]]\nmessages = [{ txt = \"x\" }]\n").unwrap();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["serve".into(), "--buffer".into(), "0".into()], "0".into()),
        (vec!["serve".into(), "--idle-timeout".into(), "soon".into()], "soon".into()),
        (vec!["run".into(), bad.display().to_string()], format!("{}:3:", bad.display())),
        (vec!["run".into(), "no/such.toml".into()], "no/such.toml".into()),
        (vec!["check".into(), "--scenarios".into(), dir.path().display().to_string()], format!("{}:3:", bad.display())),
        (vec!["check".into(), "--scenarios".into(), "no/such/dir".into()], "no/such/dir".into()),
    ];
    for (args, mention) in cases {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&mention), "{args:?}: {err:?} should mention {mention:?}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn check_exits_0_and_prints_json_when_all_held() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(root)
        .args(["check", "--json", "--report-dir"])
        .arg(reports.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let props = doc["properties"].as_array().unwrap();
    assert!(props.iter().any(|p| p["name"] == "echo-integrity" && p["verdict"] == "pass"));
    assert!(props.iter().all(|p| p["verdict"] != "fail"));
    assert!(reports.path().join("check.md").exists() && reports.path().join("check.json").exists());
    // The JUnit file: a test case per property in each scenario, none failed.
    let xml = std::fs::read_to_string(reports.path().join("junit.xml")).expect("check writes junit.xml");
    let junit = roxmltree::Document::parse(&xml).expect("junit.xml is XML");
    let cases = junit.descendants().filter(|n| n.has_tag_name("testcase")).count();
    let scenarios = doc["scenarios"].as_array().unwrap().len();
    assert!(cases >= scenarios * props.len(), "{cases} test cases for {scenarios} scenarios");
    assert_eq!(junit.descendants().filter(|n| n.has_tag_name("failure")).count(), 0, "{xml}");
}

#[test]
fn a_failing_check_puts_each_failure_and_its_replay_in_junit_xml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(root)
        .args(["check", "--target", "single_client", "--report-dir"])
        .arg(reports.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let xml = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    let junit = roxmltree::Document::parse(&xml).expect("junit.xml is XML");
    let failures: Vec<_> = junit.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert!(!failures.is_empty(), "{xml}");
    for failure in &failures {
        let case = failure.parent().unwrap().attribute("name").unwrap();
        let message = failure.attribute("message").unwrap_or_default();
        assert!(message.contains(", seed "), "{case}: {message}");
        assert!(failure.text().unwrap_or_default().contains("--target single_client"), "{case}: no replay in {xml}");
    }
}

/// The server process's peak resident memory, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Streams `total` bytes through one connection, reading the echo concurrently; returns the bytes echoed.
fn stream_through(addr: &str, total: usize) -> usize {
    use std::io::Read;
    let mut tx = std::net::TcpStream::connect(addr).unwrap();
    let mut rx = tx.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0;
        while got < total {
            let n = rx.read(&mut buf).unwrap();
            assert!(n > 0, "EOF after {got} bytes");
            assert!(buf[..n].iter().all(|&b| b == b'A'), "wrong bytes near offset {got}");
            got += n;
        }
        got
    });
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..total / chunk.len() {
        tx.write_all(&chunk).unwrap();
    }
    let got = reader.join().unwrap();
    tx.shutdown(std::net::Shutdown::Write).unwrap();
    got
}

#[test]
fn memory_stays_flat_however_much_a_client_streams() {
    // 16 MiB to warm up (runtime, buffers), then 512 MiB: the peak may not move by more than a few buffers.
    let server = Serve::start(&["--buffer", "1024"]);
    let pid = server.child.id();
    assert_eq!(stream_through(&server.addr, 16 << 20), 16 << 20);
    let before = peak_rss_kib(pid);
    assert_eq!(stream_through(&server.addr, 512 << 20), 512 << 20);
    let after = peak_rss_kib(pid);
    assert!(after <= before + 4096, "peak RSS grew from {before} KiB to {after} KiB over a 512 MiB stream");
}
