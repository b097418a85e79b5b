// Unit tests of the console's history model (node --test, no browser).
// Events are built as AWS shapes them: ids in order, previousEventId
// chains, StateEntered/StateExited details naming the state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Model } from "../history.js";

/** A history builder: `e(type, prev, details)` returns the new event's id. */
function history() {
  const events = [];
  const e = (type, prev, details) => {
    const id = events.length + 1;
    const ev = { id, previousEventId: prev, type, timestamp: id };
    if (type.endsWith("StateEntered")) ev.stateEnteredEventDetails = { name: details, input: "{}" };
    else if (type.endsWith("StateExited")) ev.stateExitedEventDetails = { name: details, output: "{}" };
    else if (type.startsWith("MapIteration")) ev[type[0].toLowerCase() + type.slice(1) + "EventDetails"] = details;
    else if (details) ev[type[0].toLowerCase() + type.slice(1) + "EventDetails"] = details;
    events.push(ev);
    return id;
  };
  return { events, e };
}

const statuses = (m) => Object.fromEntries([...m.states.keys()].map((n) => [n, m.status(n)]));

test("a retried Task, then a caught one, then a failing one", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, { input: "{}" });
  p = e("TaskStateEntered", p, "A");
  p = e("TaskScheduled", p, { resource: "invoke", resourceType: "lambda", parameters: "{\"x\":1}" });
  p = e("TaskFailed", p, { error: "E1", cause: "c1" });
  p = e("TaskScheduled", p, { resource: "invoke", resourceType: "lambda", parameters: "{\"x\":1}" });
  p = e("TaskSucceeded", p, { output: "{\"ok\":true}" });
  p = e("TaskStateExited", p, "A");
  p = e("TaskStateEntered", p, "B");
  p = e("TaskScheduled", p, { resource: "invoke" });
  p = e("TaskFailed", p, { error: "E2", cause: "c2" });
  p = e("TaskStateExited", p, "B");
  p = e("TaskStateEntered", p, "C");
  p = e("TaskScheduled", p, { resource: "invoke" });
  const running = new Model().add(events);
  assert.equal(running.status("C"), "running");
  p = e("TaskFailed", p, { error: "E3", cause: "c3" });
  e("ExecutionFailed", p, { error: "E3", cause: "c3" });
  const m = new Model().add(events);
  assert.deepEqual(statuses(m), { A: "retried", B: "caught", C: "failed" });
  assert.equal(m.states.get("A").retries, 1);
  assert.equal(m.states.get("A").result, "{\"ok\":true}");
  assert.equal(m.states.get("A").resource, "lambda:invoke");
  assert.equal(m.states.get("C").error, "E3");
  assert.equal(m.execution.status, "FAILED");
});

test("a failed branch fails its Parallel; a retry of the Parallel counts as one", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  const par = e("ParallelStateEntered", p, "P");
  let started = e("ParallelStateStarted", par);
  let b = e("TaskStateEntered", started, "Flaky");
  b = e("TaskScheduled", b, { resource: "r" });
  b = e("TaskFailed", b, { error: "E", cause: "c" });
  let ok = e("PassStateEntered", started, "Fine");
  ok = e("PassStateExited", ok, "Fine");
  // The Parallel's Retry: the branches run again.
  started = e("ParallelStateStarted", b);
  b = e("TaskStateEntered", started, "Flaky");
  b = e("TaskScheduled", b, { resource: "r" });
  b = e("TaskSucceeded", b, { output: "1" });
  b = e("TaskStateExited", b, "Flaky");
  ok = e("PassStateEntered", started, "Fine");
  ok = e("PassStateExited", ok, "Fine");
  p = e("ParallelStateSucceeded", started);
  p = e("ParallelStateExited", p, "P");
  e("ExecutionSucceeded", p, { output: "[]" });
  const m = new Model().add(events);
  // Flaky failed once (its branch was abandoned), the Parallel retried.
  assert.deepEqual(statuses(m), { P: "retried", Flaky: "failed", Fine: "succeeded" });
  assert.equal(m.states.get("P").retries, 1);
  assert.equal(m.states.get("Flaky").entered, 2);
});

