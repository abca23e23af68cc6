// A durabletask-js worker for the sidecar tests: `node worker.js HOST:PORT` runs until SIGTERM.
// js_hello is its activity; js_chain its orchestration, which calls js_hello and then the Python
// worker's activity "hello" by name.
const { TaskHubGrpcWorker } = require("@microsoft/durabletask-js");

const js_hello = async (_ctx, name) => `Hi ${name} from JavaScript`;

const js_chain = async function* (ctx, name) {
  const mine = yield ctx.callActivity(js_hello, name);
  const theirs = yield ctx.callActivity("hello", name);
  return [mine, theirs];
};

async function main() {
  const worker = new TaskHubGrpcWorker({ hostAddress: process.argv[2], workItemFilters: "auto" });
  worker.addOrchestrator(js_chain);
  worker.addActivity(js_hello);
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
