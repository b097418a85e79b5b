"""Every answer a client gets is on stable storage first: the server calls
fdatasync on sled's log file for each group commit, before it answers.
Checked by tracing the server's system calls with strace."""
import json
import shutil
import signal
import subprocess
import time

from conftest import Server, client, machine


def traced_server(tmp_path, extra=()):
    """A server with strace attached to it (and all its threads)."""
    strace = shutil.which("strace")
    assert strace, "strace is needed (scripts/test.sh installs it with apt)"
    server = Server(tmp_path / "data", extra=list(extra)).start()
    log = tmp_path / "strace.log"
    tracer = subprocess.Popen([strace, "-f", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range",
                               "-o", str(log), "-p", str(server.proc.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sfn = client(server.endpoint)
    deadline = time.time() + 20
    while not log.exists() or tracer.poll() is not None:
        assert time.time() < deadline and tracer.poll() is None, "strace did not attach"
        time.sleep(0.05)
    time.sleep(0.3)  # let strace attach to every thread
    return server, tracer, sfn, log


def stop(server, tracer):
    tracer.send_signal(signal.SIGINT)  # detaches
    tracer.wait(timeout=20)
    assert server.stop() == 0


def count(log, call):
    return sum(1 for line in log.read_text().splitlines() if f"{call}(" in line and "resumed" not in line)


def test_each_sequential_start_is_fdatasynced_before_its_answer(tmp_path):
    server, tracer, sfn, log = traced_server(tmp_path)
    try:
        sm = machine(sfn, "w", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
        before = count(log, "fdatasync")
        for i in range(20):
            sfn.start_execution(stateMachineArn=sm, name=f"e{i}", input=json.dumps({"i": i}))
        after = count(log, "fdatasync")
        # One group commit per sequential request, each with its fdatasync.
        assert after - before >= 20, (before, after)
    finally:
        stop(server, tracer)


def test_no_fsync_means_no_fdatasync_per_request(tmp_path):
    server, tracer, sfn, log = traced_server(tmp_path, ["--no-fsync"])
    try:
        sm = machine(sfn, "w", {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}})
        before = count(log, "fdatasync")
        for i in range(20):
            sfn.start_execution(stateMachineArn=sm, name=f"e{i}", input="{}")
        assert count(log, "fdatasync") - before < 5
    finally:
        stop(server, tracer)
