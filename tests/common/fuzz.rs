//! A small mutation fuzzer that runs on the stable toolchain inside `cargo test`: seeded,
//! bounded by a time budget and a case count, and shared by every target in `tests/fuzz.rs`.
//!
//! Each case is either random bytes or a valid seed input put through a few mutations: bit
//! flips, interesting bytes and integers (`0`, `-1`, `i32::MAX` counts, ...), inserted and
//! deleted ranges, duplicated ranges, splices with another input, and varints whose
//! continuation bits run past where a reader stops (`80 80 80 80 80`, `ff ff ff ff 8f`, ...).
//! Mutated inputs that a target accepts join the pool, so later cases start from them.
//!
//! Settings, from the environment:
//! * `FUZZ_SECONDS`: the time budget per target (default 3; fractions allowed);
//! * `FUZZ_CASES`: the most cases per target (default: each target's own cap);
//! * `FUZZ_SEED`: the seed (default: from the clock; every failure names the seed it ran with);
//! * `FUZZ_INPUT`: one input in hex (as a failure prints it) to run after the seeds, instead
//!   of any mutation; pick the target by its test's name.
//!
//! A target that panics fails the test with its seed, case number and input in hex. A target
//! that asks the allocator for more than [`ALLOCATION_LIMIT`] bytes at once (a forged count
//! the decoder trusted) would abort the process; under [`Watchdog`], the global allocator of
//! `tests/fuzz.rs`, the request is refused and the inputs being run are printed first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A splitmix64 generator: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Big-endian integers a decoder must survive in any length or count field.
const INTERESTING_INTS: &[i64] = &[
    0,
    1,
    -1,
    -2,
    2,
    0x7f,
    0x80,
    0xff,
    i16::MAX as i64,
    i16::MIN as i64,
    0xffff,
    i32::MAX as i64,
    i32::MIN as i64,
    1 << 29,
    1 << 30,
    i64::MAX,
    i64::MIN,
];

/// Varints that are too long, or end where one reader stops and another reads on.
const VARINT_EDGES: &[&[u8]] = &[
    &[0x80, 0x80, 0x80, 0x80, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0x8f],
    &[0xfe, 0xff, 0xff, 0xff, 0x07],
    &[0x80, 0x80, 0x80, 0x80, 0x80],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
    &[0x80, 0x80, 0x80, 0x80, 0x04],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x80; 10],
    &[0x01],
    &[0x00],
];

/// Bytes worth trying anywhere.
const INTERESTING_BYTES: &[u8] = &[0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff];

/// Applies one random mutation to `data`, using `pool` as the source of splices.
pub fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, pool: &[Vec<u8>]) {
    let len = data.len();
    match rng.below(12) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        // An interesting byte.
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(INTERESTING_BYTES);
        }
        // An interesting big-endian integer of 1, 2, 4 or 8 bytes, overwritten.
        2 if len > 0 => {
            let width = *rng.pick(&[1usize, 2, 4, 4, 8]);
            let v = rng.pick(INTERESTING_INTS).to_be_bytes();
            let bytes = &v[8 - width..];
            let i = rng.below(len);
            let end = (i + width).min(len);
            data[i..end].copy_from_slice(&bytes[..end - i]);
        }
        // A small delta added to a big-endian i16 or i32 (a length off by a little).
        3 if len > 1 => {
            let delta = rng.below(33) as i32 - 16;
            if rng.one_in(2) || len < 4 {
                let i = rng.below(len - 1);
                let v = i16::from_be_bytes([data[i], data[i + 1]]).wrapping_add(delta as i16);
                data[i..i + 2].copy_from_slice(&v.to_be_bytes());
            } else {
                let i = rng.below(len - 3);
                let v = i32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]])
                    .wrapping_add(delta);
                data[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
        // Random bytes inserted.
        4 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes = rng.bytes(n);
            data.splice(i..i, bytes);
        }
        // A range deleted.
        5 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(32));
            data.drain(i..i + n);
        }
        // A range duplicated at another place.
        6 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let chunk = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
        }
        // Spliced with another input: its tail after a cut of ours, or a chunk of it inserted.
        7 if !pool.is_empty() => {
            let other = rng.pick(pool);
            if other.is_empty() {
                return;
            }
            let from = rng.below(other.len());
            if rng.one_in(2) {
                data.truncate(rng.below(len + 1));
                data.extend_from_slice(&other[from..]);
            } else {
                let n = 1 + rng.below((other.len() - from).min(64));
                let at = rng.below(len + 1);
                data.splice(at..at, other[from..from + n].iter().copied());
            }
        }
        // A varint edge case, inserted or written over what is there.
        8 | 9 => {
            let edge = *rng.pick(VARINT_EDGES);
            let at = rng.below(len + 1);
            if rng.one_in(2) {
                data.splice(at..at, edge.iter().copied());
            } else {
                let end = (at + edge.len()).min(len);
                data.splice(at..end, edge.iter().copied());
            }
        }
        // Truncated.
        10 if len > 0 => data.truncate(rng.below(len)),
        // A byte set at random.
        _ if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.byte();
        }
        _ => data.push(rng.byte()),
    }
}

