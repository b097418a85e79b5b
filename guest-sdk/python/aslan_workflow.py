"""Aslan code workflows in Python (world `aslan:host/workflow`), for
componentize-py.

A code workflow is a whole durable workflow written as code. The host runs
it from the start at every activation and answers the calls it already made
from the execution's journal, so it must be deterministic: take time,
randomness and identifiers from this module (`now_ms`, `random_u64`,
`uuid`), and make the same calls, with the same arguments, for the same
results. A workflow that diverges fails with `Wasm.NonDeterminism`.

    import aslan_workflow as wf

    def run(input):
        job = wf.create_job(wf.Cluster(**input["cluster"]), "default", input["job"])
        name = job["metadata"]["name"]
        wait = 1000
        while True:
            job = wf.read_job(wf.Cluster(**input["cluster"]), "default", name)
            if wf.job_complete(job):
                return {"job": name}
            wf.sleep_ms(wait)          # durable: survives a restart
            wait = min(wait * 2, 30000)

    Entry = wf.entry(run)

Build it with this directory on the Python path:

    componentize-py -d wit -w workflow componentize app \\
        -p . -p guest-sdk/python --stub-wasi -o app.wasm

A failure is a `WorkflowError(error, cause)`: raise one to fail the
workflow (Retry and Catch match `error`); the host's calls raise one for
theirs (`EKS.404`, `States.TaskFailed`).
"""

import json
from typing import Any, Callable, List, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import durable, kubernetes, log as _log
from wit_world.imports.types import TaskError

__all__ = [
    "WorkflowError", "entry", "now_ms", "random_u64", "uuid", "sleep_ms",
    "Execution", "start_execution", "call", "wait_any", "Callback",
    "create_callback", "Cluster", "create_job", "read_job", "job_complete",
    "job_failed_reason", "info", "warn", "error",
]


class WorkflowError(Exception):
    """An error in Step Functions' shape: `error` is the name Retry and
    Catch match, `cause` says what happened."""

    def __init__(self, error: str, cause: str = "", index: int = -1):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause, self.index = error, cause, index


def _host(f: Callable, *args: Any) -> Any:
    try:
        return f(*args)
    except Err as e:
        raise WorkflowError(e.value.error, e.value.cause) from None


def entry(run: Callable[[Any], Any]) -> type:
    """The class componentize-py exports as `entry`: assign it to `Entry`
    in the app module. `run` takes the input (parsed JSON) and returns the
    output (made JSON), or raises `WorkflowError`."""

    class Entry(exports.Entry):
        def run(self, input: str) -> str:
            try:
                return json.dumps(run(json.loads(input)))
            except WorkflowError as e:
                raise Err(TaskError(error=e.error, cause=e.cause))
            except Exception as e:  # a bug in the workflow: fail it, with the reason
                raise Err(TaskError(error="States.Runtime", cause=f"{type(e).__name__}: {e}"))

    return Entry


def now_ms() -> int:
    """Milliseconds since the Unix epoch, recorded."""
    return durable.now_ms()


def random_u64() -> int:
    """64 random bits, recorded."""
    return durable.random_u64()


def uuid() -> str:
    """A random UUID, recorded."""
    return durable.uuid()


def sleep_ms(ms: int) -> None:
    """Sleeps durably: the workflow is unloaded and replayed when the time is up."""
    durable.sleep_ms(ms)


class Execution:
    """An execution of a state machine that this workflow started."""

    def __init__(self, arn: str):
        self.arn = arn

    def wait(self) -> Any:
        """Its output once it ends; raises `WorkflowError` if it failed."""
        return json.loads(_host(durable.await_execution, self.arn))


def start_execution(state_machine: str, input: Any) -> Execution:
    """Starts an execution (the machine's name or ARN) without waiting; it is
    started once however often the workflow is replayed."""
    return Execution(_host(durable.start_execution, state_machine, json.dumps(input)))


def call(state_machine: str, input: Any) -> Any:
    """Starts an execution and waits for its output."""
    return start_execution(state_machine, input).wait()


def wait_any(executions: List[Execution]) -> Tuple[int, Any]:
    """Waits for the first of `executions` to end: (its index, its output).
    A failure raises `WorkflowError` with `index` set."""
    i, r = durable.await_any([e.arn for e in executions])
    if isinstance(r, Err):
        raise WorkflowError(r.value.error, r.value.cause, index=i)
    return i, json.loads(r.value)


class Callback:
    """A task token that SendTaskSuccess or SendTaskFailure answers."""

    def __init__(self, token: str):
        self.token = token

    def wait(self) -> Any:
        """SendTaskSuccess's output; SendTaskFailure raises `WorkflowError`."""
        return json.loads(_host(durable.await_callback, self.token))


def create_callback() -> Callback:
    """A new callback token (recorded): hand it out, then `wait()`."""
    return Callback(durable.create_callback())


class Cluster(kubernetes.Cluster):
    """A cluster: its `ClusterName`, API `Endpoint` and base64 CA."""

    def __init__(self, name: str, endpoint: str, ca: str):
        super().__init__(name=name, endpoint=endpoint, certificate_authority=ca)


def create_job(cluster: kubernetes.Cluster, namespace: str, job: Any) -> Any:
    """Creates a Job (journaled: created once); returns it as the server did."""
    return json.loads(_host(kubernetes.create_job, cluster, namespace, json.dumps(job)))


def read_job(cluster: kubernetes.Cluster, namespace: str, name: str) -> Any:
    """Reads a Job, status included."""
    return json.loads(_host(kubernetes.read_job, cluster, namespace, name))


def _condition(job: Any, kind: str) -> Any:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def job_complete(job: Any) -> bool:
    """Whether the Job has the condition Complete."""
    return _condition(job, "Complete") is not None


def job_failed_reason(job: Any) -> Any:
    """The reason of the Job's Failed condition, or None."""
    c = _condition(job, "Failed")
    return None if c is None else (c.get("reason") or "Failed")


def info(message: str) -> None:
    """A line in the engine's log (not written again on replay)."""
    _log.log(_log.Level.INFO, message)


def warn(message: str) -> None:
    """A warning in the engine's log."""
    _log.log(_log.Level.WARN, message)


def error(message: str) -> None:
    """An error line in the engine's log."""
    _log.log(_log.Level.ERROR, message)
