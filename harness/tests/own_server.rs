//! The README's "Test your own server" example, compiled and run: a user's server written against the library's
//! network seam, run through every scenario file in a few lines.

use std::time::Duration;

use echo_harness::hunt::check;
use echo_harness::model::property::Verdict;
use echo_harness::model::scenario::Scenario;
use echo_harness::report::table;
use echo_harness::sim::target::Target;
use echo_harness::sut::net::Listener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A user's server: generic over `Listener`, so it runs on tokio's sockets and in the simulator alike.
async fn my_server<L: Listener>(mut listener: L) {
    while let Ok((mut stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            // Reads time out after 500 ms of silence, so a client cut off by the network is not kept forever.
            while let Ok(Ok(n @ 1..)) = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
                buf[..n].make_ascii_uppercase();
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

#[test]
fn my_server_passes_the_scenario_suite() {
    let target = Target::new("my_server", |listener| Box::pin(my_server(listener)));
    let scenarios = Scenario::load_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios").as_ref()).unwrap();
    let report = check::check(&scenarios, &target, 2);
    assert_eq!(report.verdict, Verdict::Pass, "{}", table::suite_table(&report));
}
