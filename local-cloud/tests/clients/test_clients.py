"""aslan-local-cloud seen by real clients: kubectl and the Python kubernetes package.

Run by ../check_clients.sh, which installs them and sets ASLAN_LOCAL_CLOUD_BIN.
"""

import base64
import json
import os
import subprocess
import time

import pytest
from kubernetes import client, config, watch

BIN = os.environ.get("ASLAN_LOCAL_CLOUD_BIN", "")

JOB_YAML = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: 4
  template:
    metadata:
      annotations:
        aslan.io/duration-ms: "{ms}"
        aslan.io/log: "{log}"
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
"""


class Cluster:
    def __init__(self, tmp_path, *args):
        assert BIN, "ASLAN_LOCAL_CLOUD_BIN is not set (run check_clients.sh)"
        self.proc = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, stderr=open(tmp_path / "emulator.log", "w"), text=True)
        line = self.proc.stdout.readline()
        ready = json.loads(line)
        assert list(ready) == ["kubernetes", "eks"]
        assert ready["eks"]["endpoint"].startswith("http://127.0.0.1:")
        k = ready["kubernetes"]
        assert k["endpoint"].startswith("https://127.0.0.1:")
        assert base64.b64decode(k["certificateAuthority"]).startswith(b"-----BEGIN CERTIFICATE-----")
        self.kubeconfig = tmp_path / "kubeconfig"
        self.kubeconfig.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {k['endpoint']}
    certificate-authority-data: {k['certificateAuthority']}
users:
- name: local
  user:
    token: {k['token']}
contexts:
- name: local
  context: {{cluster: local, user: local, namespace: default}}
current-context: local
"""
        )
        self.env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        self.tmp = tmp_path

    def kubectl(self, *args, check=True, stdin=None):
        r = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True, input=stdin, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {r.stderr}")
        return r

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


@pytest.fixture
def process_cluster(tmp_path):
    c = Cluster(tmp_path, "--run-processes")
    yield c
    c.stop()


def header(out):
    return out.splitlines()[0].split()


def test_kubectl_like_a_real_cluster(cluster):
    job = cluster.tmp / "job.yaml"
    job.write_text(JOB_YAML.format(name="pi", ms=1500, log="3.14159 simulated"))
    watcher = subprocess.Popen(["kubectl", "get", "jobs", "-w", "--request-timeout=20s"], env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    assert cluster.kubectl("create", "-f", str(job)).stdout.strip() == "job.batch/pi created"
    r = cluster.kubectl("create", "-f", str(job), check=False)
    assert r.stderr.strip() == 'Error from server (AlreadyExists): error when creating "%s": jobs.batch "pi" already exists' % job

    out = cluster.kubectl("get", "jobs").stdout
    assert header(out) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert out.splitlines()[1].split()[:3] == ["pi", "Running", "0/1"]
    assert cluster.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=30s").stdout.strip() == "job.batch/pi condition met"
    watcher.terminate()
    watched = watcher.communicate(timeout=10)[0]
    assert header(watched) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert "Running" in watched and watched.splitlines()[-1].split()[:3] == ["pi", "Complete", "1/1"], watched

    out = cluster.kubectl("get", "pods").stdout
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    row = out.splitlines()[1].split()
    assert row[0].startswith("pi-") and row[1:4] == ["0/1", "Completed", "0"]

    j = json.loads(cluster.kubectl("get", "job", "pi", "-o", "json").stdout)
    assert [c["type"] for c in j["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert j["status"]["succeeded"] == 1
    assert j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == j["metadata"]["uid"]

    assert cluster.kubectl("logs", "job/pi").stdout == "3.14159 simulated\n"
    assert cluster.kubectl("logs", "job/pi", "--tail=1", "--limit-bytes=4").stdout == "3.14"

    r = cluster.kubectl("get", "job", "nope", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == 'Error from server (NotFound): jobs.batch "nope" not found'

    assert cluster.kubectl("create", "configmap", "cfg", "--from-literal=a=b").stdout.strip() == "configmap/cfg created"
    out = cluster.kubectl("get", "configmaps").stdout
    assert header(out) == ["NAME", "DATA", "AGE"]
    assert any(l.split()[:2] == ["cfg", "1"] for l in out.splitlines())
    assert header(cluster.kubectl("get", "namespaces").stdout) == ["NAME", "STATUS", "AGE"]
    assert cluster.kubectl("get", "cm", "cfg", "-o", "jsonpath={.data.a}").stdout == "b"
    assert cluster.kubectl("label", "cm", "cfg", "tier=x").stdout.strip() == "configmap/cfg labeled"
    assert cluster.kubectl("get", "cm", "-l", "tier=x", "-o", "name").stdout.strip() == "configmap/cfg"

    r = cluster.kubectl("delete", "job", "pi", "--cascade=foreground")
    assert r.stdout.strip() == 'job.batch "pi" deleted'
    assert cluster.kubectl("get", "pods", "-o", "name").stdout.strip() == ""
    assert cluster.kubectl("get", "jobs", "-o", "name").stdout.strip() == ""

    # apply creates, then (with the last-applied annotation) patches.
    job.write_text(JOB_YAML.format(name="applied", ms=10, log="x"))
    assert cluster.kubectl("apply", "-f", str(job)).stdout.strip() == "job.batch/applied created"
    assert cluster.kubectl("wait", "--for=condition=complete", "job/applied", "--timeout=30s").returncode == 0


def test_python_client(cluster):
    config.load_kube_config(str(cluster.kubeconfig))
    batch = client.BatchV1Api()
    core = client.CoreV1Api()
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "py"},
        "spec": {"template": {"metadata": {"annotations": {"aslan.io/duration-ms": "200", "aslan.io/log": "from python"}},
                              "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}},
    }
    created = batch.create_namespaced_job("default", body)
    types = []
    w = watch.Watch()
    for ev in w.stream(batch.list_namespaced_job, "default", field_selector="metadata.name=py", resource_version=created.metadata.resource_version, timeout_seconds=20):
        assert ev["type"] == "MODIFIED"
        types = [c.type for c in (ev["object"].status.conditions or [])]
        if "Complete" in types:
            w.stop()
    assert types == ["SuccessCriteriaMet", "Complete"]
    pods = core.list_namespaced_pod("default", label_selector="job-name=py").items
    assert len(pods) == 1 and pods[0].status.phase == "Succeeded"
    assert core.read_namespaced_pod_log(pods[0].metadata.name, "default") == "from python\n"
    with pytest.raises(client.ApiException) as e:
        batch.read_namespaced_job("nope", "default")
    assert e.value.status == 404
    assert json.loads(e.value.body)["message"] == 'jobs.batch "nope" not found'
    batch.delete_namespaced_job("py", "default", propagation_policy="Background")
    with pytest.raises(client.ApiException) as e:
        batch.read_namespaced_job("py", "default")
    assert e.value.status == 404


def test_run_processes_runs_the_aws_pi_sample(process_cluster):
    job = process_cluster.tmp / "pi.yaml"
    job.write_text(JOB_YAML.format(name="pi", ms=1, log="ignored"))
    process_cluster.kubectl("create", "-f", str(job))
    process_cluster.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=60s")
    out = process_cluster.kubectl("logs", "job/pi").stdout
    assert out.startswith("3.14159"), out[:100]
    assert len(out.strip()) > 2000
