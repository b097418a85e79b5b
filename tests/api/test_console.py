"""The web console in a real headless browser: Debian's Chromium driven by
Playwright (`executable_path`; Playwright downloads no browser here).

The console reads the same API boto3 does, so each test sets up through
boto3 and checks what a person would see: the pages, the graph's states
(SVG groups named by `data-state`, coloured by `data-status`), the actions.
"""
import json
import os
import re
import shutil
import statistics
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from conftest import ROOT, Server, client, machine, wait_done

SHOTS = ROOT / "target" / "console"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
# Succeeds, or fails on {"fail": true}.
MAYBE = {"StartAt": "Check", "States": {
    "Check": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "No"}], "Default": "Yes"},
    "Yes": {"Type": "Succeed"},
    "No": {"Type": "Fail", "Error": "Said.No", "Cause": "asked to fail"}}}
# Every status a state can show: a Choice branch not taken, a Task retried
# twice (mock "TwoFailuresThenOk"), a Fail caught by its Parallel, a Map.
MIXED = {"StartAt": "Route", "States": {
    "Route": {"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": "Fan"}], "Default": "Skipped"},
    "Skipped": {"Type": "Pass", "End": True},
    "Fan": {"Type": "Parallel", "ResultPath": "$.fan", "Next": "Each", "Branches": [
        {"StartAt": "Charge", "States": {"Charge": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "charge", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1}],
            "End": True}}},
        {"StartAt": "Guarded", "States": {
            "Guarded": {"Type": "Parallel", "End": True,
                        "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Custom.Boom", "Cause": "inner"}}}],
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recovered"}]},
            "Recovered": {"Type": "Pass", "End": True}}}]},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.doubled", "End": True,
             "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double",
                               "States": {"Double": {"Type": "Pass", "End": True}}}}}}


@pytest.fixture(scope="module")
def browser():
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(exe).exists(), f"{exe} is missing: scripts/test.sh installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (no cookies); no script may throw."""
    contexts, errors = [], []

    def make():
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(20_000)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == [], errors


@pytest.fixture
def page(new_page):
    return new_page()


def open_page(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    return page


def state(page, name):
    return page.locator(f"svg.graph g.state[data-state='{name}']")


def statuses(page):
    return {g.get_attribute("data-state"): g.get_attribute("data-status") for g in page.query_selector_all("svg.graph g.state")}


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_home_lists_machines_and_executions_with_filters_and_pages(server, sfn, page):
    alpha = machine(sfn, "alpha", MAYBE)
    machine(sfn, "beta", PASS)
    for i in range(20):
        machine(sfn, f"other-{i:02}", PASS)
    runs = [sfn.start_execution(stateMachineArn=alpha, name=f"run-{i:02}", input=json.dumps({"fail": i == 3}))["executionArn"] for i in range(12)]
    for arn in runs:
        wait_done(sfn, arn)

    open_page(page, server.endpoint + "/")
    section = page.locator("section.machine[data-name='alpha']")
    # One page of executions, newest first, then "More" for the rest.
    expect(section.locator("tr.execution")).to_have_count(10)
    section.locator("button.more").click()
    expect(section.locator("tr.execution")).to_have_count(12)
    expect(section.locator("tr.execution[data-status='FAILED']")).to_have_count(1)
    expect(section.locator("tr.execution[data-status='SUCCEEDED']")).to_have_count(11)
    link = section.locator(f"tr.execution[data-arn='{runs[3]}'] a")
    assert link.get_attribute("href") == f"/executions/{runs[3]}"
    expect(page.locator("section.machine[data-name='beta'] .empty")).to_be_visible()
    shot(page, "home.png")

    # Machines come 20 to a page, as ListStateMachines pages them.
    first = set(page.locator("section.machine").evaluate_all("s => s.map(e => e.dataset.name)"))
    page.locator("a.next-page").click()
    page.wait_for_selector("body[data-ready='true']")
    second = set(page.locator("section.machine").evaluate_all("s => s.map(e => e.dataset.name)"))
    assert len(first) == 20 and len(second) == 2 and not first & second
    assert first | second == {"alpha", "beta"} | {f"other-{i:02}" for i in range(20)}

    # The status filter is ListExecutions' statusFilter.
    open_page(page, server.endpoint + "/")
    page.select_option("#status-filter", "FAILED")
    page.wait_for_url(re.compile(r"status=FAILED"))
    page.wait_for_selector("body[data-ready='true']")
    rows = page.locator("section.machine[data-name='alpha'] tr.execution")
    expect(rows).to_have_count(1)
    assert rows.get_attribute("data-arn") == runs[3]
    expect(page.locator("section.machine[data-name='beta'] .empty")).to_have_text("No FAILED executions.")

    rows.locator("a").click()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("#execution-name")).to_have_text("run-03")


