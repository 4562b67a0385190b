"""Shared helpers of the interop scenarios: the broker address, producing, and consumer
workers (worker.py / worker.js) run as child processes whose event lines are collected."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = os.environ.get("BOOTSTRAP", "127.0.0.1:9092")
# Where `npm install kafkajs` put node_modules; kafkajs scenarios are skipped without it.
NODE_DIR = os.environ.get("KAFKAJS_DIR", "")


def have_kafkajs():
    return bool(NODE_DIR) and shutil.which("node") is not None and os.path.isdir(
        os.path.join(NODE_DIR, "node_modules", "kafkajs")
    )


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def produce(topic, count, partitions=6, prefix="k"):
    """Produces `count` keyed records with librdkafka into a topic created with `partitions`
    partitions (the broker's auto-create count); returns the keys."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": BOOTSTRAP, "linger.ms": 5})
    keys = [f"{prefix}{i}" for i in range(count)]
    errors = []

    def done(err, _msg):
        if err is not None:
            errors.append(err)

    for k in keys:
        p.produce(topic, key=k.encode(), value=("value-" + k).encode(), on_delivery=done)
        p.poll(0)
    left = p.flush(30)
    assert left == 0 and not errors, f"produce failed: {left} left, errors {errors[:3]}"
    return keys


class Worker:
    """A consumer child process and what it reported."""

    def __init__(self, client, group, topic, name, **opts):
        self.name = name
        self.client = client
        if client == "kafkajs":
            cmd = ["node", os.path.join(HERE, "worker.js")]
            env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
        else:
            cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--client", client]
            env = dict(os.environ)
        cmd += ["--bootstrap", BOOTSTRAP, "--group", group, "--topic", topic, "--name", name]
        for k, v in opts.items():
            if v is not None:
                cmd += ["--" + k.replace("_", "-"), str(v)]
        self.lock = threading.Lock()
        self.records = []  # (partition, offset, key)
        self.commits = []  # (time, partition, offset)
        self.owned = None  # the last reported set
        self.owned_history = []
        self.closed = False
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if not parts:
                continue
            with self.lock:
                if parts[0] == "REC" and len(parts) == 4:
                    self.records.append((int(parts[1]), int(parts[2]), parts[3]))
                elif parts[0] == "OWNED":
                    s = set(int(p) for p in parts[1].split(",")) if len(parts) > 1 else set()
                    self.owned = s
                    self.owned_history.append((time.time(), s))
                elif parts[0] == "COMMIT" and len(parts) == 2:
                    now = time.time()
                    for po in parts[1].split(","):
                        p, o = po.split(":")
                        self.commits.append((now, int(p), int(o)))
                elif parts[0] == "CLOSED":
                    self.closed = True

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=20):
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.reader.join(5)


def stop_all(workers):
    """Asks every worker to close at once, then waits for each."""
    for w in workers:
        w.terminate()
    for w in workers:
        w.stop()


def consumed(workers):
    out = set()
    for w in workers:
        with w.lock:
            out.update((p, o) for p, o, _ in w.records)
    return out


def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def disjoint_cover(workers, partitions):
    """Whether the workers' last reported assignments cover every partition once, with every
    worker owning some when there are enough partitions."""
    owned = [w.owned for w in workers]
    if any(o is None for o in owned):
        return False
    if partitions >= len(workers) and any(not o for o in owned):
        return False
    union = set().union(*owned)
    return union == set(range(partitions)) and sum(len(o) for o in owned) == partitions


def stable_cover(workers, partitions, hold=2.0):
    """disjoint_cover, holding for `hold` seconds."""
    if not disjoint_cover(workers, partitions):
        return False
    last = max(t for w in workers for t, _ in w.owned_history)
    return time.time() - last >= hold


def history(workers):
    t0 = min((t for w in workers for t, _ in w.owned_history), default=0)
    return "; ".join(
        f"{w.name}: " + " ".join(f"+{t - t0:.1f}s{sorted(s)}" for t, s in w.owned_history)
        for w in workers
    )


def keys_seen(workers):
    out = set()
    for w in workers:
        with w.lock:
            out.update(k for _, _, k in w.records)
    return out
