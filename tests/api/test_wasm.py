"""WebAssembly guests through `aslan serve`: modules registered with
`aslan modules add` (kept in the store across restarts, removable), and a
poller attached by the configuration that survives a `kill -9` of the
server without creating its Job twice. The guests are built by
scripts/guests.sh into target/guests/."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, Server, client, machine, wait_done
from test_kubernetes import Cloud, cluster_input, history_types, run_job_machine, until

GUESTS = Path(os.environ.get("GUESTS_OUT", Path(__file__).resolve().parents[2] / "target" / "guests"))
ENV = {"ASLAN_CACHE_DIR": str(GUESTS / "cache")}


def guest(name):
    p = GUESTS / f"{name}.wasm"
    assert p.exists(), f"{p} is missing: build the guests with scripts/guests.sh"
    return p


def aslan(server, *args):
    return subprocess.run([BIN, *args, "--endpoint", server.endpoint], capture_output=True, text=True, timeout=120)


@pytest.fixture
def cloud():
    c = Cloud()
    yield c
    c.stop()


def test_modules_are_added_listed_kept_across_restarts_and_removed(tmp_path):
    server = Server(tmp_path / "data", env=ENV).start()
    r = aslan(server, "modules", "add", "echo", str(guest("echo")))
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert added["world"] == "task" and added["size"] == guest("echo").stat().st_size
    # A file that is not a component is refused with the reason.
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"\0asm\x01\0\0\0")
    r = aslan(server, "modules", "add", "bogus", str(bogus))
    assert r.returncode != 0 and "component" in r.stderr, r.stderr
    sfn = client(server.endpoint)
    arn = machine(sfn, "echo", {"StartAt": "E", "States": {"E": {
        "Type": "Task", "Resource": "arn:aslan:states:::wasm:echo", "Parameters": {"said.$": "$.say"}, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input='{"say": "hi"}')["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"said": "hi"}, d
    # The store keeps it: after a restart the module is there without adding it again.
    server.stop()
    server.start()
    r = aslan(server, "modules", "list", "--json")
    assert [m["name"] for m in json.loads(r.stdout)["modules"]] == ["echo"], r.stdout
    ex = sfn.start_execution(stateMachineArn=arn, input='{"say": "again"}')["executionArn"]
    assert json.loads(wait_done(sfn, ex)["output"]) == {"said": "again"}
    assert aslan(server, "modules", "remove", "echo").returncode == 0
    r = aslan(server, "modules", "remove", "echo")
    assert r.returncode != 0 and "ResourceNotFound" in r.stderr, r.stderr
    ex = sfn.start_execution(stateMachineArn=arn, input='{"say": "gone"}')["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "FAILED" and d["error"] == "Wasm.ModuleNotFound", d
    server.stop()
    server.start()
    assert json.loads(aslan(server, "modules", "list", "--json").stdout)["modules"] == []
    assert server.stop() == 0


def test_a_poller_survives_kill_9_without_creating_its_job_twice(tmp_path, cloud):
    cfg = tmp_path / "aslan.toml"
    cfg.write_text(f"""
[clusters.MyCluster]
token = "{cloud.token}"
[modules.job-poller]
path = "{guest('rust-poller')}"
[modules.job-poller.allow]
clusters = ["MyCluster"]
endpoints = ["{cloud.endpoint}"]
namespaces = ["default"]
[[pollers]]
state_machine = "polled"
state = "Run"
module = "job-poller"
""")
    server = Server(tmp_path / "data", env=ENV, extra=["--config", str(cfg)]).start()
    sfn = client(server.endpoint)
    arn = machine(sfn, "polled", run_job_machine(3_000))
    ex = sfn.start_execution(stateMachineArn=arn, input=cluster_input(cloud))["executionArn"]
    until(lambda: "TaskStarted" in history_types(sfn, ex))
    status, body = cloud.get("/apis/batch/v1/namespaces/default/jobs")
    [job] = body["items"]
    # Let the poller decide "again" at least once, then kill the server.
    time.sleep(0.8)
    server.kill()
    server.start()
    sfn = client(server.endpoint)
    d = wait_done(sfn, ex, timeout=60)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    # The poller's answer is the Job as it read it, and it is the same Job.
    assert out["metadata"]["uid"] == job["metadata"]["uid"]
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in out["status"]["conditions"])
    status, body = cloud.get("/apis/batch/v1/namespaces/default/jobs")
    assert len(body["items"]) == 1, body["items"]
    log = server.log.read_text()
    assert "poll(s) resumed" in log
    assert server.stop() == 0
