//! Fuzzing on the stable toolchain, a few seconds per target (invariant 6: no input, however
//! malformed, panics, aborts or costs more than a small multiple of its size).
//!
//! Each test runs one target of `tests/common/targets.rs` or `replay.rs` (and, with the
//! `kafka-wire` feature, `wire.rs`) on random bytes and on mutations of valid seeds, for
//! `FUZZ_SECONDS` (default 3) or its case cap, whichever comes first. `FUZZ_CASES` overrides
//! the cap, `FUZZ_SEED` replays a run and `FUZZ_INPUT` one input (see `tests/common/fuzz.rs`).
//! The same targets run for longer under cargo-fuzz in `fuzz/`, whose seed corpus
//! `write_fuzz_corpus` writes.

mod common;

use std::path::{Path, PathBuf};

use common::fuzz::{self, Budget, Report, Watchdog};
use common::{replay, targets};

/// Refuses (and reports) any single allocation over a gigabyte, instead of letting a forged
/// count take the machine's memory; counts each thread's allocations for the cost bounds.
#[global_allocator]
static ALLOCATOR: Watchdog = Watchdog;

type Seeds = Vec<(String, Vec<u8>)>;

/// Runs target `name` over `seeds` and returns the report, with the names of the seeds it
/// refused.
fn run_target<'a>(
    name: &'static str,
    seeds: &'a Seeds,
    default_cases: u64,
    max_len: usize,
    check: impl FnMut(&[u8]) -> bool,
) -> (Report, Vec<&'a str>) {
    run_target_with(
        name,
        seeds,
        default_cases,
        |rng, pool| fuzz::next_input(rng, pool, max_len),
        check,
    )
}

/// As [`run_target`], with the target's own mutator.
fn run_target_with<'a>(
    name: &'static str,
    seeds: &'a Seeds,
    default_cases: u64,
    next: impl FnMut(&mut fuzz::Rng, &[Vec<u8>]) -> Vec<u8>,
    check: impl FnMut(&[u8]) -> bool,
) -> (Report, Vec<&'a str>) {
    let bytes: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let report = fuzz::run_with(name, &bytes, Budget::from_env(default_cases), next, check);
    let refused = report
        .refused_seeds
        .iter()
        .map(|&i| seeds[i].0.as_str())
        .collect();
    (report, refused)
}

#[test]
fn log_codec_decoders_round_trip_and_never_panic() {
    let seeds = targets::log_codec_seeds();
    let (_, refused) = run_target("log_codec", &seeds, 2_000_000, 4096, targets::log_codec);
    assert_eq!(refused, Vec::<&str>::new(), "every seed decodes");
}

#[test]
fn consumer_protocol_decoders_round_trip_and_never_panic() {
    let seeds = targets::consumer_protocol_seeds();
    let (_, refused) = run_target(
        "consumer_protocol",
        &seeds,
        2_000_000,
        4096,
        targets::consumer_protocol,
    );
    assert_eq!(refused, Vec::<&str>::new(), "every seed decodes");
}

#[test]
fn offsets_replay_rebuilds_the_modelled_state_or_names_the_bad_record() {
    let seeds = replay::offsets_replay_seeds();
    let (_, refused) = run_target_with(
        "offsets_replay",
        &seeds,
        500_000,
        replay::offsets_replay_mutate,
        replay::offsets_replay,
    );
    assert_eq!(refused, Vec::<&str>::new(), "every seed log loads");
}

/// The seed corpus of each cargo-fuzz target, by target name.
fn corpora() -> Vec<(&'static str, Seeds)> {
    #[allow(unused_mut)]
    let mut corpora = vec![
        ("log_codec", targets::log_codec_seeds()),
        ("consumer_protocol", targets::consumer_protocol_seeds()),
        ("offsets_replay", replay::offsets_replay_seeds()),
    ];
    #[cfg(feature = "kafka-wire")]
    {
        corpora.push(("request", common::frames::request_seeds()));
        corpora.push(("record_batch", common::frames::record_batch_seeds()));
    }
    corpora
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Writes the seed corpus of every cargo-fuzz target into `fuzz/corpus/<target>/`, one file
/// per seed. Run it with `--features kafka-wire` for the wire targets' corpora too.
#[test]
#[ignore = "writes fuzz/corpus/; run by hand when the seeds change"]
fn write_fuzz_corpus() {
    for (target, seeds) in corpora() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// The committed corpus holds every seed the harness makes, byte for byte: a change to a
/// seed (or to a served API version) needs `write_fuzz_corpus` run again.
#[test]
fn the_committed_corpus_holds_every_seed() {
    for (target, seeds) in corpora() {
        for (name, bytes) in seeds {
            let path = corpus_dir(target).join(&name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run the ignored test write_fuzz_corpus",
                    path.display()
                )
            });
            assert!(
                committed == bytes,
                "{} differs from its seed; run the ignored test write_fuzz_corpus",
                path.display()
            );
        }
    }
}

#[cfg(feature = "kafka-wire")]
mod wire {
    use super::{common, run_target};
    use common::frames::{one_record_batch, record_batch_seeds, request_seeds, unhex};
    use common::wire::Wire;

