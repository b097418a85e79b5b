//! `aslan executions ...`: a client of a running `aslan serve`.

use crate::{Conn, ExecCmd, ModCmd};
use aslan::api::client::Client;
use aslan::api::sigv4::Credentials;
use serde_json::{json, Value};
use std::process::ExitCode;

fn when(v: &Value) -> String {
    v.as_f64()
        .and_then(|s| chrono::DateTime::from_timestamp_millis((s * 1000.0) as i64))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "-".into())
}

fn table(rows: Vec<Vec<String>>) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// Calls a paginated operation until `max` items or the last page.
fn paginate(client: &Client, op: &str, mut req: Value, field: &str, max: usize) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    loop {
        let page = client.call(op, &req)?;
        items.extend(page[field].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) if items.len() < max => req["nextToken"] = json!(t),
            _ => return Ok(items),
        }
    }
}

fn credentials() -> Option<Credentials> {
    match (
        std::env::var("ASLAN_ACCESS_KEY_ID"),
        std::env::var("ASLAN_SECRET_ACCESS_KEY"),
    ) {
        (Ok(a), Ok(s)) => Some(Credentials {
            access_key_id: a,
            secret_access_key: s,
        }),
        _ => None,
    }
}

/// `aslan modules ...`.
pub fn modules_cmd(cmd: ModCmd, conn: Conn) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use base64::Engine as _;
    let client = Client::new(&conn.endpoint, &conn.region, credentials());
    let out = match cmd {
        ModCmd::Add { name, path, config } => {
            let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut req = json!({"name": name, "module": base64::engine::general_purpose::STANDARD.encode(&bytes)});
            if let Some(c) = config {
                let text = std::fs::read_to_string(&c).with_context(|| format!("cannot read {}", c.display()))?;
                let v: toml::Value = toml::from_str(&text).with_context(|| format!("{} is not TOML", c.display()))?;
                req["config"] = serde_json::to_value(v)?;
            }
            client.call_at("/aslan/modules", "AslanPutModule", &req)?
        }
        ModCmd::List => client.call("AslanListModules", &json!({}))?,
        ModCmd::Remove { name } => client.call("AslanDeleteModule", &json!({"name": name}))?,
    };
    if conn.json || out.get("modules").is_none() {
        println!("{out}");
    } else {
        let mut rows = vec![vec!["NAME".into(), "WORLD".into(), "SIZE".into(), "SHA256".into()]];
        for m in out["modules"].as_array().into_iter().flatten() {
            rows.push(vec![
                m["name"].as_str().unwrap_or("").into(),
                m["world"].as_str().unwrap_or("").into(),
                m["size"].to_string(),
                m["sha256"].as_str().unwrap_or("").into(),
            ]);
        }
        table(rows);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn client_cmd(cmd: ExecCmd, conn: Conn) -> anyhow::Result<ExitCode> {
    let client = Client::new(&conn.endpoint, &conn.region, credentials());
    let result = (|| -> anyhow::Result<()> {
        match cmd {
            ExecCmd::List {
                state_machine,
                status,
                max,
            } => {
                let arn = if state_machine.starts_with("arn:") {
                    state_machine
                } else {
                    let sms = client.call("ListStateMachines", &json!({"maxResults": 1000}))?;
                    sms["stateMachines"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|m| m["name"] == state_machine.as_str())
                        .and_then(|m| m["stateMachineArn"].as_str().map(String::from))
                        .ok_or_else(|| anyhow::anyhow!("no state machine named '{state_machine}'"))?
                };
                let mut req = json!({"stateMachineArn": arn, "maxResults": max.clamp(1, 1000)});
                if let Some(s) = &status {
                    req["statusFilter"] = json!(s);
                }
                let mut items = paginate(&client, "ListExecutions", req, "executions", max)?;
                items.truncate(max);
                if conn.json {
                    println!("{}", json!({"executions": items}));
                } else {
                    let mut rows = vec![vec![
                        "NAME".into(),
                        "STATUS".into(),
                        "STARTED".into(),
                        "STOPPED".into(),
                        "ARN".into(),
                    ]];
                    for e in &items {
                        rows.push(vec![
                            e["name"].as_str().unwrap_or("").into(),
                            e["status"].as_str().unwrap_or("").into(),
                            when(&e["startDate"]),
                            when(&e["stopDate"]),
                            e["executionArn"].as_str().unwrap_or("").into(),
                        ]);
                    }
                    table(rows);
                }
                Ok(())
            }
            ExecCmd::Describe { arn } => {
                let d = client.call("DescribeExecution", &json!({"executionArn": arn}))?;
                if conn.json {
                    println!("{d}");
                } else {
                    let mut rows = Vec::new();
                    for k in [
                        "name",
                        "status",
                        "executionArn",
                        "stateMachineArn",
                        "startDate",
                        "stopDate",
                        "input",
                        "output",
                        "error",
                        "cause",
                        "redriveCount",
                    ] {
                        if let Some(v) = d.get(k) {
                            let shown = match (k, v) {
                                ("startDate" | "stopDate", v) => when(v),
                                (_, Value::String(s)) => s.clone(),
                                (_, v) => v.to_string(),
                            };
                            rows.push(vec![format!("{k}:"), shown]);
                        }
                    }
                    table(rows);
                }
                Ok(())
            }
            ExecCmd::History { arn, reverse } => {
                let req = json!({"executionArn": arn, "maxResults": 1000, "reverseOrder": reverse});
                let events = paginate(&client, "GetExecutionHistory", req, "events", usize::MAX)?;
                if conn.json {
                    println!("{}", json!({"events": events}));
                } else {
                    let mut rows = vec![vec![
                        "ID".into(),
                        "PREV".into(),
                        "TIME".into(),
                        "TYPE".into(),
                        "DETAIL".into(),
                    ]];
                    for e in &events {
                        let detail = e
                            .as_object()
                            .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
                            .map(|(_, d)| {
                                ["name", "error", "resource"]
                                    .iter()
                                    .filter_map(|k| d.get(*k).and_then(Value::as_str).map(|v| format!("{k}={v}")))
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .unwrap_or_default();
                        rows.push(vec![
                            e["id"].to_string(),
                            e["previousEventId"].to_string(),
                            when(&e["timestamp"]),
                            e["type"].as_str().unwrap_or("").into(),
                            detail,
                        ]);
                    }
                    table(rows);
                }
                Ok(())
            }
            ExecCmd::Stop { arn, error, cause } => {
                let mut req = json!({"executionArn": arn});
                if let Some(e) = error {
                    req["error"] = json!(e);
                }
                if let Some(c) = cause {
                    req["cause"] = json!(c);
                }
                let r = client.call("StopExecution", &req)?;
                if conn.json {
                    println!("{r}");
                } else {
                    println!("stopped at {}", when(&r["stopDate"]));
                }
                Ok(())
            }
            #[cfg(feature = "eks")]
            ExecCmd::Cleanup { arn, wait_seconds } => {
                use aslan::tasks::eks::{api::EksApi, cleanup};
                let req = json!({"executionArn": arn, "maxResults": 1000});
                let events = paginate(&client, "GetExecutionHistory", req, "events", usize::MAX)?;
                // The execution's region is in its ARN.
                let region = arn
                    .split(':')
                    .nth(3)
                    .filter(|r| !r.is_empty())
                    .unwrap_or(&conn.region)
                    .to_string();
                let left = cleanup::leftovers(&events, &region);
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let removed = rt.block_on(cleanup::clean_up(
                    &EksApi::default(),
                    &left,
                    std::time::Duration::from_secs(wait_seconds),
                    |_| {},
                ));
                let failed = removed
                    .iter()
                    .any(|r| r.result != "deleted" && r.result != "already gone");
                if conn.json {
                    let rows: Vec<_> = removed
                        .iter()
                        .map(|r| json!({"resource": r.target, "result": r.result}))
                        .collect();
                    println!("{}", json!({"removed": rows}));
                } else if removed.is_empty() {
                    println!("nothing to clean up: the execution left no EKS resource behind");
                } else {
                    for r in &removed {
                        println!("{:?}: {}", r.target, r.result);
                    }
                }
                if failed {
                    anyhow::bail!("some resources could not be deleted");
                }
                Ok(())
            }
        }
    })();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("aslan: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}
