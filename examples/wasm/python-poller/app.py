"""Aslan's Job poller (world `aslan:host/poller`), in Python.

The decision is the one `examples/wasm/README.md` specifies ("The Job
poller"); the Rust, JavaScript and C pollers make the same one, and
`tests/guests/cases.json` holds cases that all of them must decide alike.
"""

import json
import math
from typing import Any, Optional

import wit_world
from componentize_py_types import Err
from wit_world.imports import kubernetes, log
from wit_world.imports.types import (
    AgainAfter,
    Context,
    Decision,
    Decision_Again,
    Decision_Done,
    Decision_Failed,
    TaskError,
)

# The largest attempt read back from the state: one more must still fit a u32.
MAX_ATTEMPT = 4294967294


def fnv1a32(data: bytes) -> int:
    """32-bit FNV-1a."""
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def again(attempt: int, idempotency_key: str) -> Decision:
    """Step 7: poll again after the backoff plus the hashed jitter."""
    nxt = attempt + 1
    delay = min(250 * 2 ** min(attempt, 7), 30000)
    jitter = fnv1a32(f"{idempotency_key}:{nxt}".encode("utf-8")) % (delay // 4 + 1)
    return Decision_Again(AgainAfter(after_ms=delay + jitter, state='{"attempt":%d}' % nxt))


def failed(error: str, cause: str) -> Decision:
    return Decision_Failed(TaskError(error=error, cause=cause))


def member(value: Any, *path: str) -> Any:
    """`value.path...`, or None when a step is not an object or lacks the key."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text(value: Any) -> str:
    """A string member, or "" for anything else."""
    return value if isinstance(value, str) else ""


def items(value: Any) -> list:
    """An array member, or [] for anything else."""
    return value if isinstance(value, list) else []


def parse_attempt(state: Optional[str]) -> int:
    """`{"attempt":N}` gives N; none, or anything that does not hold an
    integral number in [0, MAX_ATTEMPT], gives 0."""
    if state is None:
        return 0
    try:
        n = member(json.loads(state), "attempt")
    except ValueError:
        return 0
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        return 0
    if isinstance(n, float) and not (math.isfinite(n) and n.is_integer()):
        return 0
    if n < 0 or n > MAX_ATTEMPT:
        return 0
    return int(n)


def has_condition(job: Any, kind: str) -> Optional[dict]:
    """The first condition `{"type": KIND, "status": "True"}`, if any."""
    for c in items(member(job, "status", "conditions")):
        if member(c, "type") == kind and member(c, "status") == "True":
            return c
    return None


REQUIRED = (
    ("Parameters", "ClusterName"),
    ("Parameters", "Endpoint"),
    ("Parameters", "CertificateAuthority"),
    ("Started", "Namespace"),
    ("Started", "Name"),
)


def poll_job(ctx: Context, request: str, state: Optional[str]) -> Decision:
    """One poll of the Job: the decision."""
    try:
        req = json.loads(request)
    except ValueError:
        return failed("States.Runtime", "poller: the request is not JSON")
    fields = []
    for path in REQUIRED:
        value = member(req, *path)
        if not isinstance(value, str):
            return failed("States.Runtime", "poller: the request has no string " + ".".join(path))
        fields.append(value)
    cluster_name, endpoint, ca, namespace, name = fields
    cluster = kubernetes.Cluster(name=cluster_name, endpoint=endpoint, certificate_authority=ca)
    attempt = parse_attempt(state)

    try:
        job_text = kubernetes.read_job(cluster, namespace, name)
    except Err as e:
        return Decision_Failed(e.value)
    log.log(log.Level.INFO, f"job {namespace}/{name}: poll {attempt}")
    try:
        job = json.loads(job_text)
    except ValueError:
        return failed("States.Runtime", "poller: read-job gave text that is not JSON")

    if has_condition(job, "Complete") is not None:
        return Decision_Done(job_text)
    cond = has_condition(job, "Failed")
    if cond is not None:
        reason = text(member(cond, "reason"))
        return failed("EKS.JobFailed", f"Job {namespace}/{name} failed: {reason}")

    try:
        pods_text = kubernetes.list_pods(cluster, namespace, "batch.kubernetes.io/job-name=" + name)
    except Err as e:
        return Decision_Failed(e.value)
    try:
        pods = json.loads(pods_text)
    except ValueError:
        return failed("States.Runtime", "poller: list-pods gave text that is not JSON")
    for pod in items(member(pods, "items")):
        pod_name = text(member(pod, "metadata", "name"))
        for cs in items(member(pod, "status", "containerStatuses")):
            reason = member(cs, "state", "waiting", "reason")
            if reason in ("ImagePullBackOff", "ErrImagePull"):
                return failed(
                    "Job.ImagePullBackOff",
                    f"pod {pod_name} container {text(member(cs, 'name'))}: {reason}",
                )

    return again(attempt, ctx.idempotency_key)


class WitWorld(wit_world.WitWorld):
    def decide(self, ctx: Context, request: str, state: Optional[str]) -> Decision:
        """The world's export `decide`: the host calls it once per poll."""
        return poll_job(ctx, request, state)
