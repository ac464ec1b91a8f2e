//! `ipimport sim [--listen 127.0.0.1:9398] [--tls [--cert-out FILE]] [--state FILE]
//! [--seed-pool FILE] [--task-ms N] [--fail-rate P] ... [--seed N]`
//!
//! Runs the built-in Enterprise Manager simulator until SIGINT/SIGTERM. The
//! first line on stdout is exactly `listening on http://ADDR:PORT` (or
//! `https://...`), so scripts can read it. Exits 0, saving the state when
//! `--state` is set.

use std::io::Write;

use anyhow::Context;

use crate::cli::SimArgs;
use crate::exit::Exit;
use crate::sim::{SimConfig, start};

pub fn run(args: SimArgs) -> anyhow::Result<Exit> {
    let config = SimConfig::from_args(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let sim = start(config).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", sim.base_url())?;
            out.flush()?;
        }
        tracing::info!(
            seed = sim.seed(),
            "simulator ready at {}/api/",
            sim.base_url()
        );
        super::interrupt_signal().await;
        sim.stop().await;
        Ok(Exit::Ok)
    })
}
