//! Merging: per (backup server, family), overlapping and adjacent ranges
//! become one, and each merged range keeps the rows it came from.
//!
//! One parallel sort and one linear sweep. The same sweep finds overlapping
//! rows: each row that overlaps one sorted before it is paired once, with
//! the row that reaches furthest (which certainly overlaps it), so N rows
//! over the same addresses give N-1 warnings, not N² pairs. The warning goes
//! on the pair's later row in input order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::input::SourceRef;
use crate::range::{Family, IpRange};

/// A merged range of one backup server and the rows it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRange {
    /// The backup server as written (name) or its canonical UID.
    pub backup_server: String,
    pub range: IpRange,
    /// The source rows, ordered by input then line.
    pub sources: Vec<SourceRef>,
}

impl MergedRange {
    /// Number of addresses.
    pub fn addresses(&self) -> u128 {
        self.range.count()
    }
}

impl Serialize for MergedRange {
    /// The contract's shape: backup_server, family, first, last, addresses, sources.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RangeView {
            backup_server: &self.backup_server,
            range: self.range,
            sources: SourcesView::Refs(&self.sources),
        }
        .serialize(s)
    }
}

/// A merged range seen through borrowed parts; what the writers print.
#[derive(Debug, Clone, Copy)]
pub struct RangeView<'a> {
    pub backup_server: &'a str,
    pub range: IpRange,
    pub sources: SourcesView<'a>,
}

/// The source rows of a merged range: owned references, or compact items
/// and the table of input names they index.
#[derive(Debug, Clone, Copy)]
pub enum SourcesView<'a> {
    Refs(&'a [SourceRef]),
    Items(&'a [Item], &'a [Arc<str>]),
}

impl<'a> SourcesView<'a> {
    pub fn len(&self) -> usize {
        match self {
            SourcesView::Refs(r) => r.len(),
            SourcesView::Items(i, _) => i.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (input name, line) of each source row.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let this = *self;
        (0..this.len()).map(move |k| match this {
            SourcesView::Refs(r) => (&*r[k].source, r[k].line),
            SourcesView::Items(items, files) => (&*files[items[k].file as usize], items[k].line),
        })
    }
}

impl Serialize for SourcesView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Src<'a> {
            source: &'a str,
            line: u64,
        }
        s.collect_seq(self.iter().map(|(source, line)| Src { source, line }))
    }
}

impl Serialize for RangeView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("MergedRange", 6)?;
        st.serialize_field("backup_server", self.backup_server)?;
        st.serialize_field("family", self.range.family().as_str())?;
        st.serialize_field("first", &DisplayStr(self.range.first_addr()))?;
        st.serialize_field("last", &DisplayStr(self.range.last_addr()))?;
        st.serialize_field("addresses", &self.range.count())?;
        st.serialize_field("sources", &self.sources)?;
        st.end()
    }
}

/// Serialize a `Display` value as a string without an intermediate `String`.
struct DisplayStr<T>(T);

impl<T: std::fmt::Display> Serialize for DisplayStr<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A valid row in compact form: what merging needs and nothing more.
/// `server` and `file` are indexes into tables kept by the caller; server
/// indexes must follow the order of the names, so that output sorted by
/// index is sorted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub server: u32,
    pub range: IpRange,
    pub file: u32,
    pub line: u64,
}

impl Item {
    /// Sort order: backup server, family, first, last, input, line. Server
    /// and family share one integer so that the common first comparison is one.
    fn key(&self) -> (u64, u128, u128, u32, u64) {
        let group = ((self.server as u64) << 1) | (self.range.family() == Family::V6) as u64;
        (
            group,
            self.range.first(),
            self.range.last(),
            self.file,
            self.line,
        )
    }
}

/// An empty vector with room for `capacity` items, its memory advised to
/// huge pages.
///
/// A million rows make 64 MB of items, written once per chunk and once more
/// when the chunks are joined: most of a 1M-row validate's page faults
/// ([`crate::memory::advise_huge_pages`]).
pub fn item_buffer(capacity: usize) -> Vec<Item> {
    let items = Vec::with_capacity(capacity);
    crate::memory::advise_huge_pages(&items);
    items
}

/// Merged ranges over sorted compact items, as the index where each one's
/// items start: 8 bytes per merged range, where a materialized range with
/// its server and bounds would take 64 (a million of them is felt).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedItems {
    /// Start of each merged range's items, then the number of items.
    bounds: Vec<usize>,
}

