"""Scenario 2: one consumer of a group of 3 is killed with SIGKILL mid-stream. After its
session timeout the others take its partitions and resume from the committed offsets; every
record is processed at least once and none is lost. Run with librdkafka, then kafka-python."""
import sys
import time

from common import stop_all, have_kafkajs, Worker, consumed, history, keys_seen, log, produce, stable_cover, wait_for

COUNT = 1000
PARTITIONS = 6
SESSION_MS = 6000


def run(client):
    topic = f"interop-s2-{client}-{int(time.time())}"
    keys = produce(topic, COUNT, PARTITIONS, prefix=f"{client}-")
    group = f"s2-{topic}"
    workers = [
        Worker(client, group, topic, f"{client}-{i}", strategy=None if client == "kafkajs" else "range",
               session_ms=SESSION_MS, delay_ms=15, commit_every=10)
        for i in range(3)
    ]
    try:
        wait_for("a stable group of 3", lambda: stable_cover(workers, PARTITIONS, hold=0.5), 60)
        victim = workers[1]

        def victim_midway():
            with victim.lock:
                mine = len(victim.records)
            return len(consumed(workers)) >= 200 and mine >= 20

        wait_for("the victim midway through its partitions", victim_midway, 60)
        lost = sorted(victim.owned)
        victim.kill()
        killed_at = time.time()
        marks = {w.name: len(w.records) for w in workers}
        log(f"{client}: killed {victim.name} owning {lost} after {len(consumed(workers))} records")
        rest = [workers[0], workers[2]]
        wait_for("the others to take every partition", lambda: stable_cover(rest, PARTITIONS, hold=0.5), 60)
        took = max(t for w in rest for t, _ in w.owned_history) - killed_at
        log(f"{client}: partitions moved {took:.1f}s after the kill (session {SESSION_MS / 1000:.0f}s)")
        wait_for(f"all {COUNT} records", lambda: keys_seen(workers) >= set(keys), 90)
        seen = keys_seen(workers)
        assert seen >= set(keys), f"lost {len(set(keys) - seen)} records"
        total = sum(len(w.records) for w in workers)
        log(f"{client} assignments: {history(workers)}")
        assert took >= SESSION_MS / 1000 - 1.5, "partitions moved before the session timeout"
        # The new owners resume each moved partition where the group's last commit before the
        # kill left it (0 if nothing was committed): nothing skipped, nothing replayed from
        # before the commit. A commit the victim sent just before the SIGKILL may have been
        # stored without the victim living to report it, so the resumption point may be a
        # later commit than the last one reported, never past what the victim processed.
        for p in lost:
            done = max((o for q, o, _ in victim.records if q == p), default=-1)
            committed = max((o for w in workers for t, q, o in w.commits if q == p and t < killed_at),
                            default=0)
            firsts = [o for w in rest for q, o, _ in w.records[marks[w.name]:] if q == p]
            if not firsts:
                last = max(o for w in workers for q, o, _ in w.records if q == p)
                assert committed == last + 1, f"partition {p} was not resumed"
                log(f"{client}: partition {p} was finished and committed before the kill")
                continue
            assert committed <= firsts[0] <= max(done + 1, committed), (
                f"partition {p} resumed at {firsts[0]}, last reported commit {committed}, "
                f"the victim processed up to {done}")
            if firsts[0] == committed:
                log(f"{client}: partition {p} resumed at the committed offset {committed} "
                    f"(the victim had processed up to {done})")
            else:
                log(f"{client}: partition {p} resumed at {firsts[0]}, a commit the victim sent "
                    f"after its last report ({committed}; it had processed up to {done})")
        log(f"PASS s2 {client}: {len(seen)}/{COUNT} keys processed, {total - len(seen)} "
            f"reprocessed after the kill, none lost")
    finally:
        stop_all(workers)


def main():
    run("librdkafka")
    run("kafka-python")
    if have_kafkajs():
        run("kafkajs")
    else:
        log("SKIP s2 kafkajs: node or kafkajs not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
