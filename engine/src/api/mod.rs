//! The AWS Step Functions API over HTTP (JSON 1.0 protocol): `POST /` with
//! `X-Amz-Target: AWSStepFunctions.<Operation>`, so boto3, the aws CLI and
//! the AWS SDKs work unchanged with an `endpoint_url`.
//!
//! The surface only parses, checks and shapes: executions run in the
//! [`Executor`], state lives in the [`Store`].

mod activities;
pub mod client;
pub mod error;
mod maprun;
pub mod modules;
pub mod sigv4;
mod testing;

use crate::asl::Machine;
use crate::engine::{Engine, EngineError};
use crate::exec::durable::{ExecError, StartRequest};
use crate::store::{ExecutionRecord, StateMachineRecord, StoreError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
pub use error::{ApiError, ErrorKind};
use serde_json::{json, Value};
use std::sync::Arc;
use ErrorKind as Kind;

/// Largest execution input: 256 KiB.
pub const MAX_INPUT: usize = 256 * 1024;

/// Server settings.
pub struct ApiConfig {
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account: String,
    /// When set, every request must be SigV4-signed with these, or come
    /// from a browser logged in to the web console.
    pub credentials: Option<sigv4::Credentials>,
    /// The web console's token: with credentials set, a browser logs in
    /// with it or with the access key pair ([`crate::console::auth`]).
    /// `None` or empty: only the key pair logs in.
    pub console_token: Option<String>,
    /// How long GetActivityTask waits for a task (60 s on AWS).
    pub activity_wait: std::time::Duration,
    /// After StopExecution, delete the EKS resources the execution created
    /// and did not delete (`aslan serve --cleanup-on-stop`).
    pub cleanup_on_stop: bool,
}

/// The API's shared state.
pub struct Api {
    /// Settings.
    pub cfg: ApiConfig,
    /// The engine: its store, executor, clock (creation dates,
    /// StartSyncExecution) and task integrations (validation,
    /// StartSyncExecution, TestState). Executions start, stop and redrive
    /// through its methods, as in a program that embeds it.
    pub engine: Arc<Engine>,
    /// Serializes state machine and Activity changes, so that concurrent
    /// updates cannot lose one another.
    pub admin: tokio::sync::Mutex<()>,
    /// Fired when the server shuts down: long polls answer at once.
    pub stopping: crate::tasks::CancellationToken,
    /// The web console's live sessions.
    pub sessions: crate::console::auth::Sessions,
}

/// How long StartSyncExecution may run: AWS's limit for EXPRESS executions.
pub const SYNC_EXECUTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// How long TestState may run (its Task calls included).
pub const TEST_STATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Exec(e) => e.into(),
            EngineError::ExecutionDoesNotExist(arn) => ExecError::DoesNotExist(arn).into(),
            EngineError::InvalidInput(m) => ExecError::InvalidInput(m).into(),
            EngineError::Store(e) => e.into(),
            EngineError::InvalidName(n) => ApiError::new(Kind::InvalidName, format!("Invalid Name: '{n}'")),
            e @ EngineError::InvalidDefinition(_) => ApiError::new(Kind::InvalidDefinition, e.to_string()),
            e @ EngineError::StateMachineDoesNotExist(_) => {
                ApiError::new(Kind::StateMachineDoesNotExist, e.to_string())
            }
            e @ EngineError::StateMachineAlreadyExists(_) => {
                ApiError::new(Kind::StateMachineAlreadyExists, e.to_string())
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store error: {e}");
        ApiError::new(Kind::InternalServerError, e.to_string())
    }
}

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        let kind = match &e {
            ExecError::AlreadyExists(_) => Kind::ExecutionAlreadyExists,
            ExecError::DoesNotExist(_) => Kind::ExecutionDoesNotExist,
            ExecError::InvalidInput(_) => Kind::InvalidExecutionInput,
            ExecError::InvalidDefinition(_) => Kind::InvalidDefinition,
            ExecError::NotRedrivable(_) => Kind::ExecutionNotRedrivable,
            ExecError::Store(_) | ExecError::Commit(_) => Kind::InternalServerError,
            ExecError::Shutdown => Kind::ServiceUnavailable,
        };
        ApiError::new(kind, e.to_string())
    }
}

