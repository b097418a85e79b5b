"""JSONata state machines through `aslan serve` with boto3: create, run,
history (EvaluationFailed), validation diagnostics, TestState, and an
execution that survives `kill -9` in the middle."""
import json

from conftest import ROLE, Server, client, machine, wait_done

ORDERS = {
    "QueryLanguage": "JSONata",
    "StartAt": "Price",
    "States": {
        "Price": {
            "Type": "Map",
            "Items": "{% $states.input.orders %}",
            "ItemSelector": {"id": "{% $states.context.Map.Item.Value.id %}", "n": "{% $states.context.Map.Item.Index %}",
                             "amount": "{% $states.context.Map.Item.Value.qty * $states.context.Map.Item.Value.price %}"},
            "ItemProcessor": {"StartAt": "Tag", "States": {"Tag": {"Type": "Pass", "End": True}}},
            "Output": {"orders": "{% $states.result %}", "total": "{% $sum($states.result.amount) %}"},
            "Next": "Big?",
        },
        "Big?": {"Type": "Choice", "Default": "Small",
                 "Choices": [{"Condition": "{% $states.input.total > 100 %}", "Next": "Big",
                              "Output": {"total": "{% $states.input.total %}", "size": "big"}}]},
        "Big": {"Type": "Succeed"},
        "Small": {"Type": "Succeed", "Output": {"total": "{% $states.input.total %}", "size": "small"}},
    },
}


def test_a_jsonata_machine_runs_through_the_api(sfn):
    arn = machine(sfn, "orders", ORDERS)
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"orders": [{"id": "a", "qty": 3, "price": 40}, {"id": "b", "qty": 1, "price": 5}]}))["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"total": 125, "size": "big"}
    types = [e["type"] for e in sfn.get_execution_history(executionArn=ex)["events"]]
    assert types.count("MapIterationSucceeded") == 2 and types[-1] == "ExecutionSucceeded"


def test_an_expression_error_is_recorded_and_fails_the_execution(sfn):
    arn = machine(sfn, "undefined", {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"r": "{% $states.input.missing %}"}, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    d = wait_done(sfn, ex)
    assert d["status"] == "FAILED" and d["error"] == "States.QueryEvaluationError"
    assert "'Output/r' returned nothing (undefined)" in d["cause"]
    events = sfn.get_execution_history(executionArn=ex)["events"]
    assert [e["type"] for e in events] == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"]
    details = events[2]["evaluationFailedEventDetails"]
    assert (details["state"], details["location"], details["error"]) == ("P", "Output/r", "States.QueryEvaluationError")


def test_validation_lists_jsonata_misuse(sfn):
    bad = sfn.validate_state_machine_definition(definition=json.dumps({"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
              "Parameters": {"a.$": "$.a"}, "Arguments": "{% $states.result %}", "Output": "{% $states.input. %}"}}}))
    assert bad["result"] == "FAIL"
    found = {(d["code"], d["location"]) for d in bad["diagnostics"]}
    assert ("SCHEMA_VALIDATION_FAILED", "/States/T/Parameters") in found
    assert ("SCHEMA_VALIDATION_FAILED", "/States/T/Arguments") in found
    assert ("INVALID_JSONATA", "/States/T/Output") in found


def test_test_state_runs_a_jsonata_state(sfn):
    r = sfn.test_state(definition=json.dumps({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.n + 1 %}", "Next": "After"}),
                       roleArn=ROLE, input='{"n": 41}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == 42 and r["nextState"] == "After"
    # A JSONata catcher runs: its Output and Assign read $states.errorOutput,
    # and the variables after the state come back in inspectionData.
    failing = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
               "Arguments": "{% $states.input.missing.x %}",
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle", "Output": {"caught": "{% $states.errorOutput.Error %}"},
                          "Assign": {"err": "{% $states.errorOutput.Error %}", "had": "{% $before %}"}}]}
    r = sfn.test_state(definition=json.dumps(failing), roleArn=ROLE, input='{"n": 1}', variables='{"before": [1, 2]}')
    assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "Handle" and r["error"] == "States.QueryEvaluationError", r
    assert json.loads(r["output"]) == {"caught": "States.QueryEvaluationError"}
    assert json.loads(r["inspectionData"]["variables"]) == {"before": [1, 2], "err": "States.QueryEvaluationError", "had": [1, 2]}
    # A retrier that matches makes it RETRIABLE, before any catcher.
    r = sfn.test_state(definition=json.dumps(dict(failing, Retry=[{"ErrorEquals": ["States.ALL"]}])), roleArn=ROLE)
    assert r["status"] == "RETRIABLE" and r["error"] == "States.QueryEvaluationError", r


