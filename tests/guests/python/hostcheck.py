"""The host check (world `aslan:host/task`), in Python: calls every host
function once. See "The host check (tests)" in examples/wasm/README.md."""

import json
from typing import Any

import wit_world
from componentize_py_types import Err
from wit_world.imports import eks, kubernetes, log, state
from wit_world.imports.types import TaskError


class Failed(Exception):
    pass


def fail(step: str, what: str) -> Failed:
    return Failed(f"{step}: {what}")


def host_error(step: str, e: Err) -> Failed:
    return fail(step, f"{e.value.error}: {e.value.cause}")


def member(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def string(step: str, value: Any, *path: str) -> str:
    v = member(value, *path)
    if not isinstance(v, str):
        raise fail(step, "no string " + ".".join(path))
    return v


def parse(step: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise fail(step, "the host gave text that is not JSON")


def check(input: str) -> dict:
    log.log(log.Level.INFO, "hostcheck: start")
    inp = parse("input", input)
    cluster = kubernetes.Cluster(
        name=string("input", inp, "Cluster", "Name"),
        endpoint=string("input", inp, "Cluster", "Endpoint"),
        certificate_authority=string("input", inp, "Cluster", "CertificateAuthority"),
    )
    namespace = string("input", inp, "Namespace")
    job_name = string("input", inp, "JobName")
    eks_cluster = string("input", inp, "EksCluster")
    out = {}

    try:
        state.set("hostcheck", '{"n":1}')
    except Err as e:
        raise host_error("stateGet", e)
    got = state.get("hostcheck")
    if got is None:
        raise fail("stateGet", "state.get gave none after state.set")
    out["stateGet"] = parse("stateGet", got)

    state.remove("hostcheck")
    if state.get("hostcheck") is not None:
        raise fail("stateRemoved", "state.get gave a value after state.remove")
    out["stateRemoved"] = True

    try:
        resp = kubernetes.call(
            cluster,
            kubernetes.Request(method="GET", path=f"/api/v1/namespaces/{namespace}", query=[], body=None),
        )
    except Err as e:
        raise host_error("callStatus", e)
    out["callStatus"] = resp.status_code

    job = {
        "metadata": {"name": job_name},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox"}],
        }}},
    }
    try:
        created = kubernetes.create_job(cluster, namespace, json.dumps(job, separators=(",", ":")))
    except Err as e:
        raise host_error("createdJob", e)
    out["createdJob"] = string("createdJob", parse("createdJob", created), "metadata", "name")

    try:
        read = kubernetes.read_job(cluster, namespace, job_name)
    except Err as e:
        raise host_error("readJobKind", e)
    out["readJobKind"] = string("readJobKind", parse("readJobKind", read), "kind")

    try:
        pods = kubernetes.list_pods(cluster, namespace, "batch.kubernetes.io/job-name=" + job_name)
    except Err as e:
        raise host_error("listPodsKind", e)
    out["listPodsKind"] = string("listPodsKind", parse("listPodsKind", pods), "kind")

    try:
        kubernetes.read_pod_log(cluster, namespace, "no-such-pod", None, 10)
    except Err as e:
        out["podLogError"] = e.value.error
    else:
        raise fail("podLogError", "read-pod-log of no-such-pod succeeded")

    try:
        described = eks.call(eks.Operation.DESCRIBE_CLUSTER, json.dumps({"Name": eks_cluster}))
    except Err as e:
        out["eks"] = e.value.error
    else:
        out["eks"] = string("eks", parse("eks", described), "Cluster", "Status")
    return out


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> str:
        try:
            out = check(input)
        except Failed as f:
            raise Err(TaskError(error="HostCheck.Failed", cause=str(f)))
        return json.dumps(out, separators=(",", ":"))
