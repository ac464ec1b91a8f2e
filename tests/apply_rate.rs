//! The request rate limit, seen from the server's side.
//!
//! A test binary of its own on purpose: cargo runs test binaries one after
//! another, so nothing else competes for the two cores while the simulator
//! stamps arrivals. Under a loaded scheduler a request granted on time can
//! reach the server 50 ms late and land in the same second as later ones,
//! which says nothing about the limiter.

mod common;

use common::apply::{request, run, sim_json, write};
use ipimport::cli::Wire;
use ipimport::exit::Exit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_one_second_window_sees_more_than_rate_plus_one_requests() {
    // product.md: "--burst B (default 1) ... With the default, no one-second
    // window sees more than R + 1 requests." The simulator counts admitted
    // requests per sliding one-second window, so it measures what arrived,
    // logons and polls included.
    let sim = common::sim(common::quick()).await;
    let tmp = tempfile::tempdir().unwrap();
    // 40 single addresses, none adjacent: 40 POSTs, nothing merges.
    let mut csv = String::from("range\n");
    for i in 0..40 {
        csv.push_str(&format!("198.51.100.{}\n", 2 * i));
    }
    let input = write(tmp.path(), "spread.csv", &csv);
    let mut req = request(&sim, Wire::Xml, &[input], &tmp.path().join("run"));
    req.engine.rate = 20;
    req.engine.burst = 1;
    let out = run(req).await.unwrap();
    assert_eq!(out.exit, Exit::Ok, "{:#?}", out.report.rows);
    let stats = sim_json(&sim, "/sim/stats").await;
    let requests = stats["requests"].as_u64().unwrap();
    assert!(requests > 40, "every range was posted: {stats}");
    let peak = stats["max_requests_in_one_second"].as_u64().unwrap();
    assert!(
        peak <= 21,
        "{peak} requests arrived within one second at --rate 20 --burst 1"
    );
    // And the limiter is not idle either: a run this long fills its windows.
    assert!(peak >= 15, "only {peak} requests in the busiest second");
    sim.stop().await;
}
