"""Fixtures: a running `aslan serve` on a free loopback port, and boto3 clients."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
BIN = os.environ.get("ASLAN_BIN", str(ROOT / "target" / "release" / "aslan"))
ROLE = "arn:aws:iam::123456789012:role/StepFunctionsRole"
MOCKS = Path(__file__).with_name("mock-config.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An `aslan serve` process; restartable on the same data folder."""

    def __init__(self, data, port=None, env=None, extra=()):
        self.data = data
        self.port = port or free_port()
        self.env = dict(os.environ, **(env or {}))
        self.extra = list(extra)
        self.proc = None
        self.log = Path(data).with_suffix(".log")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        args = [BIN, "serve", "--data", str(self.data), "--listen", f"127.0.0.1:{self.port}", "--mock-config", str(MOCKS)] + self.extra
        self.proc = subprocess.Popen(args, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"aslan serve exited: {self.log.read_text()}")
                time.sleep(0.02)
        raise RuntimeError("aslan serve did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=20)
        return self.proc.returncode if self.proc else None


def client(endpoint, key="test", secret="test"):
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        # TestState and StartSyncExecution add a "sync-" host prefix meant for
        # AWS's endpoints; a local endpoint has none.
        config=Config(inject_host_prefix=False),
    )


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    assert s.stop() == 0, s.log.read_text()


@pytest.fixture
def sfn(server):
    return client(server.endpoint)


def machine(sfn, name, definition, sm_type="STANDARD"):
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE, type=sm_type)["stateMachineArn"]


def wait_done(sfn, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.02)
    raise AssertionError(f"{arn} still running")


@pytest.fixture(scope="module")
def moto():
    """moto's server (S3, EKS, ...) on a free loopback port, for a module."""
    port = free_port()
    exe = VENV_BIN / "moto_server"
    assert exe.exists(), f"{exe} is missing: scripts/test.sh installs moto[server] into .venv"
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            assert time.time() < deadline, "moto_server did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()
