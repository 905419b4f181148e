//! Black-box mode against small Python servers (the socket tutorial's, in `harness/tests/servers/`): the correct
//! one passes every property, each buggy one fails the property that names its bug, and nothing else it does
//! right.

use std::path::Path;

use echo_harness::model::property::Verdict;
use echo_harness::real::blackbox::{self, Options, Transform};
use echo_harness::real::launch::Server;

fn server(name: &str) -> Server {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/servers").join(format!("{name}.py"));
    Server::Command(format!("python3 {} {{port}}", path.display()))
}

/// The properties that failed, with their evidence.
async fn failed(name: &str, transform: Transform) -> Vec<(String, String)> {
    let options = Options { transform, ..Options::default() };
    let report = blackbox::check(&server(name), &options).await.unwrap();
    assert_eq!(report.properties.len(), blackbox::PROPERTIES.len());
    report.properties.into_iter().filter(|p| p.verdict == Verdict::Fail).map(|p| (p.name, p.evidence.detail)).collect()
}

fn names(failed: &[(String, String)]) -> Vec<&str> {
    failed.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_server_passes_everything() {
    assert_eq!(failed("correct", Transform::Upper).await, Vec::<(String, String)>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_serving_one_client_at_a_time_fails_only_concurrency() {
    let f = failed("serial", Transform::Upper).await;
    assert_eq!(names(&f), ["concurrent-clients"], "{f:?}");
    assert!(f[0].1.contains("second client"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_connection_loop_fails_the_next_client() {
    let f = failed("single_client", Transform::Upper).await;
    assert!(names(&f).contains(&"serves-next-client"), "{f:?}");
    assert!(!names(&f).contains(&"upper-cases") && !names(&f).contains(&"large-message"), "{f:?}");
    let next = &f.iter().find(|(n, _)| n == "serves-next-client").unwrap().1;
    assert!(next.contains("refused"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_reuse_address_fails_the_restart() {
    let f = failed("no_reuseaddr", Transform::Upper).await;
    assert_eq!(names(&f), ["reuse-address"], "{f:?}");
    assert!(f[0].1.contains("Address already in use"), "{f:?}");
    assert!(f[0].1.contains("in TIME_WAIT"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_using_send_not_sendall_loses_bytes_to_a_slow_reader() {
    let f = failed("send_not_sendall", Transform::Upper).await;
    assert_eq!(names(&f), ["slow-reader"], "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_transform_tests_plain_echo_servers() {
    assert_eq!(failed("plain_echo", Transform::Identity).await, Vec::<(String, String)>::new());
    let f = failed("plain_echo", Transform::Upper).await;
    assert!(names(&f).contains(&"upper-cases"), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_is_checked_by_address_without_restarts() {
    use echo_harness::sut::net::{Network, Real};
    let listener = Real::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(echo_harness::sut::server::run(listener, Default::default(), std::future::pending::<()>()));
    let report = blackbox::check(&Server::Addr(addr), &Options::default()).await.unwrap();
    for p in &report.properties {
        let expected = if p.name == "reuse-address" { Verdict::Skip } else { Verdict::Pass };
        assert_eq!(p.verdict, expected, "{}: {}", p.name, p.evidence.detail);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_does_not_start_is_an_input_error_with_its_stderr() {
    let bad = Server::Command("python3 -c 'import sys; sys.exit(\"no such config: {port}\")'".into());
    let err = blackbox::check(&bad, &Options::default()).await.unwrap_err().to_string();
    assert!(err.contains("did not answer on port") && err.contains("no such config"), "{err}");
    let err = blackbox::check(&Server::Command("python3 server.py".into()), &Options::default()).await.unwrap_err();
    assert!(err.to_string().contains("{port}"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_process_outlives_the_check() {
    // A copy of the correct server under a unique name, so its processes can be told from other tests'.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("orphan_probe_server.py");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("harness/tests/servers/correct.py"), &script).unwrap();
    let target = Server::Command(format!("python3 {} {{port}}", script.display()));
    let report = blackbox::check(&target, &Options::default()).await.unwrap();
    assert_eq!(report.verdict, Verdict::Pass);
    let running: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&script.display().to_string()))
        .collect();
    assert!(running.is_empty(), "left running: {running:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_adds_bytes_fails_upper_cases() {
    let f = failed("trailing_newline", Transform::Upper).await;
    let upper = &f.iter().find(|(n, _)| n == "upper-cases").expect("upper-cases fails").1;
    assert!(upper.contains("unexpected bytes after the last reply"), "{upper}");
}
