//! Planning: resolve backup server names to UIDs, read the live pools, and
//! cut every merged range into the requests `apply` would send.
//!
//! Shared by `plan` (which prints the result) and `apply` (which journals it
//! and sends it). Reads only.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::em::client::{BackupServer, EmClient};
use crate::em::error::EmError;
use crate::engine::cut::{missing_pieces, overlap, present_count};
use crate::engine::events::{PlanRecord, PlanRow, PlannedRequest, PoolRanges, RangeText};
use crate::merge;
use crate::pipeline::Batch;
use crate::range::IpRange;
use crate::validate::{Diagnostic, backup_server_key, overlap_diagnostic};

/// Code of the diagnostic for a backup server Enterprise Manager does not know.
pub const UNKNOWN_BACKUP_SERVER: &str = "unknown-backup-server";

/// Codes of the warnings [`overlap_diagnostic`] gives.
const OVERLAP_CODES: [&str; 2] = ["overlap", "duplicate"];

/// A plan: the batch (rows resolved), the pools read, and the requests.
#[derive(Debug)]
pub struct Plan {
    /// The input batch; its merged ranges are now keyed by backup server UID,
    /// and rows naming an unknown backup server are invalid.
    pub batch: Batch,
    /// Each row's backup server UID (`None` for invalid rows), by row index.
    pub row_uids: Vec<Option<String>>,
    /// The pools as read, per backup server UID (sorted, coalesced).
    pub pools: BTreeMap<String, Vec<IpRange>>,
    /// Requests to send: (backup server UID, range), in order.
    pub requests: Vec<(String, IpRange)>,
    /// Desired addresses already in the pools.
    pub addresses_present: u128,
}

