//! The simulated public IP pool: one entity per address, per backup server.
//!
//! Kept compact so that a million addresses fit in well under 256 MB: per
//! backup server one ordered map per family from the address (a `u32` or
//! `u128`) to a 20-byte record (GUID bytes and a tenant index), plus one hash
//! index from GUID to location for the by-id endpoints. Text (address, UID,
//! links) is rendered only when answering.

use std::collections::{BTreeMap, HashMap};

use crate::range::{Family, IpRange, format_address};

/// "No tenant" in [`Entry::tenant`].
pub const NO_TENANT: u32 = u32::MAX;

/// What the pool stores per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The entity's GUID, as bytes (keeps the record 4-byte aligned).
    pub guid: [u8; 16],
    /// Index into [`Pool::tenants`], or [`NO_TENANT`].
    pub tenant: u32,
}

/// Where an entity lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loc {
    pub server: u16,
    pub family: Family,
    addr: [u8; 16],
}

impl Loc {
    pub fn new(server: usize, family: Family, addr: u128) -> Loc {
        Loc {
            server: server as u16,
            family,
            addr: addr.to_be_bytes(),
        }
    }
    pub fn addr(&self) -> u128 {
        u128::from_be_bytes(self.addr)
    }
}

/// A tenant an address can be assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub uid: String,
    pub name: String,
}

/// One backup server's addresses.
#[derive(Debug, Clone, Default)]
pub struct ServerPool {
    v4: BTreeMap<u32, Entry>,
    v6: BTreeMap<u128, Entry>,
}

impl ServerPool {
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every address in order: IPv4 first, each family ascending.
    pub fn iter(&self) -> impl Iterator<Item = (Family, u128, Entry)> + '_ {
        self.v4
            .iter()
            .map(|(a, e)| (Family::V4, *a as u128, *e))
            .chain(self.v6.iter().map(|(a, e)| (Family::V6, *a, *e)))
    }

    pub fn get(&self, family: Family, addr: u128) -> Option<Entry> {
        match family {
            Family::V4 => self.v4.get(&(addr as u32)).copied(),
            Family::V6 => self.v6.get(&addr).copied(),
        }
    }

    /// The lowest address of `range` already present.
    pub fn first_present(&self, range: &IpRange) -> Option<u128> {
        match range.family() {
            Family::V4 => self
                .v4
                .range(range.first() as u32..=range.last() as u32)
                .next()
                .map(|(a, _)| *a as u128),
            Family::V6 => self
                .v6
                .range(range.first()..=range.last())
                .next()
                .map(|(a, _)| *a),
        }
    }

    fn insert(&mut self, family: Family, addr: u128, entry: Entry) {
        match family {
            Family::V4 => self.v4.insert(addr as u32, entry),
            Family::V6 => self.v6.insert(addr, entry),
        };
    }

    fn remove(&mut self, family: Family, addr: u128) -> Option<Entry> {
        match family {
            Family::V4 => self.v4.remove(&(addr as u32)),
            Family::V6 => self.v6.remove(&addr),
        }
    }
}

/// The whole pool: one [`ServerPool`] per known backup server (same order as
/// the configuration), the GUID index, and the tenants.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    servers: Vec<ServerPool>,
    by_guid: HashMap<[u8; 16], Loc>,
    pub tenants: Vec<Tenant>,
}

impl Pool {
    /// An empty pool for `servers` backup servers.
    pub fn new(servers: usize) -> Pool {
        Pool {
            servers: vec![ServerPool::default(); servers],
            by_guid: HashMap::new(),
            tenants: Vec::new(),
        }
    }

    pub fn server(&self, index: usize) -> &ServerPool {
        &self.servers[index]
    }

    pub fn is_empty(&self) -> bool {
        self.by_guid.is_empty()
    }

    /// Make room for `additional` more addresses in the GUID index at once
    /// (a large range would otherwise regrow it several times over).
    pub fn reserve(&mut self, additional: u128) {
        self.by_guid.reserve(
            usize::try_from(additional)
                .unwrap_or(usize::MAX)
                .min(1 << 24),
        );
    }

    /// Find an entity by GUID.
    pub fn locate(&self, guid: &[u8; 16]) -> Option<(Loc, Entry)> {
        let loc = *self.by_guid.get(guid)?;
        let entry = self.servers[loc.server as usize].get(loc.family, loc.addr())?;
        Some((loc, entry))
    }

    /// Add one address. The caller has checked it is absent; returns false
    /// (and changes nothing) if it is not.
    pub fn insert(
        &mut self,
        server: usize,
        family: Family,
        addr: u128,
        guid: [u8; 16],
        tenant: u32,
    ) -> bool {
        if self.servers[server].get(family, addr).is_some() || self.by_guid.contains_key(&guid) {
            return false;
        }
        self.servers[server].insert(family, addr, Entry { guid, tenant });
        self.by_guid.insert(guid, Loc::new(server, family, addr));
        true
    }

