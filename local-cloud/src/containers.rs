//! Running a container: simulated (the default) or, with `--run-processes` or the
//! `aslan.io/mode: process` annotation, as a local process running the container's `command` +
//! `args` on the host (no image).
//!
//! Simulated containers are driven by the pod template's annotations (a `.<container>` suffix
//! makes one apply to one container only, e.g. `aslan.io/exit-code.sidecar`):
//!
//! | annotation | meaning | default |
//! | --- | --- | --- |
//! | `aslan.io/exit-code` | the container's exit code | `0` |
//! | `aslan.io/duration-ms` | how long the container runs | `50` |
//! | `aslan.io/log` | what it prints (a newline is added if missing) | `<container> ran in pod <pod>` |
//! | `aslan.io/log-repeat` | print the log this many times (for huge logs; at most 64 MiB) | `1` |
//! | `aslan.io/fail-attempts` | the first N pods of a Job fail (exit code 1, or `exit-code` if not 0) | `0` |
//! | `aslan.io/start-delay-ms` | how long the pod stays in `ContainerCreating` (pod-wide) | `5` |
//! | `aslan.io/waiting-reason` | the containers never start and wait with this reason (`ImagePullBackOff`) (pod-wide) | |
//! | `aslan.io/mode` | `process` or `simulated`, overriding `--run-processes` | |

use crate::logstore::{LogBuf, MAX_LOG_BYTES};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// What a container will do.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Simulated {
        exit_code: i32,
        duration: Duration,
        log: Vec<u8>,
    },
    Process {
        argv: Vec<String>,
        env: Vec<(String, String)>,
        workdir: Option<String>,
    },
}

/// How a container ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit_code: i32,
    pub reason: &'static str,
    pub message: Option<String>,
    pub started: jiff::Timestamp,
    pub finished: jiff::Timestamp,
}

/// An annotation for one container (`key.<container>` first, then `key`).
pub fn annotation<'a>(ann: &'a Map<String, Value>, key: &str, container: &str) -> Option<&'a str> {
    ann.get(&format!("{key}.{container}"))
        .or_else(|| ann.get(key))
        .and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Decides what a container does.
pub fn plan(container: &Value, pod: &str, ann: &Map<String, Value>, attempt: u32, run_processes: bool) -> Plan {
    let name = container.get("name").and_then(Value::as_str).unwrap_or("");
    let mut argv = strings(container.get("command"));
    argv.extend(strings(container.get("args")));
    let process = match annotation(ann, "aslan.io/mode", name) {
        Some("process") => true,
        Some("simulated") => false,
        _ => run_processes,
    };
    if process && !argv.is_empty() {
        let env = container
            .get("env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        Some((
                            e.get("name")?.as_str()?.to_string(),
                            e.get("value").and_then(Value::as_str).unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let workdir = container.get("workingDir").and_then(Value::as_str).map(String::from);
        return Plan::Process { argv, env, workdir };
    }
    let num = |key: &str| annotation(ann, key, name).and_then(|v| v.trim().parse::<i64>().ok());
    let mut exit_code = num("aslan.io/exit-code").unwrap_or(0).clamp(0, 255) as i32;
    let fail_attempts = num("aslan.io/fail-attempts").unwrap_or(0).max(0) as u32;
    if attempt < fail_attempts && exit_code == 0 {
        exit_code = 1;
    }
    let duration = Duration::from_millis(num("aslan.io/duration-ms").unwrap_or(50).clamp(0, 86_400_000) as u64);
    let mut line = annotation(ann, "aslan.io/log", name)
        .map(String::from)
        .unwrap_or_else(|| format!("{name} ran in pod {pod}"));
    if !line.ends_with('\n') {
        line.push('\n');
    }
    let repeat = num("aslan.io/log-repeat").unwrap_or(1).max(0) as usize;
    let repeat = repeat.min(MAX_LOG_BYTES / line.len().max(1));
    Plan::Simulated {
        exit_code,
        duration,
        log: line.repeat(repeat).into_bytes(),
    }
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, log: Arc<LogBuf>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => log.append(&buf[..n]),
        }
    }
}

/// Runs a container to its end. Dropping the future kills a process.
pub async fn run(plan: Plan, log: Arc<LogBuf>) -> Outcome {
    let started = jiff::Timestamp::now();
    let (exit_code, message) = match plan {
        Plan::Simulated {
            exit_code,
            duration,
            log: text,
        } => {
            log.append(&text);
            tokio::time::sleep(duration).await;
            (exit_code, None)
        }
        Plan::Process { argv, env, workdir } => {
            let mut cmd = tokio::process::Command::new(&argv[0]);
            cmd.args(&argv[1..])
                .envs(env)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            if let Some(d) = workdir.filter(|d| std::path::Path::new(d).is_dir()) {
                cmd.current_dir(d);
            }
            match cmd.spawn() {
                Err(e) => {
                    let msg = format!(
                        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"{}\": {e}",
                        argv[0]
                    );
                    log.finish();
                    return Outcome {
                        exit_code: 128,
                        reason: "StartError",
                        message: Some(msg),
                        started,
                        finished: jiff::Timestamp::now(),
                    };
                }
                Ok(mut child) => {
                    let out = child.stdout.take().map(|s| tokio::spawn(pump(s, log.clone())));
                    let err = child.stderr.take().map(|s| tokio::spawn(pump(s, log.clone())));
                    let status = child.wait().await;
                    for h in [out, err].into_iter().flatten() {
                        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
                    }
                    let code = match status {
                        Ok(s) => s.code().unwrap_or_else(|| {
                            use std::os::unix::process::ExitStatusExt;
                            128 + s.signal().unwrap_or(9)
                        }),
                        Err(_) => 1,
                    };
                    (code, None)
                }
            }
        }
    };
    log.finish();
    Outcome {
        exit_code,
        reason: if exit_code == 0 { "Completed" } else { "Error" },
        message,
        started,
        finished: jiff::Timestamp::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_drive_simulated_containers() {
        let ann: Map<String, Value> = serde_json::from_value(json!({
            "aslan.io/exit-code": "3", "aslan.io/exit-code.b": "0", "aslan.io/log": "hi", "aslan.io/log-repeat": "3",
            "aslan.io/duration-ms": "7"
        }))
        .unwrap();
        let a = plan(&json!({"name": "a"}), "p", &ann, 0, false);
        assert_eq!(
            a,
            Plan::Simulated {
                exit_code: 3,
                duration: Duration::from_millis(7),
                log: b"hi\nhi\nhi\n".to_vec()
            }
        );
        let Plan::Simulated { exit_code, .. } = plan(&json!({"name": "b"}), "p", &ann, 0, false) else {
            panic!()
        };
        assert_eq!(exit_code, 0);
    }

    #[test]
    fn fail_attempts_fail_the_first_pods() {
        let ann: Map<String, Value> = serde_json::from_value(json!({"aslan.io/fail-attempts": "2"})).unwrap();
        let code = |attempt| match plan(&json!({"name": "a"}), "p", &ann, attempt, false) {
            Plan::Simulated { exit_code, .. } => exit_code,
            Plan::Process { .. } => -1,
        };
        assert_eq!((code(0), code(1), code(2)), (1, 1, 0));
    }

    #[test]
    fn process_mode_needs_a_command() {
        let c = json!({"name": "a", "command": ["echo"], "args": ["x"]});
        assert!(matches!(plan(&c, "p", &Map::new(), 0, true), Plan::Process { .. }));
        assert!(matches!(
            plan(&json!({"name": "a"}), "p", &Map::new(), 0, true),
            Plan::Simulated { .. }
        ));
    }
}
