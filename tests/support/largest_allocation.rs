//! The largest single allocation a test binary asked for, counted by its global allocator:
//! property tests check that no input makes the code under test allocate more than
//! `ALLOCATION_BOUND` at once (inputs claiming huge sizes are refused before allocating).
//! Shared by `tests/fuzz.rs` and the disk index's row tests; include it once per binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The most any single allocation may take while these tests run: far above what the inputs
/// here can honestly need (the media app's limits allow 1 Mpixel images, 4 MiB decoded).
pub const ALLOCATION_BOUND: usize = 64 * 1024 * 1024;

/// Counts the largest allocation asked for, then lets the system allocator serve it.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a counter is updated besides.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

pub fn assert_allocations_bounded() {
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= ALLOCATION_BOUND,
        "an allocation of {largest} bytes"
    );
}
