// Aslan's Job poller (world `aslan:host/poller`), in JavaScript for jco's
// QuickJS backend (componentize-qjs). The decision is the one
// examples/wasm/README.md specifies ("The Job poller"); the Rust, Python and C
// pollers make the same one, and tests/guests/cases.json holds cases that all
// of them must decide alike.
import kubernetes from "aslan:host/kubernetes@0.1.0";
import log from "aslan:host/log@0.1.0";

// The largest attempt read back from the state: one more must still fit a u32.
const MAX_ATTEMPT = 4294967294;

// UTF-8 bytes of a string (lone surrogates become U+FFFD, as TextEncoder does).
function utf8(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

// 32-bit FNV-1a over the UTF-8 bytes of `s`.
function fnv1a32(s) {
  let h = 0x811c9dc5;
  for (const b of utf8(s)) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h >>> 0;
}

// Step 7: poll again after the backoff plus the hashed jitter.
function again(attempt, idempotencyKey) {
  const next = attempt + 1;
  const delay = Math.min(250 * 2 ** Math.min(attempt, 7), 30000);
  const jitter = fnv1a32(`${idempotencyKey}:${next}`) % (Math.floor(delay / 4) + 1);
  return { tag: "again", val: { afterMs: delay + jitter, state: `{"attempt":${next}}` } };
}

function failed(error, cause) {
  return { tag: "failed", val: { error, cause } };
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

// `value.path...`, or undefined when a step is not an object or lacks the key.
function member(value, ...path) {
  for (const key of path) {
    if (!isObject(value) || !Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

const text = (v) => (typeof v === "string" ? v : "");
const items = (v) => (Array.isArray(v) ? v : []);

function parse(s) {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch (_) {
    return { ok: false };
  }
}

// `{"attempt":N}` gives N; none, or anything that does not hold an integral
// number in [0, MAX_ATTEMPT], gives 0.
function parseAttempt(state) {
  if (state === null || state === undefined) return 0;
  const p = parse(state);
  if (!p.ok) return 0;
  const n = member(p.value, "attempt");
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_ATTEMPT) return 0;
  return n + 0; // -0 is 0
}

// The first condition {"type": KIND, "status": "True"}, if any.
function condition(job, kind) {
  return items(member(job, "status", "conditions")).find(
    (c) => member(c, "type") === kind && member(c, "status") === "True",
  );
}

// A host call's `result` err arrives as an exception; hand back its task-error.
function taskError(e) {
  const p = e && typeof e === "object" && "payload" in e ? e.payload : e;
  if (isObject(p) && typeof p.error === "string" && typeof p.cause === "string") {
    return { error: p.error, cause: p.cause };
  }
  throw e;
}

const REQUIRED = [
  ["Parameters", "ClusterName"],
  ["Parameters", "Endpoint"],
  ["Parameters", "CertificateAuthority"],
  ["Started", "Namespace"],
  ["Started", "Name"],
];

// The world's export `decide`: the host calls it once per poll.
export function decide(ctx, request, state) {
  const req = parse(request);
  if (!req.ok) return failed("States.Runtime", "poller: the request is not JSON");
  const fields = [];
  for (const path of REQUIRED) {
    const v = member(req.value, ...path);
    if (typeof v !== "string") {
      return failed("States.Runtime", `poller: the request has no string ${path.join(".")}`);
    }
    fields.push(v);
  }
  const [clusterName, endpoint, certificateAuthority, namespace, name] = fields;
  const cluster = { name: clusterName, endpoint, certificateAuthority };
  const attempt = parseAttempt(state);

  let jobText;
  try {
    jobText = kubernetes.readJob(cluster, namespace, name);
  } catch (e) {
    return { tag: "failed", val: taskError(e) };
  }
  log.log("info", `job ${namespace}/${name}: poll ${attempt}`);
  const job = parse(jobText);
  if (!job.ok) return failed("States.Runtime", "poller: read-job gave text that is not JSON");

  if (condition(job.value, "Complete") !== undefined) return { tag: "done", val: jobText };
  const cond = condition(job.value, "Failed");
  if (cond !== undefined) {
    return failed("EKS.JobFailed", `Job ${namespace}/${name} failed: ${text(member(cond, "reason"))}`);
  }

  let podsText;
  try {
    podsText = kubernetes.listPods(cluster, namespace, `batch.kubernetes.io/job-name=${name}`);
  } catch (e) {
    return { tag: "failed", val: taskError(e) };
  }
  const pods = parse(podsText);
  if (!pods.ok) return failed("States.Runtime", "poller: list-pods gave text that is not JSON");
  for (const pod of items(member(pods.value, "items"))) {
    const podName = text(member(pod, "metadata", "name"));
    for (const cs of items(member(pod, "status", "containerStatuses"))) {
      const reason = member(cs, "state", "waiting", "reason");
      if (reason === "ImagePullBackOff" || reason === "ErrImagePull") {
        return failed("Job.ImagePullBackOff", `pod ${podName} container ${text(member(cs, "name"))}: ${reason}`);
      }
    }
  }

  return again(attempt, ctx.idempotencyKey);
}