def test_graph_shows_every_state_nested_ones_too_with_their_statuses(server, sfn, page):
    arn = machine(sfn, "console", MIXED)
    ex = sfn.start_execution(stateMachineArn=arn + "#Mixed", name="mixed", input=json.dumps({"go": True, "items": [1, 2, 3]}))["executionArn"]
    assert wait_done(sfn, ex)["status"] == "SUCCEEDED"
    open_page(page, f"{server.endpoint}/executions/{ex}")
    assert statuses(page) == {
        "Route": "succeeded", "Skipped": "not-run", "Fan": "succeeded",
        "Charge": "retried", "Guarded": "caught", "Boom": "failed", "Recovered": "succeeded",
        "Each": "succeeded", "Double": "succeeded",
    }
    # Drawn as SVG whose text is the state's name.
    for name in ["Route", "Charge", "Boom", "Double"]:
        expect(state(page, name).locator("text")).to_have_text(name)
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "SUCCEEDED")

    # Branches side by side inside their Parallel state, top to bottom.
    box = {n: state(page, n).locator("rect").first.bounding_box() for n in ["Route", "Fan", "Charge", "Guarded", "Each"]}
    assert box["Route"]["y"] < box["Fan"]["y"] < box["Each"]["y"]
    assert box["Charge"]["y"] > box["Fan"]["y"] and box["Charge"]["x"] < box["Guarded"]["x"]
    for n in ["Charge", "Guarded"]:
        assert box["Fan"]["x"] < box[n]["x"] and box[n]["x"] + box[n]["width"] < box["Fan"]["x"] + box["Fan"]["width"]

    # A selected Task: its retries, parameters and result.
    state(page, "Charge").click()
    details = page.locator("#state-details")
    expect(details).to_contain_text("retried 2×")
    expect(details).to_contain_text('"FunctionName": "charge"')
    expect(details).to_contain_text('"chargeId": "ch_1"')
    expect(details).to_contain_text("Payments.Unavailable")
    expect(details.locator("table.events")).to_contain_text("TaskScheduled")
    shot(page, "execution.png")

    # A Map: its iterations and their statuses.
    state(page, "Each").locator("text").click()
    iterations = page.locator("#map-iterations .iteration")
    expect(iterations).to_have_count(3)
    expect(page.locator("#map-iterations .iteration[data-status='succeeded']")).to_have_count(3)


def test_failed_execution_shows_the_failing_state_its_error_and_cause(server, sfn, page):
    arn = machine(sfn, "breaks", {"StartAt": "Prepare", "States": {
        "Prepare": {"Type": "Pass", "Next": "Explode"},
        "Explode": {"Type": "Fail", "Error": "Reactor.Meltdown", "Cause": "core at 5000 K"}}})
    ex = sfn.start_execution(stateMachineArn=arn, name="boom")["executionArn"]
    assert wait_done(sfn, ex)["status"] == "FAILED"
    open_page(page, f"{server.endpoint}/executions/{ex}")
    assert statuses(page) == {"Prepare": "succeeded", "Explode": "failed"}
    banner = page.locator("#execution-error")
    expect(banner).to_be_visible()
    expect(banner.locator(".error-name")).to_have_text("Reactor.Meltdown")
    expect(banner.locator(".cause")).to_have_text("core at 5000 K")
    # The failing state is selected, with its error and cause.
    expect(state(page, "Explode")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.locator("#state-details .error-name")).to_have_text("Reactor.Meltdown")
    expect(page.locator("#state-details .cause")).to_have_text("core at 5000 K")


def test_running_execution_turns_green_without_a_reload(server, sfn, page):
    arn = machine(sfn, "slow", {"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": 2, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, name="slowly")["executionArn"]
    open_page(page, f"{server.endpoint}/executions/{ex}")
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "RUNNING")
    expect(state(page, "Hold")).to_have_attribute("data-status", "running")
    expect(state(page, "Done")).to_have_attribute("data-status", "not-run")
    page.evaluate("window.sameDocument = true")
    expect(state(page, "Done")).to_have_attribute("data-status", "succeeded", timeout=20_000)
    expect(state(page, "Hold")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "SUCCEEDED")
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"
    assert sfn.describe_execution(executionArn=ex)["status"] == "SUCCEEDED"


