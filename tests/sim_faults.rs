//! Every fault knob, with a fixed seed: the faults a run produces are counted
//! from the client's side and must equal the simulator's counters, repeat
//! exactly under the same seed, and stay within what the rate allows.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ipimport::cli::Wire;
use ipimport::em::wire;
use ipimport::sim::SimConfig;

/// Statuses of `n` sequential `GET /api/` against a fresh simulator.
async fn root_statuses(config: SimConfig, n: usize) -> (Vec<u16>, serde_json::Value) {
    let sim = sim(config).await;
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..n {
        let a = send(http.get(format!("{}/api/", sim.base_url()))).await;
        if a.status == 500 {
            let e = a.error(Wire::Xml);
            assert_eq!(e.status, "InternalServerError");
            assert_schema_valid(&a.text);
        }
        statuses.push(a.status);
    }
    let stats = sim_stats(sim.base_url()).await;
    sim.stop().await;
    (statuses, stats)
}

#[tokio::test]
async fn fail_rate_is_counted_and_repeats_under_a_seed() {
    let config = || SimConfig {
        fail_rate: 0.3,
        seed: Some(7),
        ..quick()
    };
    let (a, stats) = root_statuses(config(), 200).await;
    let (b, _) = root_statuses(config(), 200).await;
    let (c, _) = root_statuses(
        SimConfig {
            seed: Some(8),
            ..config()
        },
        200,
    )
    .await;
    let failed = a.iter().filter(|s| **s == 500).count();
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, c, "another seed, other faults");
    assert!(a.iter().all(|s| *s == 200 || *s == 500));
    assert_eq!(stats["by_status"]["500"], failed);
    assert_eq!(stats["by_status"]["200"], 200 - failed);
    assert_eq!(stats["requests"], 200);
    // Binomial(200, 0.3): mean 60, sd 6.5.
    assert!((30..=90).contains(&failed), "{failed}");
}

