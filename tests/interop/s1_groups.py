"""Scenario 1: 1,000 keyed records in a 6-partition topic, consumed by a group of 3 of each
client family in turn, and by a mixed kafka-python + librdkafka group on `range`: every record
is consumed, and the assignments cover all partitions with no overlap."""
import sys

from common import stop_all, Worker, consumed, history, stable_cover, have_kafkajs, keys_seen, log, produce, wait_for

TOPIC = "interop-s1"
COUNT = 1000
PARTITIONS = 6


def run_group(label, group, clients, strategy):
    workers = [
        Worker(c, group, TOPIC, f"{label}-{i}", strategy=strategy if c != "kafkajs" else None)
        for i, c in enumerate(clients)
    ]
    try:
        wait_for(f"{label}: all {COUNT} records", lambda: len(consumed(workers)) >= COUNT, 60)
        try:
            wait_for(f"{label}: a stable assignment", lambda: stable_cover(workers, PARTITIONS), 30)
        except AssertionError:
            log(f"FAIL s1 {label}: assignments {history(workers)}")
            raise
        assert keys_seen(workers) >= set(KEYS), f"{label}: keys missing"
        owned = " ".join(f"{w.name}={sorted(w.owned)}" for w in workers)
        log(f"{label} assignments: {history(workers)}")
        log(f"PASS s1 {label}: {len(consumed(workers))}/{COUNT} records, assignment {owned}")
    finally:
        stop_all(workers)


KEYS = []


def main():
    KEYS.extend(produce(TOPIC, COUNT, PARTITIONS))
    log(f"produced {COUNT} records to {TOPIC}")
    if "mixed" in sys.argv:
        run_group("mixed", "s1-mixed", ["kafka-python", "librdkafka", "kafka-python"], "range")
        return 0
    run_group("kafka-python", "s1-kafka-python", ["kafka-python"] * 3, "range")
    run_group("librdkafka", "s1-librdkafka", ["librdkafka"] * 3, "range")
    if have_kafkajs():
        run_group("kafkajs", "s1-kafkajs", ["kafkajs"] * 3, None)
    else:
        log("SKIP s1 kafkajs: node or kafkajs not installed")
    run_group("mixed", "s1-mixed", ["kafka-python", "librdkafka", "kafka-python"], "range")
    return 0


if __name__ == "__main__":
    sys.exit(main())