def test_stop_and_redrive_from_the_page(server, sfn, page):
    arn = machine(sfn, "long", {"StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn, name="stop-me")["executionArn"]
    open_page(page, f"{server.endpoint}/executions/{ex}")
    expect(state(page, "Sleep")).to_have_attribute("data-status", "running")
    page.once("dialog", lambda d: d.accept())
    page.locator("#stop").click()
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "ABORTED")
    expect(state(page, "Sleep")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#stop")).to_have_count(0)
    assert sfn.describe_execution(executionArn=ex)["status"] == "ABORTED"

    # The mock fails "Work" once: the first run fails, the redrive succeeds.
    arn = machine(sfn, "redrive", {"StartAt": "Prep", "States": {
        "Prep": {"Type": "Pass", "Result": {"step": 1}, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}})
    ex = sfn.start_execution(stateMachineArn=arn + "#FailOnce", name="again")["executionArn"]
    assert wait_done(sfn, ex)["status"] == "FAILED"
    open_page(page, f"{server.endpoint}/executions/{ex}")
    expect(state(page, "Work")).to_have_attribute("data-status", "failed")
    page.locator("#redrive").click()
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "SUCCEEDED", timeout=20_000)
    expect(state(page, "Work")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#execution-error")).to_be_hidden()
    d = sfn.describe_execution(executionArn=ex)
    assert (d["status"], d["redriveCount"]) == ("SUCCEEDED", 1)


def test_start_an_execution_with_the_input_editor(server, sfn, page):
    arn = machine(sfn, "alpha", MAYBE)
    open_page(page, server.endpoint + "/")
    page.locator("section.machine[data-name='alpha'] button.start-execution").click()
    page.fill("#start-input", '{"fail": tru')
    expect(page.locator("#start-submit")).to_be_disabled()
    expect(page.locator("#start-error")).to_contain_text("not JSON")
    page.fill("#start-input", '{"fail": true}')
    page.fill("#start-name", "from-the-console")
    page.locator("#start-submit").click()
    page.wait_for_url(re.compile(r"/executions/.*:from-the-console$"))
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("#execution-status")).to_have_attribute("data-status", "FAILED", timeout=20_000)
    x = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in x] == ["from-the-console"]
    assert json.loads(sfn.describe_execution(executionArn=x[0]["executionArn"])["input"]) == {"fail": True}


def test_unauthenticated_browsers_see_nothing_when_credentials_are_set(tmp_path, new_page):
    s = Server(tmp_path / "signed", env={"ASLAN_ACCESS_KEY_ID": "AKIDCONSOLE", "ASLAN_SECRET_ACCESS_KEY": "s3cret-key"}).start()
    try:
        sfn = client(s.endpoint, "AKIDCONSOLE", "s3cret-key")
        arn = machine(sfn, "classified-machine", PASS)
        ex = sfn.start_execution(stateMachineArn=arn, name="classified-run")["executionArn"]
        wait_done(sfn, ex)
        log = s.log.read_text()
        token = re.search(r"console token ([0-9a-f]{64})\b", log).group(1)

        page = new_page()
        for url in ["/", f"/executions/{ex}"]:
            r = page.goto(s.endpoint + url)
            assert r.status == 401
            expect(page.locator("#login-form")).to_be_visible()
            assert "classified" not in page.content()
        # The API refuses the browser too, and says nothing.
        answer = page.evaluate("""async () => {
            const r = await fetch('/', {method: 'POST', body: '{}', headers: {
                'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AWSStepFunctions.ListStateMachines'}});
            return [r.status, await r.text()];
        }""")
        assert answer[0] == 403 and "MissingAuthenticationToken" in answer[1] and "classified" not in answer[1]
        # A forged cookie opens nothing.
        page.context.add_cookies([{"name": "aslan_console", "value": "0" * 64, "url": s.endpoint}])
        assert page.goto(s.endpoint + "/").status == 401

        # A wrong token is refused; the printed one logs in.
        page.fill("#token", "not-the-token")
        page.locator("#login-form button[type=submit]").click()
        expect(page.locator("#login-error")).to_contain_text("wrong access key pair or console token")
        page.fill("#token", token)
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_selector("body[data-ready='true']")
        expect(page.locator("section.machine[data-name='classified-machine'] tr.execution")).to_have_count(1)
        cookie = next(c for c in page.context.cookies() if c["name"] == "aslan_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        # The cookie holds a session id, neither the token nor the secret.
        assert cookie["value"] not in (token, "s3cret-key") and len(cookie["value"]) == 64
        expect(page.locator("#logout")).to_be_visible()
        # A proxy's own Authorization header does not hide the session.
        answer = page.evaluate("""async () => {
            const r = await fetch('/', {method: 'POST', body: '{}', headers: {'Authorization': 'Basic cHJveHk6cHJveHk=',
                'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AWSStepFunctions.ListStateMachines'}});
            return [r.status, await r.text()];
        }""")
        assert answer[0] == 200 and "classified-machine" in answer[1]

        # The access key pair logs in as well; logging out ends the session.
        other = new_page()
        other.goto(s.endpoint + f"/executions/{ex}")
        other.fill("#access-key-id", "AKIDCONSOLE")
        other.fill("#secret-access-key", "s3cret-key")
        other.locator("#login-form button[type=submit]").click()
        other.wait_for_selector("body[data-ready='true']")
        expect(other.locator("#execution-name")).to_have_text("classified-run")
        copied = next(c for c in other.context.cookies() if c["name"] == "aslan_console")
        other.locator("#logout").click()
        other.wait_for_selector("#login-form")
        assert "classified" not in other.content()
        # Logging out ends the session itself, not only the browser's copy.
        replay = new_page()
        replay.context.add_cookies([{"name": "aslan_console", "value": copied["value"], "url": s.endpoint}])
        assert replay.goto(s.endpoint + "/").status == 401
        # The first browser's session lives on.
        assert page.goto(s.endpoint + "/").status == 200
        assert "s3cret-key" not in s.log.read_text()
    finally:
        assert s.stop() == 0


def test_a_1000_iteration_map_with_6000_events_opens_quickly(server, sfn, new_page):
    """Measured, not asserted: the figures go to target/console/load.json
    and BENCHMARKS.md."""
    arn = machine(sfn, "big", {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "One", "States": {
            "One": {"Type": "Pass", "Next": "Two"}, "Two": {"Type": "Pass", "End": True}}}}}})
    ex = sfn.start_execution(stateMachineArn=arn, name="big", input=json.dumps({"items": list(range(1000))}))["executionArn"]
    assert wait_done(sfn, ex, timeout=120)["status"] == "SUCCEEDED"
    events = sum(len(p["events"]) for p in sfn.get_paginator("get_execution_history").paginate(executionArn=ex))
    assert events > 5000
    url = f"{server.endpoint}/executions/{ex}"
    ready_ms, wall_ms = [], []
    for _ in range(5):
        page = new_page()
        t0 = time.perf_counter()
        open_page(page, url)
        wall_ms.append((time.perf_counter() - t0) * 1000)
        ready_ms.append(int(page.evaluate("document.body.dataset.loadMs")))
        assert statuses(page) == {"Fan": "succeeded", "One": "succeeded", "Two": "succeeded"}
        state(page, "Fan").locator("text").click()
        expect(page.locator("#map-iterations .iteration[data-status='succeeded']")).to_have_count(1000)
        expect(page.locator(".exec-head .meta")).to_contain_text(f"{events} events")
        page.context.close()
    result = {"events": events, "iterations": 1000, "runs": len(ready_ms),
              "ready_ms_median": statistics.median(ready_ms), "ready_ms": ready_ms,
              "wall_ms_median": round(statistics.median(wall_ms)), "wall_ms": [round(w) for w in wall_ms]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nconsole: 1,000-iteration Map, {events} events: ready after {result['ready_ms_median']} ms (median of 5; wall {result['wall_ms_median']} ms)")


def test_an_operator_console_token_must_be_long_and_is_never_printed(tmp_path, new_page):
    creds = {"ASLAN_ACCESS_KEY_ID": "AKIDCONSOLE", "ASLAN_SECRET_ACCESS_KEY": "s3cret-key"}
    with pytest.raises(RuntimeError, match="the console token must be at least 32 characters"):
        Server(tmp_path / "weak", env={**creds, "ASLAN_CONSOLE_TOKEN": "admin"}).start()
    chosen = "operator-chosen-token-0123456789abcdef"
    s = Server(tmp_path / "chosen", env={**creds, "ASLAN_CONSOLE_TOKEN": chosen}).start()
    try:
        page = new_page()
        page.goto(s.endpoint + "/")
        page.fill("#token", chosen)
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_selector("body[data-ready='true']")
        expect(page.locator("h1")).to_have_text("State machines")
        log = s.log.read_text()
        assert "given with --console-token" in log and chosen not in log
    finally:
        assert s.stop() == 0
