"""One consumer of an interop scenario, driven by kafka-python or librdkafka (confluent-kafka).

Prints one line per event on stdout, flushed at once, for the scenario that started it:
  OWNED p,p,...       the partitions it owns after every assignment change
  REC p offset key    a record it processed
  COMMIT p:o,p:o,...  offsets it committed (the next offset to read, per partition)
  CLOSED              after a clean close (on SIGTERM)
It commits synchronously after every --commit-every records and before giving partitions up
(at-least-once), and stops by itself after --max-seconds.
"""
import argparse
import signal
import sys
import time

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def owned_line(owned):
    say("OWNED " + ",".join(str(p) for p in sorted(owned)))


def run_librdkafka(a):
    from confluent_kafka import Consumer, KafkaException

    conf = {
        "bootstrap.servers": a.bootstrap,
        "group.id": a.group,
        "client.id": a.name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": a.session_ms,
        "heartbeat.interval.ms": max(500, a.session_ms // 6),
        "partition.assignment.strategy": a.strategy or "range",
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if a.instance_id:
        conf["group.instance.id"] = a.instance_id
    c = Consumer(conf)
    owned = set()
    cooperative = (a.strategy or "") == "cooperative-sticky"

    def commit():
        try:
            done = c.commit(asynchronous=False) or []
        except KafkaException:
            return
        ok = [f"{tp.partition}:{tp.offset}" for tp in done if tp.error is None and tp.offset >= 0]
        if ok:
            say("COMMIT " + ",".join(ok))

    def on_assign(_c, parts):
        if cooperative:
            owned.update(p.partition for p in parts)
        else:
            owned.clear()
            owned.update(p.partition for p in parts)
        owned_line(owned)

    def on_revoke(_c, parts):
        commit()
        if cooperative:
            owned.difference_update(p.partition for p in parts)
        else:
            owned.clear()
        owned_line(owned)

    def on_lost(_c, parts):
        owned.difference_update(p.partition for p in parts)
        owned_line(owned)

    c.subscribe([a.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    since_commit = 0
    deadline = time.time() + a.max_seconds
    while not stop and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        key = m.key().decode() if m.key() else "-"
        say(f"REC {m.partition()} {m.offset()} {key}")
        if a.delay_ms:
            time.sleep(a.delay_ms / 1000)
        since_commit += 1
        if since_commit >= a.commit_every:
            commit()
            since_commit = 0
    commit()
    c.close()
    say("CLOSED")


def run_kafka_python(a):
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    strategies = {
        "range": [RangePartitionAssignor],
        "roundrobin": [RoundRobinPartitionAssignor],
    }
    c = KafkaConsumer(
        bootstrap_servers=a.bootstrap,
        group_id=a.group,
        client_id=a.name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=a.session_ms,
        heartbeat_interval_ms=max(500, a.session_ms // 6),
        partition_assignment_strategy=strategies[a.strategy or "range"],
        metadata_max_age_ms=2000,
    )
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    owned = set()
    processed = {}  # partition -> the next offset to read

    def commit(partitions=None):
        # Explicit offsets: the consumer's positions may run ahead of what was processed.
        todo = {p: o for p, o in processed.items() if partitions is None or p in partitions}
        if not todo:
            return
        try:
            c.commit({TopicPartition(a.topic, p): OffsetAndMetadata(o, "", -1) for p, o in todo.items()})
        except Exception:  # a commit fenced by a rebalance: the next owner reprocesses
            return
        say("COMMIT " + ",".join(f"{p}:{o}" for p, o in sorted(todo.items())))

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            commit({tp.partition for tp in revoked})
            for tp in revoked:
                processed.pop(tp.partition, None)
            owned.clear()
            owned_line(owned)

        def on_partitions_assigned(self, assigned):
            owned.clear()
            owned.update(tp.partition for tp in assigned)
            owned_line(owned)

    c.subscribe([a.topic], listener=Listener())
    since_commit = 0
    deadline = time.time() + a.max_seconds
    while not stop and time.time() < deadline:
        batch = c.poll(timeout_ms=200, max_records=50)
        for tp, records in batch.items():
            for r in records:
                key = r.key.decode() if r.key else "-"
                say(f"REC {tp.partition} {r.offset} {key}")
                if a.delay_ms:
                    time.sleep(a.delay_ms / 1000)
                processed[tp.partition] = r.offset + 1
                since_commit += 1
                if since_commit >= a.commit_every:
                    commit()
                    since_commit = 0
    commit()
    c.close()
    say("CLOSED")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--client", choices=["librdkafka", "kafka-python"], required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--name", default="worker")
    p.add_argument("--strategy", default=None)
    p.add_argument("--instance-id", default=None)
    p.add_argument("--session-ms", type=int, default=6000)
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--commit-every", type=int, default=20)
    p.add_argument("--max-seconds", type=float, default=90)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    if a.client == "librdkafka":
        run_librdkafka(a)
    else:
        run_kafka_python(a)


if __name__ == "__main__":
    main()
