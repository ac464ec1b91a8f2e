//! Memory advice for the few large buffers of a big input.
//!
//! A 1M-row `validate` writes about 165 MB of fresh memory (CSV blocks, the
//! rows' compact records twice). Faulted in 4 KB pages that took 42,000 page
//! faults and, on this VM where a fault is dear, about a tenth of the wall
//! time; backed by 2 MB transparent huge pages it takes 16,000 faults.

/// Ask the kernel to back `v`'s allocation with transparent huge pages
/// (honoured where THP is `madvise` or `always`; buffers under 2 MB are left
/// alone). Advice only: the contents and the validity of the memory do not
/// change, and a refusal changes nothing.
#[cfg(target_os = "linux")]
pub fn advise_huge_pages<T>(v: &Vec<T>) {
    const PAGE: usize = 4096;
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < HUGE {
        return;
    }
    let start = (v.as_ptr() as usize).next_multiple_of(PAGE);
    let end = (v.as_ptr() as usize + bytes) & !(PAGE - 1);
    if end > start {
        // SAFETY: madvise reads and writes no memory of ours, and
        // MADV_HUGEPAGE changes neither the contents nor the mapping of these
        // pages, which lie inside the vector's own allocation.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Elsewhere there is nothing to advise.
#[cfg(not(target_os = "linux"))]
pub fn advise_huge_pages<T>(_: &Vec<T>) {}