impl MergedItems {
    /// Number of merged ranges.
    pub fn len(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indexes (into the sorted items) of the `index`-th merged range's rows.
    pub fn items(&self, index: usize) -> std::ops::Range<usize> {
        self.bounds[index]..self.bounds[index + 1]
    }
}

/// The backup server index and range covered by one merged range's items.
pub fn hull(items: &[Item]) -> (u32, IpRange) {
    let mut range = items[0].range;
    for it in &items[1..] {
        range = range.hull(&it.range);
    }
    (items[0].server, range)
}

/// A row that overlaps (or repeats) an earlier row (in input order) of the
/// same backup server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap {
    pub row: Item,
    pub other: Item,
}

/// Sort `items` and merge them. On return, the items of each merged range
/// are contiguous ([`MergedItems::items`]) and ordered by (file, line).
pub fn merge_items(items: &mut [Item]) -> (MergedItems, Vec<Overlap>) {
    items.par_sort_unstable_by_key(Item::key);
    let mut bounds = Vec::new();
    let mut overlaps = Vec::new();
    // The current merged range, and the row reaching furthest in it.
    let mut current: Option<(u32, IpRange)> = None;
    let mut reach = 0usize;
    for (i, item) in items.iter().enumerate() {
        if let Some((server, range)) = &mut current
            && *server == item.server
            && range.touches(&item.range)
        {
            let furthest = items[reach];
            if furthest.range.overlaps(&item.range) {
                // A duplicate is named against the previous identical row.
                let other = if items[i - 1].range == item.range {
                    items[i - 1]
                } else {
                    furthest
                };
                // Warn on the row that comes later in the input, naming the
                // earlier one: that is the row a person reading the file
                // would call the repeat, whatever the sort order.
                let (row, other) = if (other.file, other.line) > (item.file, item.line) {
                    (other, *item)
                } else {
                    (*item, other)
                };
                overlaps.push(Overlap { row, other });
            }
            if item.range.last() > furthest.range.last() {
                reach = i;
            }
            *range = range.hull(&item.range);
            continue;
        }
        reach = i;
        bounds.push(i);
        current = Some((item.server, item.range));
    }
    bounds.push(items.len());
    for pair in bounds.windows(2) {
        if pair[1] - pair[0] > 1 {
            items[pair[0]..pair[1]].sort_unstable_by_key(|it| (it.file, it.line));
        }
    }
    (MergedItems { bounds }, overlaps)
}

/// Rows of different backup servers that share addresses: one pair per pair
/// of overlapping merged ranges, each row named by a source row holding the
/// first shared address (warned on the later row in input order, like
/// [`Overlap`]). A public address routes to one place, so giving it to two
/// backup servers' pools is most likely a mistake; the pools are still kept
/// apart, as the contract merges per backup server.
///
/// `items` and `merged` are what [`merge_items`] left, over backup servers
/// known to be distinct (resolved UIDs). Nothing to do, and nothing spent,
/// when every row is of one backup server.
pub fn cross_server_overlaps(items: &[Item], merged: &MergedItems) -> Vec<Overlap> {
    let Some(first) = items.first() else {
        return Vec::new();
    };
    if items.iter().all(|it| it.server == first.server) {
        return Vec::new();
    }
    // The merged ranges come in runs of one (server, family), each sorted
    // by first address and disjoint. Walk all runs at once in order of
    // (family, first address, server), a k-way merge: memory grows with
    // the number of servers, not of ranges (a million ranges over three
    // servers would otherwise take 60 MB of sorted hulls).
    let group = |m: usize| {
        let it = &items[merged.items(m).start];
        (it.server, it.range.family())
    };
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut m = 0;
    while m < merged.len() {
        let (start, key) = (m, group(m));
        while m < merged.len() && group(m) == key {
            m += 1;
        }
        runs.push((start, m));
    }
    let hull_of = |m: usize| hull(&items[merged.items(m)]);
    let order =
        |server: u32, range: &IpRange| (range.family() == Family::V6, range.first(), server);
    // Each run's current merged range, and a heap of the runs by its order.
    let mut current: Vec<(u32, IpRange, usize)> = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (r, &(start, _)) in runs.iter().enumerate() {
        let (server, range) = hull_of(start);
        heap.push(Reverse((order(server, &range), r)));
        current.push((server, range, start));
    }
    let mut next_hull = move || {
        let Reverse((_, r)) = heap.pop()?;
        let taken = current[r];
        let m = taken.2 + 1;
        if m < runs[r].1 {
            let (server, range) = hull_of(m);
            heap.push(Reverse((order(server, &range), r)));
            current[r] = (server, range, m);
        }
        Some(taken)
    };
    // A row of the merged range `m` holding `address`: merged ranges are
    // contiguous, so every address of the hull is in one of its rows.
    let holder = |m: usize, address: u128| {
        let rows = &items[merged.items(m)];
        *rows
            .iter()
            .find(|it| it.range.first() <= address && address <= it.range.last())
            .unwrap_or(&rows[0])
    };
    let mut out = Vec::new();
    // Within one family, the hull reaching furthest so far overlaps every
    // later hull that starts before its end; hulls of one server never
    // overlap each other. Like the row sweep, pair each with that one.
    let mut reach: Option<(u32, IpRange, usize)> = None;
    while let Some((server, range, m)) = next_hull() {
        if let Some((other_server, other_range, other_m)) = reach
            && other_range.overlaps(&range)
        {
            if other_server != server {
                let shared = range.first();
                let (a, b) = (holder(m, shared), holder(other_m, shared));
                let (row, other) = if (b.file, b.line) > (a.file, a.line) {
                    (b, a)
                } else {
                    (a, b)
                };
                out.push(Overlap { row, other });
            }
            if range.last() <= other_range.last() {
                continue;
            }
        }
        reach = Some((server, range, m));
    }
    out
}

