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
    # Not yet: a JSONata catcher in TestState is refused, not run with JSONPath rules.
    try:
        sfn.test_state(definition=json.dumps({"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                                              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H", "Output": "{% $states.errorOutput %}"}]}), roleArn=ROLE)
        raise AssertionError("TestState accepted a JSONata catcher")
    except sfn.exceptions.ValidationException:
        pass


def test_a_jsonata_execution_survives_kill_9(tmp_path):
    s = Server(tmp_path / "data").start()
    sfn = client(s.endpoint)
    arn = machine(sfn, "napper", {"QueryLanguage": "JSONata", "StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": "{% $states.input.nap %}", "Output": {"nap": "{% $states.input.nap %}", "id": "{% $uuid() %}"},
                "Assign": {"who": "{% $states.input.who %}"}, "Next": "Done"},
        "Done": {"Type": "Pass", "Output": {"slept": "{% $states.input.nap %}", "id": "{% $states.input.id %}",
                                               "by": "{% $states.context.Execution.Name %}", "who": "{% $who %}"}, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, name="n1", input='{"nap": 1, "who": "ada"}')["executionArn"]
    s.kill()
    s.start()
    sfn = client(s.endpoint)
    d = wait_done(sfn, ex)
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["slept"] == 1 and out["by"] == "n1" and len(out["id"]) == 36 and out["who"] == "ada"
    events = sfn.get_execution_history(executionArn=ex)["events"]
    exited = [e for e in events if e["type"] == "WaitStateExited"][0]["stateExitedEventDetails"]
    assert exited["assignedVariables"] == {"who": '"ada"'}
    assert s.stop() == 0
