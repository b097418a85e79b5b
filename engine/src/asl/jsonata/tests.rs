use super::*;
use serde_json::json;

#[test]
fn expression_delimiters() {
    assert_eq!(expression_body("{% a %}"), Ok(Some("a")));
    assert_eq!(expression_body("{%a%}"), Ok(Some("a")));
    assert_eq!(expression_body("plain"), Ok(None));
    assert_eq!(expression_body("$.x"), Ok(None));
    assert!(expression_body("{% a").is_err());
    assert!(expression_body(" {% a %}").is_err());
    assert!(expression_body("{%}").is_err());
}

#[test]
fn a_field_without_expressions_is_one_literal() {
    let j = Jt::compile(&json!({"a": [1, "x", {"b": null}]})).unwrap();
    assert_eq!(j.literal(), Some(&json!({"a": [1, "x", {"b": null}]})));
    let j = Jt::compile(&json!({"a": "{% 1 %}"})).unwrap();
    assert!(j.literal().is_none());
}

#[test]
fn reads_find_what_states_is_used_for() {
    let j = Jt::compile(&json!({"a": "{% $states.input.x.y %}", "b": "{% $states.context.Execution.Id %}"})).unwrap();
    let r = j.reads();
    assert!(r.context.is_some() && r.result.is_none() && !r.error_output && !r.random);
    assert!(!r.context_needs_input(), "Execution.Id does not need the input");
    let j = Jt::compile(&json!("{% $states.context.Execution.Input.a %}")).unwrap();
    assert!(j.reads().context_needs_input());
    // Only what is read of the input is copied in.
    let cut = r
        .input
        .as_ref()
        .unwrap()
        .cut(&json!({"x": {"y": 1, "z": 2}, "w": [1, 2, 3]}));
    assert_eq!(cut, json!({"x": {"y": 1}}));
    assert!(StatesRead::names_result(
        &Jt::compile(&json!("{% $states.result %}")).unwrap()
    ));
    assert!(!StatesRead::names_result(
        &Jt::compile(&json!("{% $states.input %}")).unwrap()
    ));
    assert!(Jt::compile(&json!("{% $uuid() %}")).unwrap().reads().random);
}

#[test]
fn compile_errors_name_their_place() {
    let e = Jt::compile(&json!({"a": [1, "{% ( %}"], "b": "{% x"})).unwrap_err();
    let at: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(at, ["/a/1", "/b"]);
}

#[test]
fn evaluation_is_bounded() {
    let j = Jt::compile(&json!("{% $count([1..10000000].($ * 2)) %}")).unwrap();
    let input = json!({});
    let ctx = |_| json!({});
    let env = Env::new(
        j.reads(),
        States {
            input: &input,
            result: None,
            error_output: None,
            context: &ctx,
            var: &|_| None,
        },
        0,
        &|| 1,
    );
    let e = j.eval(&env, "Output").unwrap_err();
    assert!(e.cause.contains("threw an error"), "{}", e.cause);
    // Deep recursion fails with an error, not a crashed stack.
    let j = Jt::compile(&json!(
        "{% ($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000)) %}"
    ))
    .unwrap();
    let e = j.eval(&env, "Output").unwrap_err();
    assert!(e.cause.contains("threw an error"), "{}", e.cause);
}