/// A row that overlaps (or repeats) an earlier row, by source: what
/// [`merge_with_overlaps`] found. The two backup servers are the same
/// unless the rows give one address to two pools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOverlap {
    pub backup_server: String,
    pub row: SourceRef,
    pub row_range: IpRange,
    pub other_backup_server: String,
    pub other: SourceRef,
    pub other_range: IpRange,
}

/// Merge per (backup server, family), overlapping AND adjacent; output sorted
/// by (backup_server, range).
pub fn merge(items: Vec<(String, IpRange, SourceRef)>) -> Vec<MergedRange> {
    merge_with_overlaps(items).0
}

/// [`merge`], and the rows overlapping an earlier row of the same backup
/// server, found by the same sweep (each row named at most once), then
/// those sharing addresses with another server's ([`cross_server_overlaps`];
/// the servers here are taken to be distinct: `plan` merges resolved UIDs).
pub fn merge_with_overlaps(
    items: Vec<(String, IpRange, SourceRef)>,
) -> (Vec<MergedRange>, Vec<RowOverlap>) {
    let servers: BTreeMap<&str, u32> = items
        .iter()
        .map(|(s, _, _)| s.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, i as u32))
        .collect();
    let mut files: Vec<Arc<str>> = Vec::new();
    let mut file_ids: HashMap<Arc<str>, u32> = HashMap::new();
    let mut compact: Vec<Item> = items
        .iter()
        .map(|(server, range, src)| {
            let file = *file_ids.entry(src.source.clone()).or_insert_with(|| {
                files.push(src.source.clone());
                files.len() as u32 - 1
            });
            Item {
                server: servers[server.as_str()],
                range: *range,
                file,
                line: src.line,
            }
        })
        .collect();
    let names: Vec<&str> = servers.keys().copied().collect();
    let (merged, mut overlaps) = merge_items(&mut compact);
    overlaps.extend(cross_server_overlaps(&compact, &merged));
    let source = |it: &Item| SourceRef {
        source: files[it.file as usize].clone(),
        line: it.line,
    };
    let overlaps = overlaps
        .iter()
        .map(|o| RowOverlap {
            backup_server: names[o.row.server as usize].to_string(),
            row: source(&o.row),
            row_range: o.row.range,
            other_backup_server: names[o.other.server as usize].to_string(),
            other: source(&o.other),
            other_range: o.other.range,
        })
        .collect();
    let ranges = (0..merged.len())
        .map(|m| {
            let group = &compact[merged.items(m)];
            let (server, range) = hull(group);
            MergedRange {
                backup_server: names[server as usize].to_string(),
                range,
                sources: group
                    .iter()
                    .map(|it| SourceRef {
                        source: files[it.file as usize].clone(),
                        line: it.line,
                    })
                    .collect(),
            }
        })
        .collect();
    (ranges, overlaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(server: &str, range: &str, line: u64) -> (String, IpRange, SourceRef) {
        (
            server.to_string(),
            IpRange::parse(range).unwrap(),
            SourceRef {
                source: "f.csv".into(),
                line,
            },
        )
    }

    #[test]
    fn cross_server_overlaps_pair_each_overlapping_merged_range_once() {
        let (ranges, overlaps) = merge_with_overlaps(vec![
            item("a", "203.0.113.0-203.0.113.9", 2),
            item("a", "203.0.113.10-203.0.113.19", 3),
            item("b", "203.0.113.15-203.0.113.40", 4),
            item("c", "203.0.113.30", 5),
            item("c", "203.0.113.41", 6),
            item("a", "2001:db8::/126", 7),
            item("b", "2001:db8::4", 8),
        ]);
        assert_eq!(ranges.len(), 6);
        let got: Vec<(String, u64, String, u64, String)> = overlaps
            .iter()
            .map(|o| {
                (
                    o.backup_server.clone(),
                    o.row.line,
                    o.other_backup_server.clone(),
                    o.other.line,
                    o.row_range.intersect(&o.other_range).unwrap().to_string(),
                )
            })
            .collect();
        // b's row overlaps a's second row (the one holding .15); c's .30
        // lies inside b's range; .41 is only adjacent, v6 ::4 only adjacent.
        assert_eq!(
            got,
            vec![
                (
                    "b".into(),
                    4,
                    "a".into(),
                    3,
                    "203.0.113.15-203.0.113.19".into()
                ),
                ("c".into(), 5, "b".into(), 4, "203.0.113.30".into()),
            ]
        );
    }

    #[test]
    fn merges_overlapping_and_adjacent_per_server_and_family() {
        let out = merge(vec![
            item("b", "203.0.113.0/28", 2),
            item("a", "203.0.113.16-203.0.113.20", 3),
            item("b", "203.0.113.16", 4),
            item("b", "2001:db8::/127", 5),
            item("b", "2001:db8::2", 6),
            item("b", "203.0.113.10-203.0.113.12", 7),
            item("b", "203.0.113.30", 8),
        ]);
        let got: Vec<(String, String, Vec<u64>)> = out
            .iter()
            .map(|m| {
                (
                    m.backup_server.clone(),
                    m.range.to_string(),
                    m.sources.iter().map(|s| s.line).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), "203.0.113.16-203.0.113.20".into(), vec![3]),
                ("b".into(), "203.0.113.0-203.0.113.16".into(), vec![2, 4, 7]),
                ("b".into(), "203.0.113.30".into(), vec![8]),
                ("b".into(), "2001:db8::-2001:db8::2".into(), vec![5, 6]),
            ]
        );
    }

    #[test]
    fn overlaps_name_each_row_once() {
        let mut items: Vec<Item> = (0..50)
            .map(|i| Item {
                server: 0,
                range: IpRange::parse("203.0.113.0/24").unwrap(),
                file: 0,
                line: i + 2,
            })
            .collect();
        items.push(Item {
            server: 0,
            range: IpRange::parse("203.0.113.255-203.0.114.3").unwrap(),
            file: 0,
            line: 100,
        });
        items.push(Item {
            server: 0,
            range: IpRange::parse("203.0.114.4").unwrap(),
            file: 0,
            line: 101,
        });
        let (merged, overlaps) = merge_items(&mut items);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            hull(&items[merged.items(0)]).1.to_string(),
            "203.0.113.0-203.0.114.4"
        );
        assert_eq!(overlaps.len(), 50);
        assert!(
            overlaps
                .iter()
                .all(|o| o.row.range.overlaps(&o.other.range))
        );
        assert!(overlaps.iter().all(|o| o.row.line != 101));
        // Each warning sits on the later row of its pair, in input order.
        assert!(
            overlaps
                .iter()
                .all(|o| (o.row.file, o.row.line) > (o.other.file, o.other.line))
        );
    }

    #[test]
    fn an_overlap_is_reported_on_the_later_row_of_the_input() {
        // The wider block comes second in the file but first in sort order.
        let mut items = vec![
            Item {
                server: 0,
                range: IpRange::parse("198.51.100.4").unwrap(),
                file: 0,
                line: 1,
            },
            Item {
                server: 0,
                range: IpRange::parse("198.51.100.0/29").unwrap(),
                file: 0,
                line: 2,
            },
        ];
        let (_, overlaps) = merge_items(&mut items);
        assert_eq!(overlaps.len(), 1);
        assert_eq!((overlaps[0].row.line, overlaps[0].other.line), (2, 1));
    }
}
