// The durabletask-js client against the sidecar: `node client.js HOST:PORT PREFIX` drives worker.js's
// js_approval and js_counter (the worker runs beside it), then prints one JSON line of what it saw.
const { EntityInstanceId, NoOpLogger, OrchestrationStatus, TaskHubGrpcClient } = require("@microsoft/durabletask-js");

const statusName = (state) => (state ? OrchestrationStatus[state.runtimeStatus] : null);

async function main() {
  const [address, prefix] = process.argv.slice(2);
  const client = new TaskHubGrpcClient({ hostAddress: address, logger: new NoOpLogger() });
  const seen = {};
  try {
    // start, wait for the start, raise the event it waits for, wait for the completion
    const approve = await client.scheduleNewOrchestration("js_approval", 60, { instanceId: `${prefix}-approve` });
    await client.waitForOrchestrationStart(approve, true, 30);
    await client.raiseOrchestrationEvent(approve, "approve", { by: "javascript" });
    const done = await client.waitForOrchestrationCompletion(approve, true, 30);
    seen.approve = { id: approve, status: statusName(done), output: JSON.parse(done.serializedOutput) };

    // suspend, resume and terminate one that waits
    const stop = await client.scheduleNewOrchestration("js_approval", 60, { instanceId: `${prefix}-stop` });
    await client.waitForOrchestrationStart(stop, false, 30);
    await client.suspendOrchestration(stop);
    let state;
    for (let i = 0; i < 100 && statusName(state) !== "SUSPENDED"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      state = await client.getOrchestrationState(stop, false);
    }
    seen.suspended = statusName(state);
    await client.resumeOrchestration(stop);
    await client.terminateOrchestration(stop, "stopped by javascript");
    const ended = await client.waitForOrchestrationCompletion(stop, true, 30);
    seen.stop = { id: stop, status: statusName(ended), output: JSON.parse(ended.serializedOutput) };

    // an entity: a signal, then its state read back
    const counter = new EntityInstanceId("js_counter", `${prefix}-counter`);
    await client.signalEntity(counter, "add", 5);
    let meta;
    for (let i = 0; i < 100 && !(meta && meta.state === 5); i++) {
      await new Promise((r) => setTimeout(r, 200));
      meta = await client.getEntity(counter);
    }
    seen.entity = meta ? meta.state : null;
    seen.missing = statusName(await client.getOrchestrationState(`${prefix}-nobody`));
  } finally {
    await client.stop();
  }
  process.stdout.write(`${JSON.stringify(seen)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