/// A case: random bytes (one in ten), or a pool entry with one to eight mutations.
pub fn next_input(rng: &mut Rng, pool: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    if pool.is_empty() || rng.one_in(10) {
        let n = rng.below(max_len.min(256) + 1);
        return rng.bytes(n);
    }
    let mut data = rng.pick(pool).clone();
    let rounds = 1 + rng.below(8).min(rng.below(8));
    for _ in 0..rounds {
        mutate_once(rng, &mut data, pool);
    }
    data.truncate(max_len);
    data
}

/// How long and how many cases a target runs, and from what seed.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Time budget.
    pub time: Duration,
    /// Case cap.
    pub cases: u64,
    /// The generator's seed.
    pub seed: u64,
}

impl Budget {
    /// The budget from the environment (see the module docs); `default_cases` when
    /// `FUZZ_CASES` is not set.
    pub fn from_env(default_cases: u64) -> Budget {
        let seconds = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(3.0);
        let cases = std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default_cases);
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| parse_seed(&s))
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
        Budget {
            time: Duration::from_secs_f64(seconds),
            cases,
            seed,
        }
    }
}

fn parse_seed(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Cases run.
    pub cases: u64,
    /// Cases the target accepted (decoded, answered, ...).
    pub accepted: u64,
    /// The seeds the target did not accept, by index.
    pub refused_seeds: Vec<usize>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// Cases per second.
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The inputs being run now, by target: printed if a target asks for an allocation over the
/// limit, since the process aborts right after.
static CURRENT: Mutex<Vec<(&'static str, Vec<u8>)>> = Mutex::new(Vec::new());

fn set_current(name: &'static str, input: &[u8]) {
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    match current.iter_mut().find(|(n, _)| *n == name) {
        Some((_, slot)) => {
            slot.clear();
            slot.extend_from_slice(input);
        }
        None => current.push((name, input.to_vec())),
    }
}

fn clear_current(name: &'static str) {
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    current.retain(|(n, _)| *n != name);
}

/// The input to replay, from `FUZZ_INPUT` (hex), if set.
fn replay_input() -> Option<Vec<u8>> {
    let hex = std::env::var("FUZZ_INPUT").ok()?;
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok())
        .collect()
}

/// The bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `check` on inputs that `next` makes from the pool (seeds first, unmutated) until the
/// budget runs out; [`next_input`] is the generic mutator, a target may bring its own
/// structure-aware one. `check` returns whether the target accepted the input; accepted
/// mutants join the pool (at most `POOL` of them).
///
/// # Panics
/// If `check` panics: the panic is re-raised after the target, seed, case and input are
/// printed.
pub fn run_with(
    name: &'static str,
    seeds: &[Vec<u8>],
    budget: Budget,
    mut next: impl FnMut(&mut Rng, &[Vec<u8>]) -> Vec<u8>,
    mut check: impl FnMut(&[u8]) -> bool,
) -> Report {
    const POOL: usize = 512;
    let mut rng = Rng::new(budget.seed);
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    let start = Instant::now();
    let mut cases = 0u64;
    let mut accepted = 0u64;
    let mut refused_seeds = Vec::new();
    // Every seed first, unmutated, so the report can say which ones the target refused.
    let mut pending: Vec<Vec<u8>> = seeds.iter().rev().cloned().collect();
    // Replaying one input: the seeds, then it, and nothing else.
    let mut budget = budget;
    if let Some(input) = replay_input() {
        pending.insert(0, input);
        budget.cases = pending.len() as u64;
    }
    // The queued inputs run whatever the time budget.
    let queued = pending.len() as u64;
    while cases < budget.cases && (cases < queued || start.elapsed() < budget.time) {
        let input = pending.pop().unwrap_or_else(|| next(&mut rng, &pool));
        set_current(name, &input);
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        cases += 1;
        match outcome {
            Ok(true) => {
                accepted += 1;
                if cases > seeds.len() as u64 {
                    if pool.len() < seeds.len() + POOL {
                        pool.push(input);
                    } else {
                        let i = seeds.len() + rng.below(POOL);
                        pool[i] = input;
                    }
                }
            }
            Ok(false) => {
                if cases <= seeds.len() as u64 {
                    refused_seeds.push(cases as usize - 1);
                }
            }
            Err(panic) => {
                clear_current(name);
                eprintln!(
                    "fuzz target `{name}` failed on case {cases} (FUZZ_SEED={:#x}); input ({} bytes): {}",
                    budget.seed,
                    input.len(),
                    hex(&input)
                );
                resume_unwind(panic);
            }
        }
    }
    clear_current(name);
    let report = Report {
        cases,
        accepted,
        refused_seeds,
        elapsed: start.elapsed(),
    };
    println!(
        "fuzz target `{name}`: {} cases ({} accepted) in {:.2?}, {:.0} cases/s, FUZZ_SEED={:#x}",
        report.cases,
        report.accepted,
        report.elapsed,
        report.rate(),
        budget.seed
    );
    report
}

/// The largest single allocation [`Watchdog`] grants: far beyond what any input of a few
/// kilobytes may cost, far below what would abort the machine.
pub const ALLOCATION_LIMIT: usize = 1 << 30;

thread_local! {
    /// Bytes this thread has asked the allocator for (reallocations count their new size).
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

/// Bytes the current thread has asked the allocator for so far, when [`Watchdog`] is the
/// global allocator (0 otherwise): what a check compares before and after a call to bound
/// its cost.
pub fn allocated_bytes() -> usize {
    ALLOCATED.with(Cell::get)
}

/// The system allocator, counting each thread's allocations and refusing any single one over
/// [`ALLOCATION_LIMIT`], after printing the inputs being fuzzed to standard error (the refusal
/// aborts the process, and the captured test output with it).
pub struct Watchdog;

impl Watchdog {
    fn admit(size: usize) -> bool {
        let _ = ALLOCATED.try_with(|a| a.set(a.get().saturating_add(size)));
        if size <= ALLOCATION_LIMIT {
            return true;
        }
        report_refusal(size);
        false
    }
}

/// Writes the refused size and the current inputs to standard error without allocating.
fn report_refusal(size: usize) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "fuzz: refusing an allocation of {size} bytes; the inputs being run:"
    );
    if let Ok(current) = CURRENT.try_lock() {
        for (name, input) in current.iter() {
            let _ = write!(err, "  {name} ({} bytes): ", input.len());
            let mut line = [0u8; 64];
            for chunk in input.chunks(32) {
                for (i, b) in chunk.iter().enumerate() {
                    const DIGITS: &[u8; 16] = b"0123456789abcdef";
                    line[2 * i] = DIGITS[usize::from(b >> 4)];
                    line[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
                }
                let _ = err.write_all(&line[..2 * chunk.len()]);
            }
            let _ = err.write_all(b"\n");
        }
    }
}

// SAFETY: every call is passed on to `System` unchanged, or refused with a null pointer, which
// `GlobalAlloc` allows for any request.
unsafe impl GlobalAlloc for Watchdog {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::admit(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
