//! The smallest durable program that embeds Aslan.
//!
//! `embed-minimal DATA_DIR NAME...` keeps its executions in `DATA_DIR`
//! (sled), registers a state machine whose Task is answered by a Rust
//! closure, starts one execution that greets the names, prints each state
//! as its events commit, and prints the execution's output. Run it again
//! with the same folder and the state machine and the first execution are
//! still there: it prints how many executions the folder holds.

use aslan::asl::StateError;
use aslan::Engine;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: embed-minimal DATA_DIR NAME...")?;
    let names: Vec<String> = args.collect();

    let engine = Engine::builder()
        .path(&dir)
        // Task states whose Resource starts with this ARN run here.
        .task("arn:aslan:states:::task:greet", |task| async move {
            match task.invocation.parameters["name"].as_str() {
                Some(n) if !n.is_empty() => Ok(json!(format!("Hello, {n}!"))),
                _ => Err(StateError::new("Greeting.NoName", "nobody to greet")),
            }
        })
        .open()
        .await?;

    let definition = json!({
        "Comment": "Greets every name; an empty name is skipped.",
        "StartAt": "Greet everyone",
        "States": {
            "Greet everyone": {
                "Type": "Map",
                "ItemsPath": "$.names",
                "ItemProcessor": {"StartAt": "Greet", "States": {
                    "Greet": {
                        "Type": "Task",
                        "Resource": "arn:aslan:states:::task:greet",
                        "Parameters": {"name.$": "$"},
                        "Catch": [{"ErrorEquals": ["Greeting.NoName"], "Next": "Skip"}],
                        "End": true
                    },
                    "Skip": {"Type": "Pass", "Result": null, "End": true}
                }},
                "End": true
            }
        }
    });
    engine.create_state_machine("greeter", &definition.to_string()).await?;

    let mut progress = engine.subscribe();
    let started = engine
        .start_execution("greeter", None, &json!({ "names": names }))
        .await?;
    let printer = tokio::spawn({
        let arn = started.arn.clone();
        async move {
            while let Ok(step) = progress.recv().await {
                if *step.execution_arn != *arn {
                    continue;
                }
                for e in step.events.iter() {
                    let name = e.details.as_ref().map(|(_, d)| d.to_value()["name"].clone());
                    match name {
                        Some(serde_json::Value::String(n)) => eprintln!("#{} {} ({n})", e.id, e.event_type),
                        _ => eprintln!("#{} {}", e.id, e.event_type),
                    }
                    if e.event_type.starts_with("Execution") && e.event_type != "ExecutionStarted" {
                        return;
                    }
                }
            }
        }
    });
    let ended = engine.wait_for_execution(&started.arn).await?;
    printer.await?;
    let held = engine.store().executions_of("greeter").count();
    eprintln!("{} executions of greeter in {dir}", held);
    println!("{}", ended.output.unwrap_or_default());
    engine.shutdown().await;
    Ok(())
}