test("Map iterations: a tolerated failure fails the state inside, not the Map", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  const map = e("MapStateEntered", p, "M");
  const started = e("MapStateStarted", map, { length: 3 });
  let last = started;
  for (let i = 0; i < 3; i++) {
    const it = e("MapIterationStarted", started, { name: "M", index: i });
    let s = e("TaskStateEntered", it, "Work");
    s = e("TaskScheduled", s, { resource: "r" });
    if (i === 1) {
      s = e("TaskFailed", s, { error: "Bad", cause: "item 1" });
      last = e("MapIterationFailed", s, { name: "M", index: i });
    } else {
      s = e("TaskSucceeded", s, { output: "1" });
      s = e("TaskStateExited", s, "Work");
      last = e("MapIterationSucceeded", s, { name: "M", index: i });
    }
  }
  p = e("MapStateSucceeded", last);
  p = e("MapStateExited", p, "M");
  e("ExecutionSucceeded", p, { output: "[]" });
  const m = new Model().add(events);
  assert.deepEqual(statuses(m), { M: "succeeded", Work: "failed" });
  assert.deepEqual(m.iterations.get("M"), ["succeeded", "failed", "succeeded"]);
  assert.equal(m.states.get("M").events.filter((x) => x.type.startsWith("MapIteration")).length, 6);
});

test("a stopped execution cancels what ran; a redrive runs it again", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  p = e("WaitStateEntered", p, "Hold");
  const stopped = e("ExecutionAborted", p, { error: "Stop", cause: "by hand" });
  let m = new Model().add(events);
  assert.deepEqual(statuses(m), { Hold: "cancelled" });
  assert.equal(m.execution.status, "ABORTED");
  // Live updates fold in only the new events.
  p = e("ExecutionRedriven", stopped, { redriveCount: 1 });
  p = e("WaitStateEntered", p, "Hold");
  m.add(events);
  assert.equal(m.status("Hold"), "running");
  assert.equal(m.execution.status, "RUNNING");
  p = e("WaitStateExited", p, "Hold");
  e("ExecutionSucceeded", p, { output: "{}" });
  m.add(events);
  assert.deepEqual(statuses(m), { Hold: "succeeded" });
  assert.equal(m.count, events.length);
});

test("a Fail state fails; events are counted once however often they are added", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  p = e("FailStateEntered", p, "Boom");
  e("ExecutionFailed", p, { error: "X", cause: "Y" });
  const m = new Model().add(events).add(events);
  assert.deepEqual(statuses(m), { Boom: "failed" });
  assert.equal(m.states.get("Boom").error, "X");
  assert.equal(m.count, 3);
  assert.equal(m.status("Unknown"), "not-run");
});

test("a Map in a concurrent Map: each inner iteration closes its own instance", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  const outer = e("MapStateEntered", p, "Outer");
  const started = e("MapStateStarted", outer, { length: 2 });
  // Two outer iterations run at once, each entering the inner Map.
  const it = [0, 1].map((i) => e("MapIterationStarted", started, { name: "Outer", index: i }));
  const inner = it.map((x) => e("MapStateEntered", x, "Inner"));
  const innerStarted = inner.map((x) => e("MapStateStarted", x, { length: 1 }));
  const innerIt = innerStarted.map((x) => e("MapIterationStarted", x, { name: "Inner", index: 0 }));
  const work = innerIt.map((x) => e("PassStateEntered", x, "Leaf"));
  const done = work.map((x) => e("PassStateExited", x, "Leaf"));
  // The first outer iteration's inner Map ends first, though the second
  // one entered last.
  let ends = [];
  for (const i of [0, 1]) {
    let q = e("MapIterationSucceeded", done[i], { name: "Inner", index: 0 });
    q = e("MapStateSucceeded", q);
    q = e("MapStateExited", q, "Inner");
    ends.push(e("MapIterationSucceeded", q, { name: "Outer", index: i }));
    if (i === 0) {
      const m = new Model().add(events);
      assert.equal(m.status("Inner"), "running", "the second inner Map still runs");
      assert.equal(m.states.get("Inner").active, 1);
    }
  }
  p = e("MapStateSucceeded", ends[1]);
  p = e("MapStateExited", p, "Outer");
  e("ExecutionSucceeded", p, { output: "[]" });
  const m = new Model().add(events);
  assert.deepEqual(statuses(m), { Outer: "succeeded", Inner: "succeeded", Leaf: "succeeded" });
});

test("a failed attempt waiting for its Retry shows as running", () => {
  const { events, e } = history();
  let p = e("ExecutionStarted", 0, {});
  p = e("TaskStateEntered", p, "T");
  p = e("TaskScheduled", p, { resource: "r" });
  p = e("TaskFailed", p, { error: "E", cause: "c" });
  const m = new Model().add(events);
  assert.equal(m.status("T"), "running");
  p = e("TaskScheduled", p, { resource: "r" });
  p = e("TaskSucceeded", p, { output: "1" });
  p = e("TaskStateExited", p, "T");
  e("ExecutionSucceeded", p, { output: "1" });
  assert.equal(m.add(events).status("T"), "retried");
});
