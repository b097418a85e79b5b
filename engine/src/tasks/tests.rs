use super::*;
use crate::asl::Machine;
use serde_json::json;

struct Panics {
    at_call: bool,
}

impl Integration for Panics {
    fn patterns(&self, _: &Resource) -> Option<&'static [Pattern]> {
        Some(&[Pattern::RequestResponse])
    }
    fn start(&self, task: Task) -> TaskFuture {
        if self.at_call {
            panic!("boom at call");
        }
        Box::pin(async move {
            if task.invocation.parameters == json!("ok") {
                return Outcome::Succeeded(json!(1));
            }
            panic!("boom while running")
        })
    }
}

fn inv(parameters: Value) -> TaskInvocation {
    TaskInvocation {
        token: 7,
        resource: "arn:aws:states:::x".into(),
        parameters,
        state_name: "T".into(),
        task_token: "t".into(),
        timeout_seconds: None,
        heartbeat_seconds: None,
        attempt: 0,
        invocation: 0,
        credentials: None,
    }
}

fn task(parameters: Value) -> Task {
    let invocation = inv(parameters);
    let arn = "arn:aws:states:eu-west-1:111122223333:execution:My_Machine.v2:run-1";
    Task {
        resource: Resource::parse(&invocation.resource),
        ctx: TaskContext::new(
            arn,
            "arn:aws:states:eu-west-1:111122223333:stateMachine:My_Machine.v2",
            "role",
            &invocation,
        ),
        invocation,
    }
}

#[tokio::test]
async fn panics_fail_the_task_not_the_host() {
    let ok = catch_panics(|| Panics { at_call: false }.start(task(json!("ok")))).await;
    assert_eq!(ok, Outcome::Succeeded(json!(1)));
    for h in [Panics { at_call: true }, Panics { at_call: false }] {
        match catch_panics(|| h.start(task(json!("panic")))).await {
            Outcome::Failed(e) => assert_eq!(e.error, "States.TaskFailed"),
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn context_comes_from_the_execution_arn() {
    let t = task(json!({}));
    assert_eq!(t.ctx.region, "eu-west-1");
    assert_eq!(t.ctx.account, "111122223333");
    assert_eq!(t.ctx.state_machine_name, "My_Machine.v2");
    assert_eq!(t.ctx.execution_name, "run-1");
    assert_eq!(t.ctx.state_name, "T");
}

#[test]
fn idempotency_keys_are_kubernetes_names_and_stable() {
    let long = "A".repeat(300) + "_--x";
    for (sm, arn, token) in [
        ("My_Machine.v2", "arn:x", 7u64),
        (long.as_str(), "arn:y", u64::MAX),
        ("---", "arn:z", 0),
        ("ünïcödé", "arn:z", 1),
    ] {
        let k = idempotency_key(sm, arn, token);
        assert!(k.len() <= 63, "{k}");
        assert!(
            k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{k}"
        );
        assert!(
            k.as_bytes()[0].is_ascii_alphanumeric() && k.as_bytes()[k.len() - 1].is_ascii_alphanumeric(),
            "{k}"
        );
        assert!(!k.contains("--"), "{k}");
        assert_eq!(k, idempotency_key(sm, arn, token), "stable");
    }
    assert_ne!(idempotency_key("m", "arn:x", 1), idempotency_key("m", "arn:x", 2));
    assert_ne!(idempotency_key("m", "arn:x", 1), idempotency_key("m", "arn:y", 1));
    assert!(idempotency_key("My_Machine.v2", "a", 1).starts_with("aslan-my-machine-v2-"));
}

#[test]
fn validation_rejects_patterns_the_integration_lacks() {
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "M", "Branches": [{"StartAt": "C", "States": {
            "C": {"Type": "Task", "Resource": "arn:aws:states:::eks:call.sync", "End": true}}}]},
        "M": {"Type": "Map", "Next": "L", "ItemProcessor": {"StartAt": "J", "States": {
            "J": {"Type": "Task", "Resource": "arn:aws:states:::eks:runJob.sync", "End": true}}}},
        "L": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.sync", "Next": "X"},
        "X": {"Type": "Task", "Resource": "arn:aws:states:::custom:thing.sync", "End": true}
    }});
    Machine::compile(&def).expect("the definition itself is valid");
    let mut r = Registry::new();
    let d = r.validate(&def);
    let at: Vec<&str> = d.iter().map(|d| d.location.as_str()).collect();
    assert_eq!(
        at,
        ["/States/P/Branches/0/States/C/Resource", "/States/L/Resource"],
        "{d:?}"
    );
    assert!(
        d[0].message.contains("eks:call") && d[0].message.contains(".sync"),
        "{}",
        d[0].message
    );
    // A registered integration's own list wins over AWS's.
    r.register(Arc::new(FnIntegration::new("arn:aws:states:::custom:", |_t| async {
        Ok(json!(1))
    })));
    let d = r.validate(&def);
    assert_eq!(d.len(), 3, "{d:?}");
    assert_eq!(d[2].location, "/States/X/Resource");
}

#[tokio::test]
async fn registry_routes_mocks_first_and_parks_callbacks() {
    let mut r = Registry::new();
    r.register(Arc::new(FnIntegration::new(
        "arn:aws:states:::custom:",
        |t: Task| async move { Ok(json!({"got": t.invocation.parameters})) },
    )));
    let mut t = task(json!({"a": 1}));
    t.resource = Resource::parse("arn:aws:states:::custom:go");
    assert_eq!(r.start(t.clone()).await, Outcome::Succeeded(json!({"got": {"a": 1}})));
    // With .waitForTaskToken the call's success hands the token out: park.
    t.resource = Resource::parse("arn:aws:states:::custom:go.waitForTaskToken");
    assert_eq!(r.start(t.clone()).await, Outcome::Parked);
    // Nothing serves sqs here: a callback parks, a plain call fails.
    t.resource = Resource::parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
    assert_eq!(r.start(t.clone()).await, Outcome::Parked);
    t.resource = Resource::parse("arn:aws:states:::sqs:sendMessage");
    assert!(matches!(r.start(t.clone()).await, Outcome::Failed(e) if e.error == "States.Runtime"));
    // A mock answers first, even for a callback.
    let mocks = mock::MockTasks::from_sequences([("T".to_string(), vec![Ok(json!("mocked"))])].into());
    let r = r.with_mock_tasks(mocks);
    t.resource = Resource::parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
    assert_eq!(r.start(t).await, Outcome::Succeeded(json!("mocked")));
}
