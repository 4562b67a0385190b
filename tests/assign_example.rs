//! The `assign` example's command line: output format, `--timing`, and bad input reported with
//! its line, never a panic.

#![allow(dead_code)]

#[path = "../examples/assign/scenario.rs"]
mod scenario;

#[path = "../examples/assign/cli.rs"]
mod cli;

use std::path::PathBuf;

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("assign-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> Result<cli::Output, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    cli::run(&args)
}

#[test]
fn prints_one_sorted_line_per_member_and_a_dash_for_idle_ones() {
    let f = write(
        "ok.txt",
        "# comment\n\ncase ignored\ntopic orders 2\nmember zed orders\nmember amy orders\nmember bob orders\nexpect amy orders:0\n",
    );
    let out = run(&[f.to_str().unwrap()]).unwrap();
    assert_eq!(out.stdout, "amy orders:0\nbob orders:1\nzed -\n");
    assert!(out.stderr.is_none());
}

#[test]
fn the_assignor_flag_overrides_the_file_and_timing_goes_to_stderr() {
    let f = write(
        "flag.txt",
        "assignor range\ntopic t 4\nmember a t\nmember b t\n",
    );
    let out = run(&["--assignor", "roundrobin", "--timing", f.to_str().unwrap()]).unwrap();
    assert_eq!(out.stdout, "a t:0,t:2\nb t:1,t:3\n");
    let timing = out.stderr.unwrap();
    let ms: f64 = timing.strip_prefix("assign_ms=").unwrap().parse().unwrap();
    assert!(ms >= 0.0);
}

#[test]
fn the_bundled_scenario_runs_with_every_assignor() {
    let f = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scenarios/orders.txt");
    for name in consumer_groups::assignor::BUILTIN_NAMES {
        let out = run(&["--assignor", name, f]).unwrap();
        assert_eq!(out.stdout.lines().count(), 5, "{name}: one line per member");
    }
}

#[test]
fn bad_input_names_the_line() {
    let cases = [
        ("topic t -1\n", "line 1: negative partition count -1"),
        ("topic t 1\n\nmember\n", "line 3: expected: member ID"),
        (
            "topic t x\n",
            "line 1: partition count \"x\" is not a number",
        ),
        ("member a t\nmember a t\n", "line 2: duplicate member \"a\""),
        (
            "member a t owned=t\n",
            "line 1: owned partition \"t\" is not TOPIC:PARTITION",
        ),
        (
            "member a t generation=x\n",
            "line 1: generation \"x\" is not a number",
        ),
        (
            "topic t 2 racks=a\n",
            "line 1: racks= lists 1 partitions, topic has 2",
        ),
        (
            "topic t 99999999999\n",
            "line 1: partition count 99999999999 is too large",
        ),
        (
            "member a t speed=9\n",
            "line 1: unknown member option \"speed=9\"",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let f = write(&format!("bad{i}.txt"), text);
        let err = run(&[f.to_str().unwrap()]).unwrap_err();
        assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
    }
}

#[test]
fn unknown_assignors_and_options_are_refused() {
    let f = write("plain.txt", "topic t 1\nmember a t\n");
    let err = run(&["--assignor", "nope", f.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("unknown assignor \"nope\""), "{err}");
    assert!(
        err.contains("range, roundrobin, sticky, cooperative-sticky"),
        "{err}"
    );
    assert!(
        run(&["--fast", f.to_str().unwrap()])
            .unwrap_err()
            .contains("unknown option")
    );
    assert!(run(&[]).unwrap_err().contains("usage"));
    assert!(run(&["/no/such/file"]).is_err());
}

#[test]
fn specs_the_library_refuses_are_reported_not_panicked_on() {
    let f = write("spec.txt", "topic t 1\ntopic t 2\nmember a t\n");
    let err = run(&[f.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("declared twice"), "{err}");
}
