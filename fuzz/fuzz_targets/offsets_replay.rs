//! Offsets-log replay: records for one log partition (the format of
//! `tests/common/replay.rs`), loaded by a `LogOffsetStore` and compared with the model there.
//! The mutator works record by record most of the time, and leaves the rest to libFuzzer's.
#![no_main]

#[allow(dead_code)]
#[path = "../../tests/common/mod.rs"]
mod common;

use common::fuzz::Rng;
use common::replay;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    replay::offsets_replay(data);
});

libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng::new(u64::from(seed));
    if rng.one_in(4) {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    let pool = [data[..size].to_vec()];
    let out = replay::offsets_replay_mutate(&mut rng, &pool);
    let n = out.len().min(max_size);
    data[..n].copy_from_slice(&out[..n]);
    n
});