type ApiResult = Result<Value, ApiError>;

/// The router: `POST /` for the API.
pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(handle))
        .route(
            "/aslan/modules",
            axum::routing::post(handle).layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024)),
        )
        .with_state(api)
}

async fn handle(State(api): State<Arc<Api>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    // A request from a logged-in console needs no signature (a proxy in
    // front may add its own Authorization header): the pages' own check.
    let console = crate::console::auth::allowed(&api.cfg, &api.sessions, &headers);
    if let (Some(creds), false) = (&api.cfg.credentials, console) {
        let hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let req = sigv4::SignedRequest {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &hs,
            body: &body,
        };
        if let Err(e) = sigv4::verify(&req, creds, &api.cfg.region, chrono::Utc::now()) {
            return ApiError::new(e.kind, e.message).into_response();
        }
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(op) = target.strip_prefix("AWSStepFunctions.") else {
        return ApiError::new(Kind::UnknownOperationException, format!("unknown target '{target}'")).into_response();
    };
    let req: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return ApiError::new(Kind::SerializationException, "the request body must be a JSON object")
                    .into_response()
            }
            Err(e) => {
                return ApiError::new(Kind::SerializationException, format!("malformed JSON: {e}")).into_response()
            }
        }
    };
    let r = match op {
        "CreateStateMachine" => api.create_state_machine(&req).await,
        "DescribeStateMachine" => api.describe_state_machine(&req),
        "UpdateStateMachine" => api.update_state_machine(&req).await,
        "DeleteStateMachine" => api.delete_state_machine(&req).await,
        "CreateActivity" => api.create_activity(&req).await,
        "DescribeActivity" => api.describe_activity(&req),
        "ListActivities" => api.list_activities(&req),
        "DeleteActivity" => api.delete_activity(&req).await,
        "GetActivityTask" => api.get_activity_task(&req).await,
        "SendTaskSuccess" => api.send_task_success(&req).await,
        "SendTaskFailure" => api.send_task_failure(&req).await,
        "SendTaskHeartbeat" => api.send_task_heartbeat(&req).await,
        "ListStateMachines" => api.list_state_machines(&req),
        "StartExecution" => api.start_execution(&req).await,
        "StartSyncExecution" => api.start_sync_execution(&req).await,
        "DescribeExecution" => api.describe_execution(&req),
        "DescribeStateMachineForExecution" => api.describe_state_machine_for_execution(&req),
        "ListExecutions" => api.list_executions(&req),
        "DescribeMapRun" => api.describe_map_run(&req),
        "ListMapRuns" => api.list_map_runs(&req),
        "UpdateMapRun" => api.update_map_run(&req).await,
        "StopExecution" => api.stop_execution(&req).await,
        "GetExecutionHistory" => api.get_execution_history(&req),
        "RedriveExecution" => api.redrive_execution(&req).await,
        "ValidateStateMachineDefinition" => api.validate_definition(&req),
        "TestState" => api.test_state(&req).await,
        #[cfg(feature = "wasm")]
        "AslanPutModule" => api.put_module(&req).await,
        #[cfg(feature = "wasm")]
        "AslanListModules" => api.list_modules(&req),
        #[cfg(feature = "wasm")]
        "AslanDeleteModule" => api.delete_module(&req).await,
        _ => Err(ApiError::new(
            Kind::UnknownOperationException,
            format!("operation '{op}' is not supported"),
        )),
    };
    match r {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn str_field<'a>(req: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    match req.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::new(
            Kind::SerializationException,
            format!("'{name}' must be a string"),
        )),
        None => Err(ApiError::validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

fn opt_str<'a>(req: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::new(
            Kind::SerializationException,
            format!("'{name}' must be a string"),
        )),
    }
}

/// Checks a state machine or execution name as AWS does.
pub use crate::engine::valid_name;

