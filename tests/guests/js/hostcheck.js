// The host check (world `aslan:host/task`), in JavaScript for jco's QuickJS
// backend: calls every host function once. See "The host check (tests)" in
// examples/wasm/README.md.
import eks from "aslan:host/eks@0.1.0";
import kubernetes from "aslan:host/kubernetes@0.1.0";
import log from "aslan:host/log@0.1.0";
import state from "aslan:host/state@0.1.0";

class Failed extends Error {}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

function member(value, ...path) {
  for (const key of path) {
    if (!isObject(value) || !Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

function string(step, value, ...path) {
  const v = member(value, ...path);
  if (typeof v !== "string") throw new Failed(`${step}: no string ${path.join(".")}`);
  return v;
}

function parse(step, text) {
  try {
    return JSON.parse(text);
  } catch (_) {
    throw new Failed(`${step}: the host gave text that is not JSON`);
  }
}

// A host call's `result` err arrives as an exception: its task-error, or
// the exception again when it is not one.
function taskError(e) {
  const p = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (isObject(p) && typeof p.error === "string" && typeof p.cause === "string") return p;
  throw e;
}

// Runs `f`; a host error becomes HostCheck.Failed naming `step`.
function step(name, f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof Failed) throw e;
    const te = taskError(e);
    throw new Failed(`${name}: ${te.error}: ${te.cause}`);
  }
}

function check(input) {
  log.log("info", "hostcheck: start");
  const inp = parse("input", input);
  const cluster = {
    name: string("input", inp, "Cluster", "Name"),
    endpoint: string("input", inp, "Cluster", "Endpoint"),
    certificateAuthority: string("input", inp, "Cluster", "CertificateAuthority"),
  };
  const namespace = string("input", inp, "Namespace");
  const jobName = string("input", inp, "JobName");
  const eksCluster = string("input", inp, "EksCluster");
  const out = {};

  step("stateGet", () => state.set("hostcheck", '{"n":1}'));
  const got = state.get("hostcheck");
  if (got === null || got === undefined) throw new Failed("stateGet: state.get gave none after state.set");
  out.stateGet = parse("stateGet", got);

  state.remove("hostcheck");
  const after = state.get("hostcheck");
  if (after !== null && after !== undefined) {
    throw new Failed("stateRemoved: state.get gave a value after state.remove");
  }
  out.stateRemoved = true;

  const resp = step("callStatus", () =>
    kubernetes.call(cluster, { method: "GET", path: `/api/v1/namespaces/${namespace}`, query: [], body: null }),
  );
  out.callStatus = resp.statusCode;

  const job = {
    metadata: { name: jobName },
    spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox" }] } } },
  };
  const created = step("createdJob", () => kubernetes.createJob(cluster, namespace, JSON.stringify(job)));
  out.createdJob = string("createdJob", parse("createdJob", created), "metadata", "name");

  const read = step("readJobKind", () => kubernetes.readJob(cluster, namespace, jobName));
  out.readJobKind = string("readJobKind", parse("readJobKind", read), "kind");

  const pods = step("listPodsKind", () =>
    kubernetes.listPods(cluster, namespace, `batch.kubernetes.io/job-name=${jobName}`),
  );
  out.listPodsKind = string("listPodsKind", parse("listPodsKind", pods), "kind");

  let logged = false;
  try {
    kubernetes.readPodLog(cluster, namespace, "no-such-pod", null, 10);
    logged = true;
  } catch (e) {
    out.podLogError = taskError(e).error;
  }
  if (logged) throw new Failed("podLogError: read-pod-log of no-such-pod succeeded");

  try {
    const described = eks.call("describe-cluster", JSON.stringify({ Name: eksCluster }));
    out.eks = string("eks", parse("eks", described), "Cluster", "Status");
  } catch (e) {
    if (e instanceof Failed) throw e;
    out.eks = taskError(e).error;
  }
  return out;
}

export function run(input) {
  let out;
  try {
    out = check(input);
  } catch (e) {
    if (e instanceof Failed) throw { error: "HostCheck.Failed", cause: e.message };
    throw e;
  }
  return JSON.stringify(out);
}
