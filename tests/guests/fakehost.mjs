// A scripted aslan:host for tests/guests/run-cases.mjs: the components that
// `jco transpile` makes import their host interfaces from here. The harness
// sets `host.script` per call; every call is recorded in `host.calls`.
export const host = { script: {}, calls: [], state: new Map() };

function fail(msg) {
  throw new Error(`fakehost: ${msg}`);
}

// Answers from the script: {"ok": value} returns, {"err": task-error} throws
// as jco's bindings expect (the payload in `payload`).
function answer(name, args) {
  host.calls.push([name, ...args]);
  const a = host.script[name];
  if (!a) fail(`unexpected call ${name}(${JSON.stringify(args)})`);
  if ("err" in a) throw Object.assign(new Error(a.err.cause), { payload: a.err });
  return typeof a.ok === "function" ? a.ok(...args) : a.ok;
}

function clusterArgs(cluster) {
  host.clusters = (host.clusters || []).concat([cluster]);
}

export const kubernetes = {
  call(cluster, request) {
    clusterArgs(cluster);
    return answer("call", [request]);
  },
  createJob(cluster, namespace, job) {
    clusterArgs(cluster);
    return answer("create-job", [namespace, job]);
  },
  readJob(cluster, namespace, name) {
    clusterArgs(cluster);
    return answer("read-job", [namespace, name]);
  },
  listPods(cluster, namespace, selector) {
    clusterArgs(cluster);
    return answer("list-pods", [namespace, selector]);
  },
  readPodLog(cluster, namespace, pod, container, tailLines) {
    clusterArgs(cluster);
    return answer("read-pod-log", [namespace, pod, container ?? null, tailLines ?? null]);
  },
};

export const eks = {
  call(operation, request) {
    return answer("eks", [operation, request]);
  },
};

export const log = {
  log(level, message) {
    host.calls.push(["log", level, message]);
  },
};

export const state = {
  get(key) {
    host.calls.push(["state.get", key]);
    return host.state.get(key);
  },
  set(key, value) {
    host.calls.push(["state.set", key, value]);
    host.state.set(key, value);
  },
  remove(key) {
    host.calls.push(["state.remove", key]);
    host.state.delete(key);
  },
};

export const types = {};