    /// Add every address of `range` to one server's pool, all or nothing.
    /// Refuses (changing nothing) with the lowest address already present.
    /// Each address gets a GUID from `draw`; a GUID already in use (a seeded
    /// stream restarted over a loaded `--state` repeats earlier GUIDs) is
    /// drawn again, so the result stays deterministic under `--seed`.
    pub fn insert_range(
        &mut self,
        server: usize,
        range: &IpRange,
        tenant: u32,
        mut draw: impl FnMut() -> [u8; 16],
    ) -> Result<(), u128> {
        if let Some(addr) = self.servers[server].first_present(range) {
            return Err(addr);
        }
        self.reserve(range.count());
        for addr in range.first()..=range.last() {
            let guid = loop {
                let guid = draw();
                if !self.by_guid.contains_key(&guid) {
                    break guid;
                }
            };
            let inserted = self.insert(server, range.family(), addr, guid, tenant);
            debug_assert!(inserted, "checked above: address absent, GUID unused");
        }
        Ok(())
    }

    /// Remove an entity by GUID.
    pub fn remove(&mut self, guid: &[u8; 16]) -> Option<(Loc, Entry)> {
        let loc = self.by_guid.remove(guid)?;
        let entry = self.servers[loc.server as usize].remove(loc.family, loc.addr())?;
        Some((loc, entry))
    }

    /// Move an entity to another address of the same backup server, keeping
    /// its GUID and tenant. False when the target address is taken.
    pub fn readdress(&mut self, guid: &[u8; 16], family: Family, addr: u128) -> bool {
        let Some((loc, entry)) = self.locate(guid) else {
            return false;
        };
        let server = loc.server as usize;
        if let Some(other) = self.servers[server].get(family, addr) {
            return other.guid == *guid;
        }
        self.servers[server].remove(loc.family, loc.addr());
        self.servers[server].insert(family, addr, entry);
        self.by_guid.insert(*guid, Loc::new(server, family, addr));
        true
    }

    /// The index of a tenant, adding it when new.
    pub fn tenant_index(&mut self, uid: &str, name: &str) -> u32 {
        if let Some(i) = self
            .tenants
            .iter()
            .position(|t| t.uid.eq_ignore_ascii_case(uid))
        {
            return i as u32;
        }
        self.tenants.push(Tenant {
            uid: uid.to_string(),
            name: name.to_string(),
        });
        (self.tenants.len() - 1) as u32
    }

    pub fn tenant(&self, index: u32) -> Option<&Tenant> {
        if index == NO_TENANT {
            None
        } else {
            self.tenants.get(index as usize)
        }
    }

    /// The addresses of one server in text, in order (for `/sim/pool`).
    pub fn addresses_text(&self, server: usize) -> Vec<String> {
        self.servers[server]
            .iter()
            .map(|(f, a, _)| format_address(f, a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_locate_readdress_remove() {
        let mut pool = Pool::new(2);
        assert!(pool.insert(1, Family::V6, 5, [1; 16], NO_TENANT));
        assert!(pool.insert(1, Family::V4, 9, [2; 16], NO_TENANT));
        assert!(!pool.insert(1, Family::V4, 9, [3; 16], NO_TENANT));
        let order: Vec<_> = pool.server(1).iter().map(|(f, a, _)| (f, a)).collect();
        assert_eq!(order, vec![(Family::V4, 9), (Family::V6, 5)]);
        let range = IpRange::new(Family::V4, 0, 100).unwrap();
        assert_eq!(pool.server(1).first_present(&range), Some(9));
        assert_eq!(pool.server(0).first_present(&range), None);
        assert!(pool.readdress(&[2; 16], Family::V4, 10));
        assert_eq!(pool.locate(&[2; 16]).unwrap().0.addr(), 10);
        assert!(!pool.readdress(&[2; 16], Family::V6, 5));
        assert!(pool.remove(&[1; 16]).is_some());
        assert!(!pool.is_empty());
        assert_eq!(pool.addresses_text(1), vec!["0.0.0.10"]);
    }

    #[test]
    fn insert_range_redraws_used_guids_and_is_all_or_nothing() {
        let mut pool = Pool::new(1);
        assert!(pool.insert(0, Family::V4, 100, [1; 16], NO_TENANT));
        // The stream repeats the used GUID first, as a restarted seed would.
        let mut stream = [[1u8; 16], [2; 16], [1; 16], [3; 16]].into_iter();
        let range = IpRange::new(Family::V4, 200, 201).unwrap();
        assert_eq!(
            pool.insert_range(0, &range, NO_TENANT, || stream.next().unwrap()),
            Ok(())
        );
        assert_eq!(
            pool.addresses_text(0),
            vec!["0.0.0.100", "0.0.0.200", "0.0.0.201"]
        );
        assert_eq!(pool.locate(&[2; 16]).unwrap().0.addr(), 200);
        assert_eq!(pool.locate(&[3; 16]).unwrap().0.addr(), 201);
        // One address present: nothing added.
        let range = IpRange::new(Family::V4, 99, 101).unwrap();
        let mut n = 10u8;
        let r = pool.insert_range(0, &range, NO_TENANT, || {
            n += 1;
            [n; 16]
        });
        assert_eq!(r, Err(100));
        assert_eq!(pool.server(0).len(), 3);
    }
}