fn page(req: &Value) -> Result<(usize, Option<String>), ApiError> {
    let max = match req.get("maxResults") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(0) => 100,
            Some(n) if n <= 1000 => n as usize,
            _ => return Err(ApiError::validation("maxResults must be between 0 and 1000")),
        },
    };
    let token = match opt_str(req, "nextToken")? {
        None => None,
        Some(t) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        Kind::InvalidToken,
                        "Invalid Token: the nextToken is not one this server issued",
                    )
                })?,
        ),
    };
    Ok((max, token))
}

fn token(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

impl Api {
    fn now(&self) -> i64 {
        self.engine.clock().now_ms()
    }

    fn sm_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.cfg.region, self.cfg.account
        )
    }

    /// Parses a state machine ARN; returns (name, mock test case).
    fn parse_sm_arn<'a>(&self, arn: &'a str) -> Result<(&'a str, Option<&'a str>), ApiError> {
        let (arn, case) = match arn.split_once('#') {
            Some((a, c)) => (a, Some(c)),
            None => (arn, None),
        };
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 7
            || parts[0] != "arn"
            || parts[2] != "states"
            || parts[5] != "stateMachine"
            || !valid_name(parts[6])
        {
            return Err(ApiError::new(
                Kind::InvalidArn,
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        if parts[3] != self.cfg.region || parts[4] != self.cfg.account {
            return Err(ApiError::new(
                Kind::StateMachineDoesNotExist,
                format!("State Machine Does Not Exist: '{arn}'"),
            ));
        }
        Ok((parts[6], case))
    }

    fn parse_exec_arn<'a>(&self, arn: &'a str) -> Result<&'a str, ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 8 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "execution" {
            return Err(ApiError::new(
                Kind::InvalidArn,
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        Ok(arn)
    }

    fn machine_by_arn(&self, arn: &str) -> Result<(StateMachineRecord, Option<String>), ApiError> {
        let (name, case) = self.parse_sm_arn(arn)?;
        let rec = self.engine.store().machine(name)?.ok_or_else(|| {
            ApiError::new(
                Kind::StateMachineDoesNotExist,
                format!("State Machine Does Not Exist: '{}'", self.sm_arn(name)),
            )
        })?;
        Ok((rec, case.map(String::from)))
    }

    fn execution_by_arn(&self, req: &Value) -> Result<ExecutionRecord, ApiError> {
        let arn = self.parse_exec_arn(str_field(req, "executionArn")?)?;
        self.engine.store().execution_by_arn(arn)?.ok_or_else(|| {
            ApiError::new(
                Kind::ExecutionDoesNotExist,
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
    }

    /// Every problem of a definition: the language's, then the Task
    /// resources' integration patterns.
    fn diagnostics(&self, text: &str) -> Vec<crate::asl::Diagnostic> {
        self.engine.validate(text)
    }

    fn check_definition(&self, text: &str) -> Result<(), ApiError> {
        let d = self.diagnostics(text);
        if d.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        Err(ApiError::new(
            Kind::InvalidDefinition,
            format!("Invalid State Machine Definition: '{}'", lines.join("; ")),
        ))
    }

    fn check_role(role: &str) -> Result<(), ApiError> {
        let parts: Vec<&str> = role.splitn(6, ':').collect();
        if parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5].starts_with("role/") {
            Ok(())
        } else {
            Err(ApiError::new(
                Kind::InvalidArn,
                format!("Invalid Arn: 'Invalid role ARN: {role}'"),
            ))
        }
    }

    async fn create_state_machine(&self, req: &Value) -> ApiResult {
        let name = str_field(req, "name")?;
        let definition = str_field(req, "definition")?;
        let role = str_field(req, "roleArn")?;
        let sm_type = opt_str(req, "type")?.unwrap_or("STANDARD");
        if !valid_name(name) {
            return Err(ApiError::new(Kind::InvalidName, format!("Invalid Name: '{name}'")));
        }
        if !matches!(sm_type, "STANDARD" | "EXPRESS") {
            return Err(ApiError::validation(format!(
                "type must be STANDARD or EXPRESS, got '{sm_type}'"
            )));
        }
        Self::check_role(role)?;
        self.check_definition(definition)?;
        let _serial = self.admin.lock().await;
        if let Some(old) = self.engine.store().machine(name)? {
            // As AWS: creating the same machine again is idempotent.
            if old.definition == definition && old.role_arn == role && old.sm_type == sm_type {
                return Ok(json!({"stateMachineArn": old.arn, "creationDate": secs(old.created_ms)}));
            }
            return Err(ApiError::new(
                Kind::StateMachineAlreadyExists,
                format!("State Machine Already Exists: '{}'", old.arn),
            ));
        }
        let now = self.now();
        let rec = StateMachineRecord {
            name: name.into(),
            arn: self.sm_arn(name),
            definition: definition.into(),
            role_arn: role.into(),
            sm_type: sm_type.into(),
            created_ms: now,
            updated_ms: now,
            revision: self.engine.store().next_revision(name)?,
        };
        self.engine.store().put_machine(&rec).await?;
        Ok(json!({"stateMachineArn": rec.arn, "creationDate": secs(now)}))
    }

    fn describe_sm(rec: &StateMachineRecord, definition: &str) -> Value {
        json!({
            "stateMachineArn": rec.arn,
            "name": rec.name,
            "status": "ACTIVE",
            "definition": definition,
            "roleArn": rec.role_arn,
            "type": rec.sm_type,
            "creationDate": secs(rec.created_ms),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
            "revisionId": rec.revision.to_string(),
        })
    }

    fn describe_state_machine(&self, req: &Value) -> ApiResult {
        let (rec, _) = self.machine_by_arn(str_field(req, "stateMachineArn")?)?;
        Ok(Self::describe_sm(&rec, &rec.definition))
    }

    async fn update_state_machine(&self, req: &Value) -> ApiResult {
        let _serial = self.admin.lock().await;
        let (mut rec, _) = self.machine_by_arn(str_field(req, "stateMachineArn")?)?;
        let definition = opt_str(req, "definition")?;
        let role = opt_str(req, "roleArn")?;
        if definition.is_none()
            && role.is_none()
            && req.get("loggingConfiguration").is_none()
            && req.get("tracingConfiguration").is_none()
        {
            return Err(ApiError::new(Kind::MissingRequiredParameter, "Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified"));
        }
        if let Some(d) = definition {
            self.check_definition(d)?;
            rec.definition = d.into();
        }
        if let Some(r) = role {
            Self::check_role(r)?;
            rec.role_arn = r.into();
        }
        rec.revision += 1;
        rec.updated_ms = self.now();
        self.engine.store().put_machine(&rec).await?;
        Ok(json!({"updateDate": secs(rec.updated_ms), "revisionId": rec.revision.to_string()}))
    }

    async fn delete_state_machine(&self, req: &Value) -> ApiResult {
        let (name, _) = self.parse_sm_arn(str_field(req, "stateMachineArn")?)?;
        let _serial = self.admin.lock().await;
        self.engine.store().delete_machine(name).await?;
        Ok(json!({}))
    }

    fn list_state_machines(&self, req: &Value) -> ApiResult {
        let (max, after) = page(req)?;
        let all = self.engine.store().machines()?;
        let mut items = Vec::new();
        let mut next = None;
        for rec in all
            .iter()
            .filter(|r| after.as_deref().is_none_or(|a| r.name.as_str() > a))
        {
            if items.len() == max {
                next = Some(token(&items_last_name(&items)));
                break;
            }
            items.push(json!({"stateMachineArn": rec.arn, "name": rec.name, "type": rec.sm_type, "creationDate": secs(rec.created_ms)}));
        }
        let mut out = json!({"stateMachines": items});
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    fn start_request(&self, req: &Value) -> Result<StartRequest, ApiError> {
        let (rec, case) = self.machine_by_arn(str_field(req, "stateMachineArn")?)?;
        let name = match opt_str(req, "name")? {
            Some(n) if valid_name(n) => n.to_string(),
            Some(n) => return Err(ApiError::new(Kind::InvalidName, format!("Invalid Name: '{n}'"))),
            None => new_uuid(),
        };
        let input = opt_str(req, "input")?.unwrap_or("{}");
        if input.len() > MAX_INPUT {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to {MAX_INPUT}"
            )));
        }
        if let Err(e) = serde_json::from_str::<Value>(input) {
            return Err(ApiError::new(
                Kind::InvalidExecutionInput,
                format!("Invalid State Machine Execution Input: '{e}'"),
            ));
        }
        Ok(StartRequest {
            machine: rec,
            name,
            input: input.to_string(),
            test_case: case,
        })
    }

    async fn start_execution(&self, req: &Value) -> ApiResult {
        let start = self.start_request(req)?;
        let rec = self.engine.start(start).await?;
        Ok(json!({"executionArn": rec.arn, "startDate": secs(rec.start_ms)}))
    }

    async fn start_sync_execution(&self, req: &Value) -> ApiResult {
        let start = self.start_request(req)?;
        if start.machine.sm_type != "EXPRESS" {
            return Err(ApiError::new(
                Kind::StateMachineTypeNotSupported,
                "StartSyncExecution is only supported for EXPRESS state machines",
            ));
        }
        self.check_definition(&start.machine.definition)?;
        let machine = Arc::new(
            Machine::from_json(&start.machine.definition)
                .map_err(|e| ApiError::new(Kind::InvalidDefinition, e.to_string()))?,
        );
        let now = self.now();
        let arn = format!(
            "arn:aws:states:{}:{}:express:{}:{}:{}",
            self.cfg.region,
            self.cfg.account,
            start.machine.name,
            start.name,
            new_uuid()
        );
        let info = crate::asl::ExecutionInfo {
            execution_arn: arn.clone(),
            name: start.name.clone(),
            state_machine_arn: start.machine.arn.clone(),
            state_machine_name: start.machine.name.clone(),
            role_arn: start.machine.role_arn.clone(),
            start_time_ms: now,
        };
        let input: Value = serde_json::from_str(&start.input).unwrap_or(Value::Null);
        let opts = crate::asl::Options {
            history: false,
            seed: Some(crate::exec::fresh_seed()),
            history_sink: None,
            variables: None,
            start_list: None,
        };
        let run = crate::exec::run(
            machine,
            info,
            input,
            opts,
            self.engine.clock().as_ref(),
            self.engine.tasks().clone(),
        );
        let r = match tokio::time::timeout(SYNC_EXECUTION_LIMIT, run).await {
            Ok(r) => r,
            Err(_) => crate::exec::RunResult {
                status: crate::asl::Status::TimedOut(crate::asl::StateError::new(
                    crate::asl::error::TIMEOUT,
                    "The execution ran longer than the 5 minutes an EXPRESS execution may run",
                )),
                history: Vec::new(),
                transitions: 0,
                caught: None,
            },
        };
        let mut out = json!({
            "executionArn": arn,
            "stateMachineArn": start.machine.arn,
            "name": start.name,
            "startDate": secs(now),
            "stopDate": secs(self.now()),
            "input": start.input,
            "inputDetails": {"included": true},
            "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": (self.now() - now).max(100)},
        });
        match r.status {
            crate::asl::Status::Succeeded(v) => {
                out["status"] = json!("SUCCEEDED");
                out["output"] = json!(v.to_string());
                out["outputDetails"] = json!({"included": true});
            }
            crate::asl::Status::Failed(e) | crate::asl::Status::Aborted(e) => {
                out["status"] = json!("FAILED");
                out["error"] = json!(e.error);
                out["cause"] = json!(e.cause);
            }
            crate::asl::Status::TimedOut(e) => {
                out["status"] = json!("TIMED_OUT");
                out["error"] = json!(e.error);
                out["cause"] = json!(e.cause);
            }
            crate::asl::Status::Running => {}
        }
        Ok(out)
    }

    fn describe_execution(&self, req: &Value) -> ApiResult {
        let rec = self.execution_by_arn(req)?;
        let mut out = json!({
            "executionArn": rec.arn,
            "stateMachineArn": rec.sm_arn,
            "name": rec.name,
            "status": rec.status,
            "startDate": secs(rec.start_ms),
            "input": rec.input,
            "inputDetails": {"included": true},
            "redriveCount": rec.redrive_count,
            "redriveStatus": if rec.status.is_redrivable() { "REDRIVABLE" } else { "NOT_REDRIVABLE" },
        });
        let o = out.as_object_mut().expect("object");
        if let Some(t) = rec.stop_ms {
            o.insert("stopDate".into(), secs(t));
        }
        if let Some(v) = &rec.output {
            o.insert("output".into(), json!(v));
            o.insert("outputDetails".into(), json!({"included": true}));
        }
        if let Some(e) = &rec.error {
            o.insert("error".into(), json!(e));
        }
        if let Some(c) = &rec.cause {
            o.insert("cause".into(), json!(c));
        }
        if let Some(t) = rec.redrive_ms {
            o.insert("redriveDate".into(), secs(t));
        }
        if let Some((m, _)) = &rec.map_run {
            o.insert("mapRunArn".into(), json!(m));
        }
        Ok(out)
    }

    fn describe_state_machine_for_execution(&self, req: &Value) -> ApiResult {
        let rec = self.execution_by_arn(req)?;
        let definition = self
            .engine
            .store()
            .definition(&rec.sm_name, rec.revision)?
            .unwrap_or_default();
        let sm = self.engine.store().machine(&rec.sm_name)?;
        // A Map Run's child runs the Map's ItemProcessor, as the machine
        // `MACHINE/LABEL`.
        let run = match &rec.map_run {
            Some((arn, _)) => self.engine.store().map_run(arn)?,
            None => None,
        };
        let (name, definition) = match &run {
            Some(r) => {
                let processor = serde_json::from_str::<Value>(&definition)
                    .ok()
                    .and_then(|d| maprun::processor_of(&d, &r.state_name, None, 0))
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                (format!("{}/{}", rec.sm_name, r.label), processor)
            }
            None => (rec.sm_name.clone(), definition),
        };
        let mut out = json!({
            "stateMachineArn": rec.sm_arn,
            "name": name,
            "definition": definition,
            "revisionId": rec.revision.to_string(),
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
            "tracingConfiguration": {"enabled": false},
        });
        match sm {
            Some(sm) => {
                out["roleArn"] = json!(sm.role_arn);
                out["updateDate"] = secs(sm.updated_ms);
            }
            None => {
                out["roleArn"] = json!("");
                out["updateDate"] = secs(rec.start_ms);
            }
        }
        if let Some(r) = run {
            out["mapRunArn"] = json!(r.arn);
            out["label"] = json!(r.label);
        }
        Ok(out)
    }

    fn list_executions(&self, req: &Value) -> ApiResult {
        // Executions are listed under their machine's name, a Map Run's
        // children under the Map Run's ARN.
        let map_run = opt_str(req, "mapRunArn")?;
        let name = match (map_run, opt_str(req, "stateMachineArn")?) {
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "give either stateMachineArn or mapRunArn, not both",
                ))
            }
            (Some(m), None) => self.map_run_by_arn(m)?.arn,
            (None, _) => {
                let arn = str_field(req, "stateMachineArn")?;
                let (name, _) = self.parse_sm_arn(arn)?;
                if self.engine.store().machine(name)?.is_none() {
                    return Err(ApiError::new(
                        Kind::StateMachineDoesNotExist,
                        format!("State Machine Does Not Exist: '{arn}'"),
                    ));
                }
                name.to_string()
            }
        };
        let name = name.as_str();
        let status = opt_str(req, "statusFilter")?;
        if let Some(s) = status {
            if !matches!(
                s,
                "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "PENDING_REDRIVE"
            ) {
                return Err(ApiError::validation(format!(
                    "statusFilter '{s}' is not a valid status"
                )));
            }
        }
        let (max, after) = page(req)?;
        let after = after
            .map(|t| hex_decode(&t))
            .transpose()
            .map_err(|_| ApiError::new(Kind::InvalidToken, "Invalid Token"))?;
        let mut items = Vec::new();
        let mut next = None;
        let mut last_key = Vec::new();
        for r in self.engine.store().executions_of(name) {
            let (k, id) = r?;
            if after.as_ref().is_some_and(|a| k <= *a) {
                continue;
            }
            let Some(rec) = self.engine.store().execution(id)? else {
                continue;
            };
            if status.is_some_and(|s| rec.status != s) {
                continue;
            }
            if items.len() == max {
                next = Some(token(&sigv4::hex(&last_key)));
                break;
            }
            let mut e = json!({"executionArn": rec.arn, "stateMachineArn": rec.sm_arn, "name": rec.name, "status": rec.status, "startDate": secs(rec.start_ms), "redriveCount": rec.redrive_count});
            if let Some(t) = rec.stop_ms {
                e["stopDate"] = secs(t);
            }
            if let Some(m) = map_run {
                e["mapRunArn"] = json!(m);
            }
            items.push(e);
            last_key = k;
        }
        let mut out = json!({"executions": items});
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    async fn stop_execution(&self, req: &Value) -> ApiResult {
        let rec = self.execution_by_arn(req)?;
        let error = opt_str(req, "error")?;
        let cause = opt_str(req, "cause")?;
        if error.is_some_and(|e| e.chars().count() > 256) {
            return Err(ApiError::validation("error must be at most 256 characters"));
        }
        if cause.is_some_and(|c| c.chars().count() > 32768) {
            return Err(ApiError::validation("cause must be at most 32768 characters"));
        }
        let id = rec.id;
        let rec = self.engine.stop_execution(&rec.arn, error, cause).await?;
        if self.cfg.cleanup_on_stop {
            self.clean_up_after_stop(id, &rec.arn)?;
        }
        Ok(json!({"stopDate": secs(rec.stop_ms.unwrap_or(rec.start_ms))}))
    }

    /// Deletes, in the background, the EKS resources a stopped execution
    /// created and did not delete (as its history shows), and logs what was
    /// removed. `aslan executions cleanup` does the same on demand, and again
    /// if the server stops before it finishes.
    #[cfg(feature = "eks")]
    fn clean_up_after_stop(&self, id: u64, arn: &str) -> Result<(), ApiError> {
        use crate::tasks::eks::{api::EksApi, cleanup};
        let events = self.engine.store().history(id)?;
        let left = cleanup::leftovers(&events, &self.cfg.region);
        if left.is_empty() {
            return Ok(());
        }
        let arn = arn.to_string();
        tokio::spawn(async move {
            let report = |r: &cleanup::Removal| {
                // A warning: the execution had left these behind.
                tracing::warn!(execution = %arn, resource = ?r.target, result = %r.result, "cleanup after StopExecution");
            };
            cleanup::clean_up(&EksApi::default(), &left, std::time::Duration::from_secs(1800), report).await;
        });
        Ok(())
    }

    #[cfg(not(feature = "eks"))]
    fn clean_up_after_stop(&self, _id: u64, _arn: &str) -> Result<(), ApiError> {
        Ok(())
    }

    fn get_execution_history(&self, req: &Value) -> ApiResult {
        let rec = self.execution_by_arn(req)?;
        let (max, after) = page(req)?;
        let reverse = req.get("reverseOrder").and_then(Value::as_bool).unwrap_or(false);
        let include_data = req.get("includeExecutionData").and_then(Value::as_bool).unwrap_or(true);
        let start = after
            .as_deref()
            .map(|t| history_token(t, usize::MAX))
            .transpose()?
            .unwrap_or(0);
        // Only the page is read from the store, not the whole history.
        let (mut page, len) = self.engine.store().history_page(rec.id, start, max, reverse)?;
        if start > len {
            return Err(ApiError::new(Kind::InvalidToken, "Invalid Token"));
        }
        let end = start + page.len();
        if !include_data {
            for e in &mut page {
                strip_data(e);
            }
        }
        let mut out = json!({"events": page});
        if end < len {
            out["nextToken"] = json!(token(&end.to_string()));
        }
        Ok(out)
    }

    async fn redrive_execution(&self, req: &Value) -> ApiResult {
        let rec = self.execution_by_arn(req)?;
        let rec = self.engine.redrive_execution(&rec.arn).await?;
        Ok(json!({"redriveDate": secs(rec.redrive_ms.unwrap_or_else(|| self.now()))}))
    }

    fn validate_definition(&self, req: &Value) -> ApiResult {
        let definition = str_field(req, "definition")?;
        let diagnostics: Vec<Value> = self
            .diagnostics(definition)
            .iter()
            .map(|d| json!({"severity": "ERROR", "code": d.code, "message": d.message, "location": d.location}))
            .collect();
        Ok(
            json!({"result": if diagnostics.is_empty() { "OK" } else { "FAIL" }, "diagnostics": diagnostics, "truncated": false}),
        )
    }

    async fn test_state(&self, req: &Value) -> ApiResult {
        match tokio::time::timeout(TEST_STATE_LIMIT, testing::test_state(self, req)).await {
            Ok(r) => r,
            Err(_) => Err(ApiError::validation(format!(
                "TestState ran longer than {} seconds",
                TEST_STATE_LIMIT.as_secs()
            ))),
        }
    }
}

