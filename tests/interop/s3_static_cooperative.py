"""Scenario 3, with librdkafka:
* static membership (`group.instance.id`): a member restarted within its session timeout gets
  the same partitions back, and the group does not rebalance (nobody else's assignment moves);
* `partition.assignment.strategy=cooperative-sticky`: a third member joining revokes only the
  partitions that move to it."""
import sys
import time

from common import stop_all, Worker, history, log, produce, stable_cover, wait_for

PARTITIONS = 6


def static_restart():
    topic = f"interop-s3-static-{int(time.time())}"
    produce(topic, 300, PARTITIONS)
    group = f"s3-static-{topic}"
    opts = dict(strategy="range", session_ms=10000)
    workers = [
        Worker("librdkafka", group, topic, f"static-{i}", instance_id=f"static-{i}", **opts)
        for i in range(3)
    ]
    try:
        wait_for("a stable static group", lambda: stable_cover(workers, PARTITIONS), 60)
        before = {w.name: set(w.owned) for w in workers}
        marks = {w.name: len(w.owned_history) for w in workers}
        old = workers[1]
        old.kill()
        t0 = time.time()
        again = Worker("librdkafka", group, topic, "static-1", instance_id="static-1", **opts)
        workers[1] = again
        wait_for("the restarted member's assignment", lambda: again.owned is not None, 30)
        took = time.time() - t0
        time.sleep(3)  # long enough for a rebalance, had there been one, to show
        assert again.owned == before["static-1"], f"{again.owned} != {before['static-1']}"
        for w in (workers[0], workers[2]):
            moved = w.owned_history[marks[w.name]:]
            assert not moved, f"{w.name} saw a rebalance: {moved}"
        log(f"static assignments: {history(workers)}")
        log(f"PASS s3 static: static-1 restarted and got {sorted(again.owned)} back in "
            f"{took:.1f}s (session 10s), the others kept theirs without a rebalance")
    finally:
        stop_all(workers)


def cooperative_join():
    topic = f"interop-s3-coop-{int(time.time())}"
    produce(topic, 300, PARTITIONS)
    group = f"s3-coop-{topic}"
    opts = dict(strategy="cooperative-sticky", session_ms=6000)
    first = [Worker("librdkafka", group, topic, f"coop-{i}", **opts) for i in range(2)]
    workers = list(first)
    try:
        wait_for("a stable group of 2", lambda: stable_cover(first, PARTITIONS), 60)
        before = {w.name: set(w.owned) for w in first}
        marks = {w.name: len(w.owned_history) for w in first}
        third = Worker("librdkafka", group, topic, "coop-2", **opts)
        workers.append(third)
        wait_for("a stable group of 3", lambda: stable_cover(workers, PARTITIONS), 60)
        revoked = set()
        for w in first:
            # Cooperative: no intermediate state is empty, every step only drops what moves.
            for _, owned in w.owned_history[marks[w.name]:]:
                assert owned <= before[w.name], f"{w.name} gained {owned - before[w.name]}"
                assert owned, f"{w.name} gave up everything"
            revoked |= before[w.name] - w.owned
        assert revoked == third.owned, f"revoked {revoked}, the newcomer owns {third.owned}"
        log(f"cooperative assignments: {history(workers)}")
        log(f"PASS s3 cooperative: the third member took {sorted(third.owned)}; only those were "
            f"revoked, the others kept the rest throughout")
    finally:
        stop_all(workers)


def main():
    static_restart()
    cooperative_join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
