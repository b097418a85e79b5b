//! A web service that runs order workflows on an embedded Aslan engine.
//!
//! `embed-axum DATA_DIR [LISTEN]` (default `127.0.0.1:8085`) serves:
//!
//! - `POST /orders` with an order (`{"id": "o-1", "items": [{"sku": "tea",
//!   "qty": 2}]}`): starts the `order` workflow for it (the id names the
//!   execution) and answers `201 {"executionArn", "id"}`;
//! - `GET /orders/{id}`: the execution (status, output, error);
//! - `GET /orders/{id}/events`: its history as server-sent events, first
//!   what has committed, then each event as it commits, until the end.
//!
//! The workflow's Tasks are Rust closures: `reserve-stock` refuses more
//! than 10 of an item (`Stock.Insufficient`, caught: the order is
//! rejected), and `charge-card` times out once for an order whose id
//! contains `flaky` (`Payment.Timeout`, retried after 1 s). Orders survive a restart of
//! the service: their executions live in `DATA_DIR`.

use aslan::asl::StateError;
use aslan::{Engine, EngineError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

const WORKFLOW: &str = "order";

fn definition() -> Value {
    json!({
        "Comment": "Reserve stock, charge the card (retried on a timeout), ship; reject when out of stock.",
        "StartAt": "Reserve stock",
        "States": {
            "Reserve stock": {
                "Type": "Task",
                "Resource": "arn:aslan:states:::task:reserve-stock",
                "Parameters": {"items.$": "$.items"},
                "ResultPath": "$.reservation",
                "Catch": [{"ErrorEquals": ["Stock.Insufficient"], "ResultPath": "$.problem", "Next": "Rejected"}],
                "Next": "Charge card"
            },
            "Charge card": {
                "Type": "Task",
                "Resource": "arn:aslan:states:::task:charge-card",
                "Parameters": {"order.$": "$.id", "amount.$": "$.reservation.total"},
                "ResultPath": "$.payment",
                "Retry": [{"ErrorEquals": ["Payment.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Next": "Ship"
            },
            "Ship": {
                "Type": "Pass",
                "Parameters": {"order.$": "$.id", "charged.$": "$.payment.charged", "status": "shipped"},
                "End": true
            },
            "Rejected": {"Type": "Fail", "Error": "OrderRejected", "Cause": "Not enough stock."}
        }
    })
}

#[derive(Clone)]
struct App {
    engine: Arc<Engine>,
}

impl App {
    fn arn(&self, id: &str) -> String {
        let sm = self.engine.state_machine_arn(WORKFLOW);
        sm.replace(":stateMachine:", ":execution:") + ":" + id
    }
}

type Failure = (StatusCode, Json<Value>);

fn failure(e: EngineError) -> Failure {
    let status = match e {
        EngineError::ExecutionDoesNotExist(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidName(_) | EngineError::InvalidInput(_) => StatusCode::BAD_REQUEST,
        EngineError::Exec(aslan::exec::durable::ExecError::AlreadyExists(_)) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"message": e.to_string()})))
}

async fn create_order(State(app): State<App>, Json(order): Json<Value>) -> Result<(StatusCode, Json<Value>), Failure> {
    let id = order["id"].as_str().map(String::from);
    let rec = app
        .engine
        .start_execution(WORKFLOW, id.as_deref(), &order)
        .await
        .map_err(failure)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"executionArn": rec.arn, "id": rec.name})),
    ))
}

async fn get_order(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, Failure> {
    let rec = app.engine.describe_execution(&app.arn(&id)).map_err(failure)?;
    let output = rec
        .output
        .as_deref()
        .map(|o| serde_json::from_str(o).unwrap_or(Value::Null));
    Ok(Json(json!({
        "id": rec.name,
        "status": rec.status.as_str(),
        "output": output,
        "error": rec.error,
        "cause": rec.cause,
    })))
}

async fn order_events(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    // What has committed, then each event as it commits, until the end.
    let events = app.engine.watch_execution(&app.arn(&id)).map_err(failure)?;
    let stream = stream::unfold(events, |mut events| async move {
        let e = events.next().await?.ok()?;
        let ty = e["type"].as_str().unwrap_or_default().to_string();
        Some((Ok(Event::default().event(ty).data(e.to_string())), events))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: embed-axum DATA_DIR [LISTEN]")?;
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8085".into());

    // Orders whose card already timed out once (the demo's flaky payment).
    let timed_out = Arc::new(Mutex::new(HashSet::<String>::new()));
    let engine = Engine::builder()
        .path(&dir)
        .task("arn:aslan:states:::task:reserve-stock", |task| async move {
            let items = task.invocation.parameters["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut total = 0;
            for item in &items {
                let qty = item["qty"].as_u64().unwrap_or(0);
                if qty > 10 {
                    return Err(StateError::new(
                        "Stock.Insufficient",
                        format!("only 10 of {} left", item["sku"]),
                    ));
                }
                total += qty * 5;
            }
            Ok(json!({"reserved": items.len(), "total": total}))
        })
        .task("arn:aslan:states:::task:charge-card", move |task| {
            let timed_out = timed_out.clone();
            async move {
                let p = &task.invocation.parameters;
                let order = p["order"].as_str().unwrap_or_default().to_string();
                let flaky = order.contains("flaky");
                if flaky && timed_out.lock().unwrap().insert(order) {
                    return Err(StateError::new("Payment.Timeout", "the card network did not answer"));
                }
                Ok(json!({"charged": p["amount"]}))
            }
        })
        .open()
        .await?;
    engine.create_state_machine(WORKFLOW, &definition().to_string()).await?;
    let engine = Arc::new(engine);
    let app = App { engine: engine.clone() };
    let router = Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/events", get(order_events))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "embed-axum: serving on http://{} (orders in {dir})",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    if let Ok(engine) = Arc::try_unwrap(engine) {
        engine.shutdown().await;
    }
    Ok(())
}
