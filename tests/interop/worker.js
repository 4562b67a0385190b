// One kafkajs consumer of an interop scenario; prints the same lines as worker.py:
// OWNED p,p,... after each assignment, REC p offset key per record, COMMIT p:o,... after each
// commit, CLOSED after a clean close.
const { Kafka, logLevel } = require('kafkajs');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, all) => (i % 2 === 0 ? acc.concat([[v.replace(/^--/, ''), all[i + 1]]]) : acc), []),
);
const say = (line) => process.stdout.write(line + '\n');

(async () => {
  const kafka = new Kafka({ clientId: args.name || 'worker', brokers: [args.bootstrap], logLevel: logLevel.NOTHING });
  const session = Number(args['session-ms'] || 6000);
  const consumer = kafka.consumer({ groupId: args.group, sessionTimeout: session, heartbeatInterval: Math.max(500, Math.floor(session / 6)), metadataMaxAge: 2000 });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const parts = (e.payload.memberAssignment[args.topic] || []).slice().sort((a, b) => a - b);
    say('OWNED ' + parts.join(','));
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    const done = [];
    for (const t of e.payload.topics) {
      for (const p of t.partitions) {
        if (Number(p.offset) >= 0) done.push(`${p.partition}:${p.offset}`);
      }
    }
    if (done.length) say('COMMIT ' + done.join(','));
  });
  const delay = Number(args['delay-ms'] || 0);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect();
    say('CLOSED');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  setTimeout(stop, Number(args['max-seconds'] || 90) * 1000);
  await consumer.connect();
  await consumer.subscribe({ topic: args.topic, fromBeginning: true });
  await consumer.run({
    autoCommitThreshold: Number(args['commit-every'] || 20),
    eachMessage: async ({ partition, message }) => {
      say(`REC ${partition} ${message.offset} ${message.key ? message.key.toString() : '-'}`);
      if (delay) await new Promise((r) => setTimeout(r, delay));
    },
  });
})().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