    /// Mutated valid frames of every API and version served, one per connection: whatever
    /// the server answers is a response to the request that decodes whole, and after each a
    /// fresh connection is still answered.
    #[test]
    fn request_frames_never_take_the_server_down() {
        let wire = Wire::start();
        let seeds = request_seeds();
        let (_, refused) = run_target("request", &seeds, 50_000, 4096, |frame| wire.request(frame));
        // A JoinGroup may be parked past the wait while earlier members are awaited.
        let unexpected: Vec<&str> = refused
            .into_iter()
            .filter(|name| !name.starts_with("join_group-"))
            .collect();
        assert_eq!(unexpected, Vec::<&str>::new(), "every seed is answered");
    }

    /// Mutated record batches in a Produce: each is answered, an accepted batch appends
    /// exactly its records and a refused one none, and the server keeps answering.
    #[test]
    fn record_batches_never_take_the_server_down() {
        let wire = Wire::start();
        let seeds = record_batch_seeds();
        let (_, refused) = run_target("record_batch", &seeds, 50_000, 4096, |data| {
            wire.record_batch(data)
        });
        assert_eq!(
            refused,
            ["gzip-claimed"],
            "only compressed batches are refused"
        );
    }

    /// DescribeGroups v5 whose compact array count is a varint of five bytes, the fifth with
    /// its continuation bit set: a walk that reads on to a sixth byte runs short and lets it
    /// through, and a codec that stops at five reads a count of four billion and reserves
    /// room for them. It aborted the process.
    ///
    /// The frame after its size: api key 15, version 5, correlation id 1, client id "" (an
    /// `i16` length of 0), no tagged fields, then the count `ff ff ff ff 8f`.
    #[test]
    fn describe_groups_with_a_count_varint_past_five_bytes_is_refused() {
        let wire = Wire::start();
        let frame = unhex("000f 0005 00000001 0000 00 ffffffff8f");
        assert!(
            !wire.request(&frame),
            "the connection is closed, not answered"
        );
        wire.assert_alive();
    }

    /// ListOffsets v6 whose topics count is a varint of five bytes, the fifth with its
    /// continuation bit set, at the end of the frame: the same gap as the DescribeGroups one,
    /// in another API (cargo-fuzz found it; the codec asked for 171 GB). Its frame after the
    /// size: api key 2, version 6, correlation id 1, client id "fuzz", no tagged fields,
    /// replica id -1, isolation level 0, then the count `ff ff ff ff 87`.
    #[test]
    fn list_offsets_with_a_count_varint_past_five_bytes_is_refused() {
        let wire = Wire::start();
        let frame = unhex("0002 0006 00000001 0004 66757a7a 00 ffffffff 00 ffffffff87");
        assert!(
            !wire.request(&frame),
            "the connection is closed, not answered"
        );
        wire.assert_alive();
    }

    /// Produce v12 whose transactional id's length is a varint of six bytes (`80 80 80 80 80
    /// 00`), in the middle of the frame (the stable harness found it, minimized here). The walk
    /// reads it whole and the rest as a Produce of no topics; the codec stops after five bytes,
    /// reads every later field one byte early, and takes `ff ff ff 6b` for a count of 226
    /// million partitions, 14 GB. The walk never runs short here: a varint whose fifth byte
    /// continues has to be refused wherever it is.
    #[test]
    fn produce_with_a_length_varint_of_six_bytes_is_refused() {
        let wire = Wire::start();
        let frame = unhex(
            "0000 000c 80000001 0004 66757a7a 00 \
             808080808000 0001 8bcfe568 01 ffffff6b",
        );
        assert!(
            !wire.request(&frame),
            "the connection is closed, not answered"
        );
        wire.assert_alive();
    }

    /// A produced record whose offset delta is written as five bytes that all carry the
    /// continuation bit (`80 80 80 80 80`, then `00`): the record walk reads a six-byte varint
    /// and then a value length past the record, and lets it through; the codec stops after
    /// five bytes, reads the rest shifted by one, and takes `80 80 80 80 04` for a header
    /// count of 2^29, reserving some 38 GB for them. It aborted the process.
    #[test]
    fn a_record_with_an_offset_delta_varint_past_five_bytes_is_refused() {
        let wire = Wire::start();
        let body = [
            0x00, // attributes
            0x00, // timestamp delta
            0x80, 0x80, 0x80, 0x80, 0x80, // offset delta, as the codec reads it
            0x00, // a sixth byte of it for the walk; an empty key for the codec
            0x01, // a null key for the walk; a null value for the codec
            0x80, 0x80, 0x80, 0x80, 0x04, // a value length for the walk; 2^29 headers
        ];
        let batch = one_record_batch(1_700_000_000_000, &body);
        let input = [&[0u8][..], &batch].concat();
        assert!(!wire.record_batch(&input), "the batch is refused");
    }

    /// A record whose timestamp delta (-1) takes its batch's base timestamp (`i64::MIN`) past
    /// the smallest `i64`: the codec's addition panics where overflow is checked (debug and
    /// test builds), and the handler's panic closed the connection instead of answering the
    /// Produce. `record_batch` asserts the answer.
    #[test]
    fn a_record_timestamp_past_i64_min_is_answered() {
        let wire = Wire::start();
        let record = [
            0x00, // attributes
            0x01, // timestamp delta -1
            0x00, // offset delta
            0x01, // null key
            0x01, // null value
            0x00, // no headers
        ];
        let batch = one_record_batch(i64::MIN, &record);
        wire.record_batch(&[&[0u8][..], &batch].concat());
    }
}
