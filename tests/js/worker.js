// A durabletask-js worker for the sidecar tests: `node worker.js HOST:PORT` runs until SIGTERM.
// Its functions are named js_*; js_chain also calls the Python worker's activity "hello" by name.
const {
  EntityInstanceId,
  RetryPolicy,
  TaskHubGrpcWorker,
  TaskEntity,
  whenAll,
  whenAny,
} = require("@microsoft/durabletask-js");

// an entity: "add" adds to its number and returns it, "get" returns it
class JsCounter extends TaskEntity {
  initializeState() {
    return 0;
  }
  add(amount) {
    this.state += amount;
    return this.state;
  }
  get() {
    return this.state;
  }
}

const js_hello = async (_ctx, name) => `Hi ${name} from JavaScript`;

const js_chain = async function* (ctx, name) {
  const mine = yield ctx.callActivity(js_hello, name);
  const theirs = yield ctx.callActivity("hello", name);
  return [mine, theirs];
};

const js_fan = async function* (ctx, n) {
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(ctx.callActivity(js_hello, String(i)));
  return yield whenAll(tasks);
};

// waits for "approve" at most timeoutS seconds (a durable timer); sets its custom status first
const js_approval = async function* (ctx, timeoutS) {
  ctx.setCustomStatus({ waiting: true });
  const event = ctx.waitForExternalEvent("approve");
  const winner = yield whenAny([event, ctx.createTimer(timeoutS)]);
  return winner === event ? event.getResult() : "timed out";
};

const js_parent = async function* (ctx, n) {
  const child = yield ctx.callSubOrchestrator(js_fan, n);
  return child.length;
};

const js_counts = async function* (ctx, n) {
  if (n < 3) {
    yield ctx.callActivity(js_hello, String(n));
    ctx.continueAsNew(n + 1, false);
    return null;
  }
  return n;
};

// fails the first two attempts of each key (attempts counted in this process), then succeeds
const attempts = new Map();
const js_flaky = async (_ctx, key) => {
  const n = (attempts.get(key) || 0) + 1;
  attempts.set(key, n);
  if (n < 3) throw new Error(`attempt ${n} of ${key} fails`);
  return `ok after ${n}`;
};

// js_flaky with a retry policy of `attempts` attempts, 0.5 s apart
const js_retries = async function* (ctx, { key, attempts }) {
  const retry = new RetryPolicy({ maxNumberOfAttempts: attempts, firstRetryIntervalInMilliseconds: 500 });
  return yield ctx.callActivity(js_flaky, key, { retry });
};

// signals then calls counter `key` (the signal is processed first: one sender, in order)
const js_uses_entities = async function* (ctx, key) {
  const counter = new EntityInstanceId("js_counter", key);
  ctx.entities.signalEntity(counter, "add", 3);
  return yield ctx.entities.callEntity(counter, "add", 4);
};

// moves `amount` from counter "from" to counter "to" inside a critical section; the "from" balance after
const js_transfer = async function* (ctx, amount) {
  const from = new EntityInstanceId("js_counter", "from");
  const to = new EntityInstanceId("js_counter", "to");
  const lock = yield ctx.entities.lockEntities(to, from);
  try {
    const inside = ctx.entities.isInCriticalSection().inSection;
    const have = yield ctx.entities.callEntity(from, "add", -amount);
    yield ctx.entities.callEntity(to, "add", amount);
    return { have, inside };
  } finally {
    lock.release();
  }
};

async function main() {
  const worker = new TaskHubGrpcWorker({ hostAddress: process.argv[2], workItemFilters: "auto" });
  for (const o of [js_chain, js_fan, js_approval, js_parent, js_counts, js_retries, js_uses_entities, js_transfer])
    worker.addOrchestrator(o);
  worker.addActivity(js_hello);
  worker.addActivity(js_flaky);
  worker.addNamedEntity("js_counter", () => new JsCounter());
  await worker.start();
  process.stdout.write("started\n");
  process.on("SIGTERM", async () => {
    await worker.stop();
    process.exit(0);
  });
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
