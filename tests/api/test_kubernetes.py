"""eks:runJob.sync through `aslan serve` against aslan-local-cloud, the
Kubernetes API emulator: StopExecution and TimeoutSeconds delete the Job
(propagationPolicy Foreground, so its pods go too), and a `kill -9` while a
Job runs neither loses the execution nor creates the Job twice.
"""
import base64
import json
import os
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, Server, client, machine, wait_done

CLOUD_BIN = os.environ.get("ASLAN_CLOUD_BIN", str(Path(BIN).with_name("aslan-local-cloud")))


class Cloud:
    def __init__(self):
        self.proc = subprocess.Popen([CLOUD_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        k = json.loads(self.proc.stdout.readline())["kubernetes"]
        self.endpoint, self.ca, self.token = k["endpoint"], k["certificateAuthority"], k["token"]
        self.ctx = ssl.create_default_context(cadata=base64.b64decode(self.ca).decode())

    def get(self, path):
        req = urllib.request.Request(self.endpoint + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def cloud():
    c = Cloud()
    yield c
    c.stop()


@pytest.fixture
def k8s_server(tmp_path, cloud):
    cfg = tmp_path / "aslan.toml"
    cfg.write_text(f'[clusters.MyCluster]\ntoken = "{cloud.token}"\n')
    s = Server(tmp_path / "data", extra=["--config", str(cfg)]).start()
    yield s
    s.stop()


def run_job_machine(duration_ms, timeout=None):
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::eks:runJob.sync",
        "Parameters": {
            "ClusterName": "MyCluster",
            "CertificateAuthority.$": "$.cluster.certificateAuthority",
            "Endpoint.$": "$.cluster.endpoint",
            "Job": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"generateName": "sleepy-"},
                "spec": {"backoffLimit": 0, "template": {
                    "metadata": {"annotations": {"aslan.io/duration-ms": str(duration_ms), "aslan.io/log": "done"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
            },
        },
        "End": True,
    }
    if timeout:
        state["TimeoutSeconds"] = timeout
    return {"StartAt": "Run", "States": {"Run": state}}


def cluster_input(cloud):
    return json.dumps({"cluster": {"endpoint": cloud.endpoint, "certificateAuthority": cloud.ca}})


def jobs_of(cloud, execution_arn, sfn):
    """The Jobs carrying the idempotency key of the execution's task."""
    status, body = cloud.get("/apis/batch/v1/namespaces/default/jobs")
    assert status == 200
    return [j for j in body["items"] if j["metadata"].get("labels", {}).get("aslan.io/idempotency-key")]


def until(f, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = f()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out")


def history_types(sfn, arn):
    return [e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]]


def job_gone(cloud, job):
    name = job["metadata"]["name"]
    status, _ = cloud.get(f"/apis/batch/v1/namespaces/default/jobs/{name}")
    if status != 404:
        return False
    status, pods = cloud.get(f"/api/v1/namespaces/default/pods?labelSelector=job-name%3D{name}")
    return status == 200 and pods["items"] == []


def test_stop_execution_deletes_the_job_and_its_pods(k8s_server, cloud):
    sfn = client(k8s_server.endpoint)
    arn = machine(sfn, "stop-job", run_job_machine(600_000))
    ex = sfn.start_execution(stateMachineArn=arn, input=cluster_input(cloud))["executionArn"]
    until(lambda: "TaskStarted" in history_types(sfn, ex))
    [job] = jobs_of(cloud, ex, sfn)
    status, pods = cloud.get(f"/api/v1/namespaces/default/pods?labelSelector=job-name%3D{job['metadata']['name']}")
    assert len(pods["items"]) == 1
    sfn.stop_execution(executionArn=ex, error="Operator", cause="no longer needed")
    assert wait_done(sfn, ex)["status"] == "ABORTED"
    until(lambda: job_gone(cloud, job))
    assert "TaskStateAborted" in history_types(sfn, ex) or "ExecutionAborted" in history_types(sfn, ex)


def test_timeout_seconds_deletes_the_job(k8s_server, cloud):
    sfn = client(k8s_server.endpoint)
    arn = machine(sfn, "timeout-job", run_job_machine(600_000, timeout=1))
    ex = sfn.start_execution(stateMachineArn=arn, input=cluster_input(cloud))["executionArn"]
    # The Job exists once the task has started, well within the second.
    until(lambda: "TaskStarted" in history_types(sfn, ex))
    jobs = jobs_of(cloud, ex, sfn)
    assert len(jobs) == 1, jobs
    d = wait_done(sfn, ex, timeout=30)
    assert d["status"] == "FAILED" and d["error"] == "States.Timeout"
    until(lambda: job_gone(cloud, jobs[0]))


def test_kill_9_during_run_job_sync_creates_one_job_and_completes(tmp_path, cloud):
    cfg = tmp_path / "aslan.toml"
    cfg.write_text(f'[clusters.MyCluster]\ntoken = "{cloud.token}"\n')
    server = Server(tmp_path / "data", extra=["--config", str(cfg)]).start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "crash-job", run_job_machine(1_500))
    executions = []
    # Kill at different moments: right after the start (the Job may or may
    # not exist yet), and while the Job runs.
    for delay in [0.0, 0.05, 0.3, 0.8]:
        ex = sfn.start_execution(stateMachineArn=arn, input=cluster_input(cloud))["executionArn"]
        executions.append(ex)
        time.sleep(delay)
        server.kill()
        server.start()
        sfn = client(server.endpoint)
    for ex in executions:
        d = wait_done(sfn, ex, timeout=60)
        assert d["status"] == "SUCCEEDED", d
        out = json.loads(d["output"])
        assert out["kind"] == "Job" and any(c["type"] == "Complete" for c in out["status"]["conditions"])
    status, body = cloud.get("/apis/batch/v1/namespaces/default/jobs")
    keys = [j["metadata"]["labels"]["aslan.io/idempotency-key"] for j in body["items"]]
    # One Job per execution, never two.
    assert len(keys) == len(executions) == len(set(keys)), keys
    server.stop()