#[tokio::test]
async fn fail_rate_acts_before_any_effect_and_covers_logons() {
    let sim = sim(SimConfig {
        fail_rate: 0.5,
        seed: Some(3),
        ..quick()
    })
    .await;
    let base = sim.base_url().to_string();
    let http = client();
    // Logons fail too.
    let mut logon_500 = 0;
    let mut token = None;
    for _ in 0..30 {
        let a = send(
            http.post(format!("{base}/api/sessionMngr/?v=latest"))
                .basic_auth("admin", Some("admin")),
        )
        .await;
        match a.status {
            500 => logon_500 += 1,
            201 => token = a.header("X-RestSvcSessionId").map(str::to_string),
            s => panic!("{s}"),
        }
    }
    assert!(logon_500 > 0);
    let stats = sim_stats(&base).await;
    assert_eq!(stats["logons"], 30 - logon_500);
    // A POST that gets 500 creates nothing.
    let token = token.unwrap();
    let server = format!(
        "urn:veeam:BackupServer:{}",
        ipimport::sim::derived_server_guid("backup01")
    );
    let mut accepted = Vec::new();
    for i in 0..30 {
        let spec = wire::CloudPublicIpAddressCreateSpec {
            backup_server_uid: server.clone(),
            ip_address_lower_bound: format!("203.0.113.{i}"),
            ip_address_upper_bound: format!("203.0.113.{i}"),
        };
        let a = send(
            http.post(format!("{base}/api/cloud/publicIpAddresses"))
                .header("X-RestSvcSessionId", &token)
                .header("Content-Type", "application/xml")
                .body(wire::encode(&spec, Wire::Xml)),
        )
        .await;
        match a.status {
            202 => accepted.push(format!("203.0.113.{i}")),
            500 => {}
            s => panic!("{s}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = sim_stats(&base).await;
    assert_eq!(stats["tasks_created"], accepted.len());
    assert_eq!(sim_pool(&base).await[&server], accepted);
    // /sim/ is never faulted.
    let mut sims = 0;
    for _ in 0..20 {
        sims += (send(http.get(format!("{base}/sim/stats"))).await.status == 200) as usize;
    }
    assert_eq!(sims, 20);
    sim.stop().await;
}

/// POST `n` single addresses; returns which of them got a reply (true) or a dropped connection (false).
async fn post_many(
    s: &Session,
    server: &str,
    n: usize,
    third: u8,
) -> Vec<(String, Option<wire::Task>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let addr = format!("198.51.{third}.{i}");
        let spec = wire::CloudPublicIpAddressCreateSpec {
            backup_server_uid: server.into(),
            ip_address_lower_bound: addr.clone(),
            ip_address_upper_bound: addr.clone(),
        };
        let r = s
            .req(reqwest::Method::POST, "/cloud/publicIpAddresses")
            .header("Content-Type", accept(s.wire))
            .body(wire::encode(&spec, s.wire))
            .send()
            .await;
        match r {
            Ok(resp) => {
                assert_eq!(resp.status().as_u16(), 202);
                let text = resp.text().await.unwrap();
                out.push((addr, Some(wire::decode(text.as_bytes(), s.wire).unwrap())));
            }
            // A dropped connection, not a 5xx: the client sees no answer at all.
            Err(e) => {
                assert!(!e.is_status() && !e.is_timeout(), "{e:?}");
                out.push((addr, None));
            }
        }
    }
    out
}

#[tokio::test]
async fn drop_rate_carries_out_the_post_and_closes_the_connection() {
    let run = || async {
        let sim = sim(SimConfig {
            drop_rate: 0.4,
            seed: Some(11),
            ..quick()
        })
        .await;
        let s = Session::logon(sim.base_url(), Wire::Json).await;
        let server = s.server_uid().await;
        let results = post_many(&s, &server, 40, 100).await;
        // Only POSTs are dropped: GETs all answer.
        for _ in 0..20 {
            assert_eq!(s.get("/backupServers").await.status, 200);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = sim_stats(sim.base_url()).await;
        let pool = sim_pool(sim.base_url()).await;
        sim.stop().await;
        let pattern: Vec<bool> = results.iter().map(|(_, t)| t.is_some()).collect();
        (pattern, results, stats, pool[&server].clone())
    };
    let (a, results, stats, pool) = run().await;
    let (b, ..) = run().await;
    assert_eq!(a, b, "same seed, same drops");
    let dropped = a.iter().filter(|ok| !**ok).count();
    assert!((5..=30).contains(&dropped), "{dropped}");
    assert_eq!(stats["dropped"], dropped);
    assert_eq!(stats["by_status"]["202"], 40 - dropped);
    // Dropped or not, every POST was carried out.
    assert_eq!(stats["tasks_created"], 40);
    let mut want: Vec<String> = results.iter().map(|(a, _)| a.clone()).collect();
    want.sort_by_key(|a| a.parse::<std::net::Ipv4Addr>().unwrap());
    assert_eq!(pool, want);
}

#[tokio::test]
async fn task_fail_rate_fails_tasks_that_add_nothing() {
    let run = || async {
        let sim = sim(SimConfig {
            task_fail_rate: 0.3,
            seed: Some(5),
            ..quick()
        })
        .await;
        let s = Session::logon(sim.base_url(), Wire::Xml).await;
        let server = s.server_uid().await;
        let results = post_many(&s, &server, 30, 101).await;
        let mut outcome = Vec::new();
        for (addr, task) in &results {
            let t = s.wait_task(&task.as_ref().unwrap().task_id).await;
            outcome.push((addr.clone(), t.result.unwrap()));
        }
        let stats = sim_stats(sim.base_url()).await;
        let pool = sim_pool(sim.base_url()).await[&server].clone();
        sim.stop().await;
        (outcome, stats, pool)
    };
    let (a, stats, pool) = run().await;
    let (b, ..) = run().await;
    assert_eq!(a, b, "same seed, same task failures");
    let failed: Vec<_> = a.iter().filter(|(_, r)| !r.success).collect();
    assert!((2..=20).contains(&failed.len()), "{}", failed.len());
    assert_eq!(stats["tasks_failed"], failed.len());
    assert_eq!(stats["conflicting_posts"], 0);
    let succeeded: Vec<String> = a
        .iter()
        .filter(|(_, r)| r.success)
        .map(|(a, _)| a.clone())
        .collect();
    let mut pool_sorted = pool.clone();
    pool_sorted.sort();
    let mut want = succeeded.clone();
    want.sort();
    assert_eq!(pool_sorted, want, "failed tasks added nothing");
}

#[tokio::test]
async fn expire_every_kills_all_tokens() {
    let sim = sim(SimConfig {
        expire_every: 5,
        ..quick()
    })
    .await;
    let base = sim.base_url().to_string();
    let a = Session::logon(&base, Wire::Xml).await;
    let b = Session::logon(&base, Wire::Json).await;
    // Logons are not authenticated requests; 5 authenticated ones are answered...
    for s in [&a, &b, &a, &b, &a] {
        assert_eq!(s.get("/backupServers").await.status, 200);
    }
    // ...then every token is dead.
    for s in [&a, &b] {
        let r = s.get("/backupServers").await;
        assert_eq!(r.status, 401);
        assert!(r.header("www-authenticate").is_some());
    }
    let c = Session::logon(&base, Wire::Xml).await;
    let statuses: Vec<u16> = futures_statuses(&c, 7).await;
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 401, 401]);
    sim.stop().await;
}

async fn futures_statuses(s: &Session, n: usize) -> Vec<u16> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(s.get("/backupServers").await.status);
    }
    v
}

#[tokio::test]
async fn max_rps_rejects_with_503_and_retry_after() {
    let sim = sim(SimConfig {
        max_rps: Some(10),
        ..quick()
    })
    .await;
    let base = sim.base_url().to_string();
    let http = client();
    let started = Instant::now();
    let mut ok = 0;
    let mut rejected = 0;
    for _ in 0..25 {
        let a = send(http.get(format!("{base}/api/"))).await;
        match a.status {
            200 => ok += 1,
            503 => {
                rejected += 1;
                assert_eq!(a.header("retry-after"), Some("1"));
                assert_eq!(a.error(Wire::Xml).status, "ServiceUnavailable");
            }
            s => panic!("{s}"),
        }
    }
    let within_a_second = started.elapsed() < Duration::from_millis(900);
    let stats = sim_stats(&base).await;
    assert_eq!(stats["rejected_503"], rejected);
    assert_eq!(stats["requests"], 25, "rejected requests are counted too");
    assert!(stats["max_requests_in_one_second"].as_u64().unwrap() <= 10);
    if within_a_second {
        assert_eq!(ok, 10);
        assert_eq!(rejected, 15);
    }
    // After a second the window admits again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send(http.get(format!("{base}/api/"))).await.status, 200);
    sim.stop().await;
}

