//! The bodies of Rookery's fuzz targets, as plain functions: the libFuzzer
//! binaries in `fuzz_targets/` call them, and `tests/corpus.rs` replays the
//! committed corpus through them on a stable toolchain without libFuzzer.
//!
//! Each `run` panics (a finding) when the server code under test panics or when
//! a property the target checks fails; it returns normally for every input the
//! server handles correctly, however hostile.

pub mod client;
pub mod election;
pub mod model;
pub mod quorum;
pub mod seeds;
pub mod tree_diff;

/// Checks that one run of a target allocates no more than its input could
/// justify: at most `PER_BYTE` bytes per input byte plus `fixed`, the latter
/// for what the harness itself keeps and for limits a length is checked
/// against (a frame of up to the frame limit). A decoder that trusted a length
/// the input claims, instead of the bytes it has, would exceed it. Counted only
/// in fuzz builds (`--cfg fuzzing`), where a counting allocator is installed
/// and libFuzzer runs one input at a time.
pub fn within_budget(input_len: usize, fixed: usize, run: impl FnOnce()) {
    #[cfg(fuzzing)]
    {
        let base = budget::start();
        run();
        let peak = budget::peak().saturating_sub(base);
        let allowed = input_len
            .saturating_mul(budget::PER_BYTE)
            .saturating_add(fixed);
        assert!(
            peak <= allowed,
            "{peak} bytes allocated at once for a {input_len}-byte input (allowed {allowed})"
        );
    }
    #[cfg(not(fuzzing))]
    {
        let _ = (input_len, fixed);
        run();
    }
}

/// Bytes live at once, counted by a wrapper around the system allocator.
#[cfg(fuzzing)]
mod budget {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// Decoders may pre-allocate a vector by the bytes left (a jute Reader caps
    /// a claimed count by them), and a vector element can be ~100 bytes.
    pub const PER_BYTE: usize = 128;

    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    #[global_allocator]
    static ALLOC: Counting = Counting;

    fn grew(by: usize) {
        let now = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }

    // SAFETY: every call is passed through to the system allocator unchanged;
    // the wrapper only counts sizes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = System.alloc(layout);
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = System.alloc_zeroed(layout);
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout);
            LIVE.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = System.realloc(ptr, layout, new_size);
            if !p.is_null() {
                LIVE.fetch_sub(layout.size(), Relaxed);
                grew(new_size);
            }
            p
        }
    }

    /// Starts a measurement; returns the bytes live now.
    pub fn start() -> usize {
        let now = LIVE.load(Relaxed);
        PEAK.store(now, Relaxed);
        now
    }

    pub fn peak() -> usize {
        PEAK.load(Relaxed)
    }
}

/// Reads structured choices out of fuzz input. Past the end every read gives
/// zero, so any input, even an empty one, is a complete program; seeds are
/// written with `Out`, which lays bytes out in the same order.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        ((self.u32() as u64) << 32) | self.u32() as u64
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = self.pos.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// Whatever is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

/// Writes seed inputs in the layout `Input` reads.
#[derive(Default)]
pub struct Out(pub Vec<u8>);

impl Out {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_reads_what_out_wrote_then_zeros() {
        let mut o = Out::default();
        o.u8(7)
            .u16(0x0102)
            .u32(0xdead_beef)
            .u64(u64::MAX)
            .raw(b"xy");
        let mut i = Input::new(&o.0);
        assert_eq!(i.u8(), 7);
        assert_eq!(i.u16(), 0x0102);
        assert_eq!(i.u32(), 0xdead_beef);
        assert_eq!(i.u64(), u64::MAX);
        assert_eq!(i.bytes(5), b"xy");
        assert!(i.is_empty());
        assert_eq!(i.u32(), 0);
        assert_eq!(i.rest(), b"");
    }
}
