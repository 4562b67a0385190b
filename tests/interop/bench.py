"""Benchmark of the Kafka wire front end with confluent-kafka (librdkafka):
1. the time for a group of 3 consumers to form, from their subscribe calls until all three
   hold their share of a 6-partition topic (broker: group.initial.rebalance.delay.ms = 0);
2. records per second consumed end to end through the wire on loopback by a group of 3
   consumer processes, from the first record to the last.

Starts its own broker: python tests/interop/bench.py [--broker PATH] [--records N]
"""
import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTITIONS = 6


def start_broker(path):
    proc = subprocess.Popen(
        [path, "--port", "0", "--partitions", str(PARTITIONS), "--initial-rebalance-delay-ms", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    return proc, line[len("listening on "):]


def form_group(bootstrap, topic, group):
    from confluent_kafka import Consumer

    owned = [None] * 3
    done = threading.Event()

    def member(i, ready):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "partition.assignment.strategy": "range", "session.timeout.ms": 6000,
                      "heartbeat.interval.ms": 500, "enable.auto.commit": False})

        def on_assign(_c, parts):
            owned[i] = {p.partition for p in parts}

        c.subscribe([topic], on_assign=on_assign)
        ready.wait()
        while not done.is_set():
            c.poll(0.01)
        c.close()

    go = threading.Event()
    threads = [threading.Thread(target=member, args=(i, go)) for i in range(3)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    go.set()
    while True:
        o = list(owned)
        if all(o) and sum(len(s) for s in o) == PARTITIONS and set().union(*o) == set(range(PARTITIONS)):
            break
        time.sleep(0.001)
    took = time.perf_counter() - start
    done.set()
    for t in threads:
        t.join()
    return took


def consume(bootstrap, topic, group, target, counter, ready, out):
    """A group member: says when it holds partitions, then counts records until the group has
    consumed `target`; reports when it saw its last record."""
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "partition.assignment.strategy": "range", "enable.auto.commit": True,
                  "fetch.wait.max.ms": 100})
    said = False

    def on_assign(_c, parts):
        nonlocal said
        if parts and not said:
            said = True
            ready.put(1)

    c.subscribe([topic], on_assign=on_assign)
    n, last = 0, None
    deadline = time.time() + 120
    while counter.value < target and time.time() < deadline:
        msgs = c.consume(1000, 0.1)
        got = sum(1 for m in msgs if not m.error())
        if got:
            last = time.time()
            n += got
            with counter.get_lock():
                counter.value += got
    out.put((n, last))
    c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--broker", default=os.path.join(ROOT, "target/release/examples/kafka_broker"))
    p.add_argument("--records", type=int, default=300_000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    from confluent_kafka import Producer

    broker, bootstrap = start_broker(a.broker)
    try:
        topic = "bench"
        prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000})
        value = b"x" * 100
        t0 = time.perf_counter()
        for i in range(a.records):
            while True:
                try:
                    prod.produce(topic, key=str(i).encode(), value=value)
                    break
                except BufferError:
                    prod.poll(0.01)
            if i % 1000 == 0:
                prod.poll(0)
        assert prod.flush(60) == 0
        produced = time.perf_counter() - t0
        print(f"produced {a.records} records of 100 bytes in {produced:.2f}s: "
              f"{a.records / produced:,.0f} records/s")

        times = [form_group(bootstrap, topic, f"form-{r}") for r in range(a.rounds)]
        print(f"group of 3 formed in: median {statistics.median(times) * 1000:.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {a.rounds} groups")

        # End to end: a group of 3 consumer processes holds the partitions of a fresh topic;
        # then records are produced, and the clock runs from the first produce call to the last
        # record consumed.
        topic = "bench-e2e"
        ready, out = mp.Queue(), mp.Queue()
        counter = mp.Value("l", 0)
        procs = [mp.Process(target=consume, args=(bootstrap, topic, "e2e", a.records, counter, ready, out))
                 for _ in range(3)]
        for pr in procs:
            pr.start()
        prod.produce(topic, key=b"warm-up", value=b"")  # creates the topic
        prod.flush(10)
        for _ in procs:
            ready.get(timeout=60)
        time.sleep(2)  # let the group settle on 3 members
        t0 = time.time()
        for i in range(a.records - 1):
            while True:
                try:
                    prod.produce(topic, key=str(i).encode(), value=value)
                    break
                except BufferError:
                    prod.poll(0.01)
            if i % 1000 == 0:
                prod.poll(0)
        assert prod.flush(60) == 0
        results = [out.get(timeout=180) for _ in procs]
        for pr in procs:
            pr.join()
        n = sum(r[0] for r in results)
        last = max(r[1] for r in results if r[1])
        print(f"end to end: {a.records} records produced and consumed by a group of 3 in "
              f"{last - t0:.2f}s: {a.records / (last - t0):,.0f} records/s")
        assert n >= a.records, f"only {n} of {a.records} consumed"
        del prod
    finally:
        broker.kill()
        broker.wait()


if __name__ == "__main__":
    main()