#[tokio::test]
async fn max_requests_in_one_second_counts_admitted_requests() {
    let sim = sim(quick()).await;
    let http = client();
    for _ in 0..12 {
        send(http.get(format!("{}/api/", sim.base_url()))).await;
    }
    let stats = sim_stats(sim.base_url()).await;
    assert_eq!(stats["max_requests_in_one_second"], 12);
    sim.stop().await;
}

#[tokio::test]
async fn latency_is_added_to_api_responses_only() {
    let sim = sim(SimConfig {
        latency: Duration::from_millis(250),
        ..quick()
    })
    .await;
    let http = client();
    let t = Instant::now();
    assert_eq!(
        send(http.get(format!("{}/api/", sim.base_url())))
            .await
            .status,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(250));
    let t = Instant::now();
    send(http.get(format!("{}/sim/stats", sim.base_url()))).await;
    assert!(t.elapsed() < Duration::from_millis(250));
    sim.stop().await;
}

#[tokio::test]
async fn refuse_task_query_answers_400_and_leaves_single_tasks_readable() {
    let sim = sim(SimConfig {
        refuse_task_query: true,
        ..quick()
    })
    .await;
    for w in [Wire::Xml, Wire::Json] {
        let s = Session::logon(sim.base_url(), w).await;
        let server = s.server_uid().await;
        let t: wire::Task = s
            .post_range(&server, "203.0.113.1", "203.0.113.1")
            .await
            .decode(w);
        let q = s
            .get(&format!(
                "/query?type=Task&format=Entities&filter=TaskId==%22{}%22",
                t.task_id
            ))
            .await;
        assert_eq!(q.status, 400, "{}", q.text);
        let e = q.error(w);
        assert_eq!(e.status, "BadRequest");
        assert!(e.message.contains("not supported"), "{}", e.message);
        if w == Wire::Xml {
            assert_schema_valid(&q.text);
        }
        // The task itself and the pool query still answer.
        assert_eq!(s.wait_task(&t.task_id).await.task_id, t.task_id);
        let pool = s
            .get("/query?type=CloudPublicIpAddress&format=Entities")
            .await;
        assert_eq!(pool.status, 200, "{}", pool.text);
        s.delete(&format!("/tasks/{}", t.task_id)).await;
    }
    sim.stop().await;
}

#[tokio::test]
async fn post_reply_delay_creates_the_task_on_arrival_and_answers_late() {
    let delay = Duration::from_millis(400);
    let sim = sim(SimConfig {
        post_reply_delay: delay,
        post_reply_delay_rate: 0.5,
        seed: Some(5),
        ..quick()
    })
    .await;
    let s = Session::logon(sim.base_url(), Wire::Xml).await;
    let server = s.server_uid().await;
    let spec = |a: u32| wire::CloudPublicIpAddressCreateSpec {
        backup_server_uid: server.clone(),
        ip_address_lower_bound: format!("203.0.113.{a}"),
        ip_address_upper_bound: format!("203.0.113.{a}"),
    };
    // A client giving up before the delay sees a timeout, yet the task runs.
    let mut timed_out = 0;
    let mut answered = 0;
    for a in 0..12 {
        let started = Instant::now();
        let r = s
            .req(reqwest::Method::POST, "/cloud/publicIpAddresses")
            .header("Content-Type", accept(Wire::Xml))
            .body(wire::encode(&spec(a), Wire::Xml))
            .timeout(Duration::from_millis(150))
            .send()
            .await;
        match r {
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                timed_out += 1;
            }
            Ok(r) => {
                assert_eq!(r.status().as_u16(), 202);
                assert!(started.elapsed() < delay);
                answered += 1;
            }
        }
    }
    assert!(timed_out > 0 && answered > 0, "{timed_out} {answered}");
    // A patient client gets its 202, late.
    let mut delayed = 0;
    for a in 12..16 {
        let started = Instant::now();
        let r = s.post_body("/cloud/publicIpAddresses", &spec(a)).await;
        assert_eq!(r.status, 202, "{}", r.text);
        delayed += u64::from(started.elapsed() >= delay);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = sim_stats(sim.base_url()).await;
    assert_eq!(stats["tasks_created"], 16, "{stats}");
    assert_eq!(stats["delayed_replies"], timed_out + delayed, "{stats}");
    assert_eq!(sim_pool(sim.base_url()).await[&server].len(), 16);
    // Every task, timed out or not, is in the session's list.
    let tasks: wire::Tasks = s.get("/tasks").await.decode(Wire::Xml);
    assert_eq!(tasks.tasks.len(), 16);
    sim.stop().await;
}
