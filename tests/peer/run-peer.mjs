// Runs state machines through aws-local-stepfunctions, the peer of Aslan's
// differential tests and benchmarks.
//
//   node run-peer.mjs < cases.jsonl > results.jsonl
//     each input line: {"name", "definition", "input", "context"?, "tasks"?: {State: [{"Return": v} | {"Throw": {"Error", "Cause"}}]}}
//     each output line: {"name", "status": "SUCCEEDED"|"FAILED"|"INVALID", "output"? , "error"?, "cause"?}
//   node run-peer.mjs --bench DEFINITION_FILE INPUT_FILE ITERATIONS
//     runs one definition ITERATIONS times in this process and prints
//     {"ms": [..per run..], "output": ...}. With a fifth argument
//     --inc-tasks, every Task state is answered by a local handler that
//     returns {"n": n + 1} for {"n": n} (the custom task benchmark).
import { StateMachine } from 'aws-local-stepfunctions';

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node 22); this machine's Node is 20.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

function walkStates(def, f) {
  for (const [name, st] of Object.entries(def.States ?? {})) {
    f(name, st);
    for (const b of st.Branches ?? []) walkStates(b, f);
    if (st.Iterator) walkStates(st.Iterator, f);
    if (st.ItemProcessor) walkStates(st.ItemProcessor, f);
  }
}

function overrides(def, tasks) {
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  walkStates(def, (name, st) => {
    if (st.Type === 'Wait') waitTimeOverrides[name] = 0;
    if (st.Retry) retryIntervalOverrides[name] = 0;
  });
  const taskResourceLocalHandlers = {};
  for (const [state, responses] of Object.entries(tasks ?? {})) {
    let n = 0;
    taskResourceLocalHandlers[state] = async () => {
      const r = responses[Math.min(n, responses.length - 1)];
      n++;
      if (r.Throw) {
        const e = new Error(r.Throw.Cause ?? '');
        e.name = r.Throw.Error;
        throw e;
      }
      return r.Return;
    };
  }
  return { waitTimeOverrides, retryIntervalOverrides, taskResourceLocalHandlers };
}

async function runCase(c) {
  let sm;
  try {
    sm = new StateMachine(c.definition, { validationOptions: { checkArn: false } });
  } catch (e) {
    return { name: c.name, status: 'INVALID', cause: String(e.message) };
  }
  try {
    const exec = sm.run(c.input, { overrides: overrides(c.definition, c.tasks), context: c.context });
    const output = await exec.result;
    return { name: c.name, status: 'SUCCEEDED', output };
  } catch (e) {
    const inner = e.cause ?? e;
    return { name: c.name, status: 'FAILED', error: inner.name ?? null, cause: inner.message ?? null };
  }
}

if (process.argv[2] === '--bench') {
  const def = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  const input = JSON.parse(readFileSync(process.argv[4], 'utf8'));
  const iters = Number(process.argv[5] ?? 3);
  const sm = new StateMachine(def, { validationOptions: { checkArn: false } });
  const runOptions = {};
  if (process.argv[6] === '--inc-tasks') {
    const taskResourceLocalHandlers = {};
    walkStates(def, (name, st) => {
      if (st.Type === 'Task') taskResourceLocalHandlers[name] = async (p) => ({ n: p.n + 1 });
    });
    runOptions.overrides = { taskResourceLocalHandlers };
  }
  const ms = [];
  let output;
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    output = await sm.run(input, runOptions).result;
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ ms, output }));
} else {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const r = await runCase(JSON.parse(line));
    process.stdout.write(JSON.stringify(r) + '\n');
  }
}