fn items_last_name(items: &[Value]) -> String {
    items
        .last()
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Decodes hexadecimal (either case); anything else, including non-ASCII
/// text, is an error, never a panic.
fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or(());
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(());
    }
    b.chunks_exact(2)
        .map(|p| Ok((digit(p[0])? << 4) | digit(p[1])?))
        .collect()
}

/// Decodes a GetExecutionHistory position token: an event index no
/// further than the end of the `len` events.
fn history_token(t: &str, len: usize) -> Result<usize, ApiError> {
    t.parse()
        .ok()
        .filter(|&i| i <= len)
        .ok_or_else(|| ApiError::new(Kind::InvalidToken, "Invalid Token"))
}

/// Removes input and output payloads from an event's details
/// (`includeExecutionData: false`).
fn strip_data(e: &mut Value) {
    if let Some(o) = e.as_object_mut() {
        for (k, v) in o.iter_mut() {
            if k.ends_with("EventDetails") {
                if let Some(d) = v.as_object_mut() {
                    for f in ["input", "output", "parameters"] {
                        d.remove(f);
                    }
                    for f in ["inputDetails", "outputDetails"] {
                        if d.contains_key(f) {
                            d.insert(f.into(), json!({"truncated": false}));
                        }
                    }
                }
            }
        }
    }
}

