"""Scenario 4: offsets committed by one client read back through a fresh consumer of each
client (OffsetFetch) match what was committed."""
import json
import os
import subprocess
import sys
import time

from common import BOOTSTRAP, NODE_DIR, HERE, have_kafkajs, log, produce

PARTITIONS = 6


def commit_librdkafka(group, topic, offsets):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    c.close()


def commit_kafka_python(group, topic, offsets):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    c.close()


def read_librdkafka(group, topic):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False})
    got = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    c.close()
    return {tp.partition: tp.offset for tp in got if tp.offset >= 0}


def read_kafka_python(group, topic):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=group, enable_auto_commit=False)
    out = {}
    for p in range(PARTITIONS):
        o = c.committed(TopicPartition(topic, p))
        if o is not None:
            out[p] = o
    c.close()
    return out


def read_kafkajs(group, topic):
    script = (
        "const { Kafka, logLevel } = require('kafkajs');"
        "(async () => {"
        f"const a = new Kafka({{ brokers: ['{BOOTSTRAP}'], logLevel: logLevel.NOTHING }}).admin();"
        "await a.connect();"
        f"const r = await a.fetchOffsets({{ groupId: '{group}', topics: ['{topic}'] }});"
        "console.log(JSON.stringify(r[0].partitions));"
        "await a.disconnect();"
        "})().catch(e => { console.error(e); process.exit(1); });"
    )
    env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, env=env,
                         timeout=30, check=True, cwd=HERE)
    parts = json.loads(out.stdout.strip().splitlines()[-1])
    return {p["partition"]: int(p["offset"]) for p in parts if int(p["offset"]) >= 0}


def main():
    topic = f"interop-s4-{int(time.time())}"
    produce(topic, 600, PARTITIONS)
    readers = {"librdkafka": read_librdkafka, "kafka-python": read_kafka_python}
    if have_kafkajs():
        readers["kafkajs"] = read_kafkajs
    else:
        log("SKIP s4 kafkajs reader: node or kafkajs not installed")
    writers = {"librdkafka": commit_librdkafka, "kafka-python": commit_kafka_python}
    for i, (wname, write) in enumerate(writers.items()):
        group = f"s4-{wname}-{topic}"
        offsets = {p: 10 * (p + 1) + i for p in range(PARTITIONS)}
        write(group, topic, offsets)
        for rname, read in readers.items():
            got = read(group, topic)
            assert got == offsets, f"{wname} committed {offsets}, {rname} read {got}"
            log(f"PASS s4 {wname} -> {rname}: read back {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
