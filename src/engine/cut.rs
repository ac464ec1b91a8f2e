//! Cutting desired ranges into requests: around what the pool already holds,
//! and by `--max-per-request`. Pure functions over [`IpRange`].

use crate::range::IpRange;

/// The parts of `desired` missing from `pool`, each split into pieces of at
/// most `max_per_request` addresses, in address order.
///
/// `pool` must be sorted and coalesced ([`crate::range::coalesce_sorted`]).
pub fn missing_pieces(desired: &IpRange, pool: &[IpRange], max_per_request: u64) -> Vec<IpRange> {
    desired
        .subtract(pool)
        .iter()
        .flat_map(|part| {
            part.split(max_per_request.max(1) as u128)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How many addresses of `range` are in `pool` (sorted, coalesced).
pub fn present_count(range: &IpRange, pool: &[IpRange]) -> u128 {
    let missing: u128 = range.subtract(pool).iter().map(IpRange::count).sum();
    range.count() - missing
}

/// The parts of `pool` (sorted, coalesced) that meet `range`.
pub fn overlap(range: &IpRange, pool: &[IpRange]) -> Vec<IpRange> {
    let start = pool.partition_point(|p| (p.family(), p.last()) < (range.family(), range.first()));
    pool[start..]
        .iter()
        .take_while(|p| p.family() == range.family() && p.first() <= range.last())
        .filter_map(|p| p.intersect(range))
        .collect()
}

/// Whether every address of `range` is in `pool` (sorted, coalesced).
pub fn fully_present(range: &IpRange, pool: &[IpRange]) -> bool {
    range.subtract(pool).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::coalesce_sorted;

    fn r(text: &str) -> IpRange {
        IpRange::parse(text).unwrap()
    }

    fn pool(texts: &[&str]) -> Vec<IpRange> {
        let mut v: Vec<_> = texts.iter().map(|t| r(t)).collect();
        v.sort();
        coalesce_sorted(&v)
    }

    #[test]
    fn cuts_around_present_and_splits_by_size() {
        let p = pool(&["198.51.100.5", "198.51.100.20-198.51.100.29"]);
        let pieces = missing_pieces(&r("198.51.100.0-198.51.100.39"), &p, 8);
        let texts: Vec<String> = pieces.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            texts,
            [
                "198.51.100.0-198.51.100.4",
                "198.51.100.6-198.51.100.13",
                "198.51.100.14-198.51.100.19",
                "198.51.100.30-198.51.100.37",
                "198.51.100.38-198.51.100.39",
            ]
        );
        assert_eq!(present_count(&r("198.51.100.0-198.51.100.39"), &p), 11);
        assert!(missing_pieces(&r("198.51.100.21-198.51.100.22"), &p, 8).is_empty());
    }

    #[test]
    fn other_family_in_the_pool_is_ignored() {
        let p = pool(&["2001:db8::1", "198.51.100.1"]);
        assert_eq!(
            missing_pieces(&r("2001:db8::-2001:db8::2"), &p, 100),
            vec![r("2001:db8::"), r("2001:db8::2")]
        );
        assert_eq!(overlap(&r("198.51.100.0/30"), &p), vec![r("198.51.100.1")]);
    }
}