/// A random version-4 UUID (for generated execution names).
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod token_tests {
    use super::*;

    /// What ListExecutions does with a nextToken: `page`, then `hex_decode`.
    fn executions_position(token: &str) -> Result<Vec<u8>, &'static str> {
        let (_, t) = page(&json!({ "nextToken": token })).map_err(|e| e.kind.as_str())?;
        hex_decode(&t.expect("a token")).map_err(|_| "InvalidToken")
    }

    #[test]
    fn any_list_executions_token_is_decoded_or_refused_never_a_panic() {
        let issued = token(&sigv4::hex(&[0x00, 0x7f, 0xab, 0xff]));
        assert_eq!(executions_position(&issued), Ok(vec![0x00, 0x7f, 0xab, 0xff]));
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for bad in [
            // Decodes to non-ASCII text of even byte length whose second
            // byte is inside a character: slicing by bytes panicked here.
            b64("a\u{e9}b"),
            b64("\u{e9}\u{e9}"),
            b64("\u{1f600}"),
            b64("abc"),
            b64("zz"),
            b64("+f"),
            b64(" 0"),
            "\u{e9}t\u{e9}".to_string(),
            "abc".to_string(),
            "!!!".to_string(),
            "====".to_string(),
            String::new(),
        ] {
            assert_eq!(executions_position(&bad), Err("InvalidToken"), "{bad:?}");
        }
        let e = page(&json!({"nextToken": "\u{e9}"})).unwrap_err();
        assert_eq!((e.kind, e.kind.status()), (Kind::InvalidToken, StatusCode::BAD_REQUEST));
    }

    #[test]
    fn history_tokens_are_indexes_within_the_history() {
        assert_eq!(history_token("0", 10).ok(), Some(0));
        assert_eq!(history_token("10", 10).ok(), Some(10));
        for bad in [
            "11",
            "18446744073709551615",
            "99999999999999999999999",
            "-1",
            "1.5",
            "\u{e9}",
            "",
        ] {
            let e = history_token(bad, 10).unwrap_err();
            assert_eq!(
                (e.kind, e.kind.status()),
                (Kind::InvalidToken, StatusCode::BAD_REQUEST),
                "{bad:?}"
            );
        }
    }
}
