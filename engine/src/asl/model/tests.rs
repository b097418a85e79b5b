use super::*;
use serde_json::json;

fn problems(def: Value) -> Vec<(String, &'static str)> {
    match Machine::compile(&def) {
        Ok(_) => Vec::new(),
        Err(InvalidDefinition(ds)) => ds.into_iter().map(|d| (d.location, d.code)).collect(),
    }
}

#[test]
fn valid_machine_compiles() {
    let m = Machine::compile(&json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "C"}], "Default": "D"},
            "C": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}, "End": true},
            "D": {"Type": "Fail", "Error": "E"}
        }
    }))
    .unwrap();
    assert_eq!(m.lists.len(), 2);
    assert_eq!(&*m.state(m.start()).name, "A");
}

#[test]
fn reports_every_problem_with_location() {
    let p = problems(json!({
        "StartAt": "A",
        "Bogus": 1,
        "States": {
            "A": {"Type": "Pass", "Next": "Nowhere", "Seconds": 3},
            "B": {"Type": "Pass"},
            "C": {"Type": "Task", "Resource": "arn:aws:lambda:x", "End": true, "ResultPath": "$$.x",
                  "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
                  "Parameters": {"a.$": "$.[", "b.$": "States.Nope()"}},
            "D": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                  "ToleratedFailureCount": 1, "End": true},
            "E": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "A"}]},
            "F": {"Type": "Bogus"}
        }
    }));
    let want = [
        ("/Bogus", "SCHEMA_VALIDATION_FAILED"),
        ("/States/A/Next", "MISSING_TRANSITION_TARGET"),
        ("/States/A/Seconds", "SCHEMA_VALIDATION_FAILED"),
        ("/States/B", "SCHEMA_VALIDATION_FAILED"),
        ("/States/C/ResultPath", "INVALID_JSON_PATH"),
        ("/States/C/Parameters/a.$", "INVALID_JSON_PATH"),
        ("/States/C/Parameters/b.$", "INVALID_INTRINSIC_FUNCTION"),
        ("/States/C/Retry/0", "SCHEMA_VALIDATION_FAILED"),
        ("/States/D/ToleratedFailureCount", "SCHEMA_VALIDATION_FAILED"),
        ("/States/E/Choices/0", "SCHEMA_VALIDATION_FAILED"),
        ("/States/F/Type", "SCHEMA_VALIDATION_FAILED"),
        ("/States/B", "UNREACHABLE_STATE"),
        ("/States/C", "UNREACHABLE_STATE"),
    ];
    for w in want {
        assert!(p.iter().any(|(l, c)| l == w.0 && *c == w.1), "missing {w:?} in {p:#?}");
    }
}

#[test]
fn duplicate_names_and_missing_end() {
    let p = problems(json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Parallel", "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}], "End": true}
        }
    }));
    assert!(
        p.contains(&("/States/A/Branches/0/States/A".into(), "DUPLICATE_STATE_NAME")),
        "{p:?}"
    );
    assert!(
        p.contains(&("/States/A/Branches/0/States".into(), "MISSING_END_STATE")),
        "{p:?}"
    );
}

#[test]
fn errors_match_rules() {
    let all = vec!["States.ALL".to_string()];
    assert!(errors_match(&all, "Custom", false));
    assert!(!errors_match(&all, "States.Runtime", false));
    assert!(!errors_match(&all, "States.DataLimitExceeded", false));
    let tf = vec!["States.TaskFailed".to_string()];
    assert!(errors_match(&tf, "Lambda.Unknown", true));
    assert!(!errors_match(&tf, "States.Timeout", true));
    assert!(!errors_match(&tf, "Lambda.Unknown", false));
}

#[test]
fn distributed_map_fields_are_checked_with_their_locations() {
    let dmap = |extra: Value| {
        let mut m = json!({"Type": "Map", "End": true, "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        problems(json!({"StartAt": "M", "States": {"M": m}}))
    };
    let ok = dmap(json!({
        "Label": "Files", "MaxConcurrency": 10, "ToleratedFailurePercentage": 5.5, "ToleratedFailureCount": 3,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["a", "b"], "CSVDelimiter": "PIPE", "MaxItems": 10},
            "Parameters": {"Bucket.$": "$.b", "Key": "k.csv"}},
        "ItemBatcher": {"MaxItemsPerBatch": 5, "MaxInputBytesPerBatchPath": "$.bytes", "BatchInput": {"x.$": "$.x"}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b", "Prefix": "out/"},
            "WriterConfig": {"OutputType": "JSON", "Transformation": "NONE"}}
    }));
    assert!(ok.is_empty(), "{ok:?}");
    let bad = dmap(json!({
        "Label": "has space", "ToleratedFailurePercentage": 101,
        "ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.n",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b"},
            "ReaderConfig": {"InputType": "XML", "CSVHeaders": ["a"]}},
        "ItemBatcher": {"BatchInput": {}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b"}}
    }));
    let at = |loc: &str| bad.iter().any(|(l, _)| l == loc);
    for loc in [
        "/States/M/Label",
        "/States/M/ToleratedFailurePercentage",
        "/States/M",
        "/States/M/ItemReader/ReaderConfig/InputType",
        "/States/M/ItemReader/ReaderConfig/CSVHeaders",
        "/States/M/ItemBatcher",
        "/States/M/ResultWriter/Resource",
    ] {
        assert!(at(loc), "no problem at {loc}: {bad:?}");
    }
    let bad = problems(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "FAST"},
            "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}}}));
    assert_eq!(
        bad,
        [(
            "/States/M/ItemProcessor/ProcessorConfig/ExecutionType".to_string(),
            "SCHEMA_VALIDATION_FAILED"
        )]
    );
}