/// Resolve the batch's backup servers against `servers` (names compared
/// case-insensitively, UIDs must exist). Rows naming an unknown one become
/// invalid with a diagnostic; merged ranges are rebuilt by UID.
///
/// Rows that overlap only once two spellings of one server (name and UID,
/// `backup01` and `BACKUP01`) are seen as one get the `overlap`/`duplicate`
/// warning the first merge, by name, could not give; a row it already warned
/// about is not warned about again.
pub fn resolve_backup_servers(batch: &mut Batch, servers: &[BackupServer]) -> Vec<Option<String>> {
    let mut lookup: HashMap<String, &str> = HashMap::new();
    for s in servers {
        lookup.insert(backup_server_key(&s.name), &s.uid);
        lookup.insert(backup_server_key(&s.uid), &s.uid);
    }
    let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    let mut uids = Vec::with_capacity(batch.rows.len());
    let mut items = Vec::new();
    let mut newly_invalid = Vec::new();
    for row in batch.rows.iter_mut() {
        let valid = row.errors.is_empty();
        let (Some(name), Some(range), true) = (&row.backup_server, row.range, valid) else {
            uids.push(None);
            continue;
        };
        match lookup.get(&backup_server_key(name)) {
            Some(uid) => {
                items.push((uid.to_string(), range, row.source.clone()));
                uids.push(Some(uid.to_string()));
            }
            None => {
                let message = format!(
                    "backup server '{name}' is not known to Enterprise Manager (known: {}); \
                     fix the name or pass --backup-server",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
                row.errors.push(message.clone());
                newly_invalid.push(Diagnostic::error(
                    UNKNOWN_BACKUP_SERVER,
                    message,
                    &row.source.source,
                    row.source.line,
                ));
                uids.push(None);
            }
        }
    }
    batch.rows_invalid += newly_invalid.len() as u64;
    batch.diagnostics.extend(newly_invalid);
    let (ranges, overlaps) = merge::merge_with_overlaps(items);
    batch.ranges = ranges;
    let warned: HashSet<(&str, u64)> = batch
        .diagnostics
        .iter()
        .filter(|d| OVERLAP_CODES.contains(&d.code))
        .map(|d| (d.source.as_str(), d.line))
        .collect();
    let names: HashMap<&str, &str> = servers
        .iter()
        .map(|s| (s.uid.as_str(), s.name.as_str()))
        .collect();
    let found: Vec<Diagnostic> = overlaps
        .iter()
        .filter(|o| !warned.contains(&(&*o.row.source, o.row.line)))
        .map(|o| {
            let name = |uid: &'_ str| names.get(uid).copied().unwrap_or(uid).to_string();
            overlap_diagnostic(
                &o.row,
                &o.row_range,
                &o.other,
                &o.other_range,
                &name(&o.backup_server),
                &name(&o.other_backup_server),
            )
        })
        .collect();
    batch.diagnostics.extend(found);
    uids
}

/// Build the plan: resolve, read the pool of every backup server involved,
/// cut each merged range around what is present and by `max_per_request`.
pub async fn build(
    client: &EmClient,
    mut batch: Batch,
    max_per_request: u64,
) -> Result<Plan, EmError> {
    let servers = client.backup_servers().await?;
    let row_uids = resolve_backup_servers(&mut batch, &servers);
    let uids: BTreeSet<String> = batch
        .ranges
        .iter()
        .map(|r| r.backup_server.clone())
        .collect();
    let mut pools = BTreeMap::new();
    for uid in uids {
        let pool = client.read_pool(&uid).await?;
        pools.insert(uid, pool);
    }
    let (requests, addresses_present) = cut_all(&batch, &pools, max_per_request);
    Ok(Plan {
        batch,
        row_uids,
        pools,
        requests,
        addresses_present,
    })
}

/// The requests for every merged range of `batch` given `pools`, and how
/// many desired addresses are present already.
pub fn cut_all(
    batch: &Batch,
    pools: &BTreeMap<String, Vec<IpRange>>,
    max_per_request: u64,
) -> (Vec<(String, IpRange)>, u128) {
    let empty = Vec::new();
    let mut requests = Vec::new();
    let mut present = 0u128;
    for m in &batch.ranges {
        let pool = pools.get(&m.backup_server).unwrap_or(&empty);
        present += present_count(&m.range, pool);
        for piece in missing_pieces(&m.range, pool, max_per_request) {
            requests.push((m.backup_server.clone(), piece));
        }
    }
    (requests, present)
}

impl Plan {
    /// Every desired address (merged, so counted once).
    pub fn addresses_desired(&self) -> u128 {
        self.batch.ranges.iter().map(|m| m.range.count()).sum()
    }

    /// Whether `apply` would refuse to send anything: some rows are invalid
    /// and `--skip-invalid` was not given.
    pub fn refused(&self, skip_invalid: bool) -> bool {
        self.batch.has_errors() && !skip_invalid
    }

    /// The requests `apply` would send: none when it would refuse.
    pub fn would_send(&self, skip_invalid: bool) -> &[(String, IpRange)] {
        if self.refused(skip_invalid) {
            &[]
        } else {
            &self.requests
        }
    }

    /// The `to_submit` list of `plan --format json`.
    pub fn to_submit_json(&self, skip_invalid: bool) -> serde_json::Value {
        serde_json::Value::Array(
            self.would_send(skip_invalid)
                .iter()
                .map(|(uid, r)| {
                    serde_json::json!({
                        "backup_server_uid": uid,
                        "first": r.first_addr().to_string(),
                        "last": r.last_addr().to_string(),
                        "addresses": r.count() as u64,
                    })
                })
                .collect(),
        )
    }

    /// `plan --format json`: the validate JSON plus `to_submit` and `addresses_present`.
    pub fn to_json(&self, skip_invalid: bool) -> serde_json::Value {
        let mut v = self.batch.to_json();
        if let Some(map) = v.as_object_mut() {
            map.insert("to_submit".into(), self.to_submit_json(skip_invalid));
            map.insert(
                "addresses_present".into(),
                serde_json::Value::from(self.addresses_present as u64),
            );
        }
        v
    }

    /// `plan` text: the validate text, then what would be sent.
    pub fn write_text(
        &self,
        out: &mut dyn std::io::Write,
        skip_invalid: bool,
    ) -> std::io::Result<()> {
        self.batch.write_text(out)?;
        writeln!(out)?;
        let to_send: u128 = self.requests.iter().map(|(_, r)| r.count()).sum();
        let addresses = |n: u128| format!("{n} address{}", if n == 1 { "" } else { "es" });
        let requests = |n: usize| format!("{n} request{}", if n == 1 { "" } else { "s" });
        write!(
            out,
            "{} of {} desired addresses are already in the pool; ",
            self.addresses_present,
            self.addresses_desired(),
        )?;
        if self.refused(skip_invalid) {
            // apply refuses the whole batch: say so, and what the valid rows would need.
            writeln!(
                out,
                "apply would send nothing until the invalid rows are fixed \
                 (with --skip-invalid: {}, {}).",
                requests(self.requests.len()),
                addresses(to_send)
            )?;
            return Ok(());
        }
        if self.requests.is_empty() {
            writeln!(out, "nothing to send.")?;
        } else {
            writeln!(
                out,
                "{} would add {}:",
                requests(self.requests.len()),
                addresses(to_send)
            )?;
        }
        for (uid, r) in &self.requests {
            writeln!(out, "  POST {uid} {} ({})", r, addresses(r.count()))?;
        }
        Ok(())
    }

    /// The journal's record of this plan.
    pub fn record(&self) -> PlanRecord {
        let rows = self
            .batch
            .rows
            .iter()
            .zip(&self.row_uids)
            .map(|(row, uid)| PlanRow {
                source: row.source.source.to_string(),
                line: row.source.line,
                backup_server: row.backup_server.clone().unwrap_or_default(),
                backup_server_uid: uid.clone(),
                first: row.first_text.clone(),
                last: if row.last_text.is_empty() {
                    row.first_text.clone()
                } else {
                    row.last_text.clone()
                },
                comment: row.comment.clone().unwrap_or_default(),
                errors: row.errors.clone(),
            })
            .collect();
        let mut desired: BTreeMap<String, Vec<RangeText>> = BTreeMap::new();
        let mut present: BTreeMap<String, Vec<RangeText>> = BTreeMap::new();
        let empty = Vec::new();
        for m in &self.batch.ranges {
            desired
                .entry(m.backup_server.clone())
                .or_default()
                .push(RangeText::of(&m.range));
            let pool = self.pools.get(&m.backup_server).unwrap_or(&empty);
            present
                .entry(m.backup_server.clone())
                .or_default()
                .extend(overlap(&m.range, pool).iter().map(RangeText::of));
        }
        let to_pools = |map: BTreeMap<String, Vec<RangeText>>| {
            map.into_iter()
                .map(|(backup_server_uid, ranges)| PoolRanges {
                    backup_server_uid,
                    ranges,
                })
                .collect()
        };
        PlanRecord {
            rows_total: self.batch.rows_total,
            rows_invalid: self.batch.rows_invalid,
            ranges_merged: self.batch.ranges.len() as u64,
            addresses_desired: self.addresses_desired(),
            addresses_present: self.addresses_present,
            rows,
            desired: to_pools(desired),
            present_before: to_pools(present),
            requests: self
                .requests
                .iter()
                .enumerate()
                .map(|(i, (uid, r))| PlannedRequest {
                    req: i as u64,
                    backup_server_uid: uid.clone(),
                    range: RangeText::of(r),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ValidationSettings;
    use crate::pipeline::{InputOptions, load_batch};

    /// (code, line, message) of the overlap and duplicate warnings.
    fn overlap_warnings(batch: &Batch) -> Vec<(&'static str, u64, String)> {
        let mut v: Vec<_> = batch
            .diagnostics
            .iter()
            .filter(|d| OVERLAP_CODES.contains(&d.code))
            .map(|d| (d.code, d.line, d.message.clone()))
            .collect();
        v.sort_by_key(|(_, line, _)| *line);
        v
    }

    #[test]
    fn rows_of_one_server_spelled_two_ways_are_warned_about_once() {
        let uid = "urn:veeam:BackupServer:9b1c8a3e-0000-4000-8000-000000000001";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(
            &path,
            format!(
                "backup_server,range\n\
                 backup01,203.0.113.0/28\n\
                 BACKUP01,203.0.113.8-203.0.113.20\n\
                 {uid},203.0.113.0/28\n\
                 backup01,198.51.100.0/30\n\
                 backup01,198.51.100.2\n\
                 BACKUP01,198.51.100.3\n"
            ),
        )
        .unwrap();
        let mut batch = load_batch(
            &[path.display().to_string()],
            &InputOptions::default(),
            &ValidationSettings::default(),
            true,
        )
        .unwrap();
        // Offline, names compare without regard to case: line 3 overlaps
        // line 2, lines 6 and 7 overlap line 5. The UID of line 4 may be
        // backup01's or another server's: nothing is said of it yet.
        let first: Vec<u64> = overlap_warnings(&batch).iter().map(|w| w.1).collect();
        assert_eq!(first, vec![3, 6, 7]);
        let servers = [BackupServer {
            name: "backup01".into(),
            uid: uid.into(),
        }];
        let uids = resolve_backup_servers(&mut batch, &servers);
        assert!(uids.iter().all(|u| u.as_deref() == Some(uid)));
        let warnings = overlap_warnings(&batch);
        let lines: Vec<(&str, u64)> = warnings.iter().map(|w| (w.0, w.1)).collect();
        // Line 4 repeats line 2 once the UID is known to be backup01's; the
        // others keep their one warning from the first pass.
        assert_eq!(
            lines,
            vec![
                ("overlap", 3),
                ("duplicate", 4),
                ("overlap", 6),
                ("overlap", 7)
            ]
        );
        let source = path.display().to_string();
        assert!(
            warnings[0].2.contains(&format!("of {source}:2"))
                && warnings[0].2.contains("backup server backup01"),
            "{warnings:?}"
        );
        assert!(warnings[1].2.contains(&format!("repeats {source}:2")));
        assert_eq!(batch.ranges.len(), 2);
        assert!(!batch.has_errors());
    }
}