def test_test_state_takes_and_reports_variables_in_jsonpath_states(sfn):
    r = sfn.test_state(definition=json.dumps({"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.n, $base)"},
                                              "Assign": {"got.$": "$.sum", "was.$": "$base"}, "Next": "After"}),
                       roleArn=ROLE, input='{"n": 2}', variables='{"base": 40}')
    assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"sum": 42}, r
    assert json.loads(r["inspectionData"]["variables"]) == {"base": 40, "got": 42, "was": 40}
    # A JSONPath catcher: ResultPath and Assign on the error output (an
    # activity that never answers times out on TestState's simulated clock).
    r = sfn.test_state(definition=json.dumps({"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:nobody",
                                              "TimeoutSeconds": 5, "End": True,
                                              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H", "ResultPath": "$.err",
                                                         "Assign": {"why.$": "$.Error"}}]}),
                       roleArn=ROLE, input='{"a": 1}')
    assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "H" and r["error"] == "States.Timeout", r
    assert json.loads(r["output"])["err"]["Error"] == "States.Timeout"
    assert json.loads(r["inspectionData"]["variables"]) == {"why": "States.Timeout"}
    for bad in ['{"1x": 1}', json.dumps({"big": "x" * 300_000})]:
        try:
            sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), roleArn=ROLE, variables=bad)
            raise AssertionError("TestState took bad variables")
        except sfn.exceptions.ValidationException:
            pass
    # A state whose Next is its own name runs once: the target is a stand-in.
    r = sfn.test_state(definition=json.dumps({"Type": "Pass", "Next": "TestState"}), roleArn=ROLE, input='{"a": 1}')
    assert r["status"] == "SUCCEEDED" and r["nextState"] == "TestState" and json.loads(r["output"]) == {"a": 1}, r


def test_jsonpath_variables_survive_kill_9(tmp_path):
    d, exited = run_across_kill_9(tmp_path, "jsonpath-vars", {"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "SecondsPath": "$.nap", "Assign": {"who.$": "$.who", "n.$": "$.nap"}, "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"who.$": "$who", "greeting.$": "States.Format('hi {} after {}', $who, $n)"}, "End": True}}},
        "v1", '{"nap": 1, "who": "ada"}')
    assert json.loads(d["output"]) == {"who": "ada", "greeting": "hi ada after 1"}
    assert exited["assignedVariables"] == {"who": '"ada"', "n": "1"}


def run_across_kill_9(tmp_path, name, definition, execution, input):
    """Starts an execution whose first state is a Wait, kills the server
    with SIGKILL, restarts it and waits for the end: the description (which
    must say SUCCEEDED) and the Wait's stateExitedEventDetails."""
    s = Server(tmp_path / "data").start()
    sfn = client(s.endpoint)
    arn = machine(sfn, name, definition)
    ex = sfn.start_execution(stateMachineArn=arn, name=execution, input=input)["executionArn"]
    s.kill()
    s.start()
    sfn = client(s.endpoint)
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    events = sfn.get_execution_history(executionArn=ex)["events"]
    exited = [e for e in events if e["type"] == "WaitStateExited"][0]["stateExitedEventDetails"]
    assert s.stop() == 0
    return d, exited


def test_a_jsonata_execution_survives_kill_9(tmp_path):
    d, exited = run_across_kill_9(tmp_path, "napper", {"QueryLanguage": "JSONata", "StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": "{% $states.input.nap %}", "Output": {"nap": "{% $states.input.nap %}", "id": "{% $uuid() %}"},
                "Assign": {"who": "{% $states.input.who %}"}, "Next": "Done"},
        "Done": {"Type": "Pass", "Output": {"slept": "{% $states.input.nap %}", "id": "{% $states.input.id %}",
                                               "by": "{% $states.context.Execution.Name %}", "who": "{% $who %}"}, "End": True}}},
        "n1", '{"nap": 1, "who": "ada"}')
    out = json.loads(d["output"])
    assert out["slept"] == 1 and out["by"] == "n1" and len(out["id"]) == 36 and out["who"] == "ada"
    assert exited["assignedVariables"] == {"who": '"ada"'}
