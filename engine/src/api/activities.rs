//! Activities and task tokens: CreateActivity, DescribeActivity,
//! ListActivities, DeleteActivity, GetActivityTask (a long poll), and
//! SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat.

use super::error::ErrorKind as Kind;
use super::{opt_str, page, secs, str_field, token, valid_name, Api, ApiError, ApiResult};
use crate::exec::durable::{CallbackError, TaskAnswer};
use crate::store::ActivityRecord;
use serde_json::{json, Value};

impl From<CallbackError> for ApiError {
    fn from(e: CallbackError) -> Self {
        let kind = match e {
            CallbackError::InvalidToken => Kind::InvalidToken,
            CallbackError::TaskDoesNotExist => Kind::TaskDoesNotExist,
            CallbackError::TaskTimedOut => Kind::TaskTimedOut,
            CallbackError::InvalidOutput(_) => Kind::InvalidOutput,
            CallbackError::Shutdown => Kind::ServiceUnavailable,
        };
        ApiError::new(kind, e.to_string())
    }
}

impl Api {
    fn activity_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:activity:{name}",
            self.cfg.region, self.cfg.account
        )
    }

    /// The Activity an ARN names, or `ActivityDoesNotExist` / `InvalidArn`.
    fn activity_by_arn(&self, arn: &str) -> Result<ActivityRecord, ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "activity" {
            return Err(ApiError::new(
                Kind::InvalidArn,
                format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
            ));
        }
        let missing = || ApiError::new(Kind::ActivityDoesNotExist, format!("Activity Does Not Exist: '{arn}'"));
        if parts[3] != self.cfg.region || parts[4] != self.cfg.account {
            return Err(missing());
        }
        self.engine.store().activity(parts[6])?.ok_or_else(missing)
    }

    pub(super) async fn create_activity(&self, req: &Value) -> ApiResult {
        let name = str_field(req, "name")?;
        if !valid_name(name) {
            return Err(ApiError::new(Kind::InvalidName, format!("Invalid Name: '{name}'")));
        }
        let _serial = self.admin.lock().await;
        // As AWS: creating an existing Activity returns it.
        if let Some(old) = self.engine.store().activity(name)? {
            return Ok(json!({"activityArn": old.arn, "creationDate": secs(old.created_ms)}));
        }
        let rec = ActivityRecord {
            name: name.to_string(),
            arn: self.activity_arn(name),
            created_ms: self.now(),
        };
        self.engine.store().put_activity(&rec).await?;
        Ok(json!({"activityArn": rec.arn, "creationDate": secs(rec.created_ms)}))
    }

    pub(super) fn describe_activity(&self, req: &Value) -> ApiResult {
        let rec = self.activity_by_arn(str_field(req, "activityArn")?)?;
        Ok(json!({"activityArn": rec.arn, "name": rec.name, "creationDate": secs(rec.created_ms)}))
    }

    pub(super) fn list_activities(&self, req: &Value) -> ApiResult {
        let (max, after) = page(req)?;
        let mut items = Vec::new();
        let mut next = None;
        for rec in self
            .engine
            .store()
            .activities()?
            .into_iter()
            .filter(|r| after.as_deref().is_none_or(|a| r.name.as_str() > a))
        {
            if items.len() == max {
                next = Some(token(&super::items_last_name(&items)));
                break;
            }
            items.push(json!({"activityArn": rec.arn, "name": rec.name, "creationDate": secs(rec.created_ms)}));
        }
        let mut out = json!({"activities": items});
        if let Some(t) = next {
            out["nextToken"] = json!(t);
        }
        Ok(out)
    }

    pub(super) async fn delete_activity(&self, req: &Value) -> ApiResult {
        let arn = str_field(req, "activityArn")?;
        let _serial = self.admin.lock().await;
        // As AWS: deleting a missing Activity succeeds.
        if let Ok(rec) = self.activity_by_arn(arn) {
            self.engine.store().delete_activity(&rec.name).await?;
        }
        Ok(json!({}))
    }

    /// Waits up to [`super::ApiConfig::activity_wait`] (60 s by default, as
    /// AWS) for a task; answers at once when one is queued, and with no
    /// `taskToken` when none came or the server is shutting down.
    pub(super) async fn get_activity_task(&self, req: &Value) -> ApiResult {
        let rec = self.activity_by_arn(str_field(req, "activityArn")?)?;
        let worker = opt_str(req, "workerName")?.map(String::from);
        if worker.as_ref().is_some_and(|w| w.chars().count() > 80) {
            return Err(ApiError::validation("workerName must be at most 80 characters"));
        }
        match self
            .engine
            .executor()
            .get_activity_task(&rec.arn, worker, self.cfg.activity_wait, &self.stopping)
            .await?
        {
            Some(t) => Ok(json!({"taskToken": t.task_token, "input": t.input})),
            None => Ok(json!({})),
        }
    }

    pub(super) async fn send_task_success(&self, req: &Value) -> ApiResult {
        let token = task_token(req)?;
        let output = str_field(req, "output")?;
        self.engine
            .executor()
            .answer_task(token, TaskAnswer::Success(output.to_string()))
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn send_task_failure(&self, req: &Value) -> ApiResult {
        let token = task_token(req)?;
        let error = opt_str(req, "error")?.map(String::from);
        let cause = opt_str(req, "cause")?.map(String::from);
        if error.as_ref().is_some_and(|e| e.chars().count() > 256) {
            return Err(ApiError::validation("error must be at most 256 characters"));
        }
        if cause.as_ref().is_some_and(|c| c.chars().count() > 32768) {
            return Err(ApiError::validation("cause must be at most 32768 characters"));
        }
        self.engine
            .executor()
            .answer_task(token, TaskAnswer::Failure { error, cause })
            .await?;
        Ok(json!({}))
    }

    pub(super) async fn send_task_heartbeat(&self, req: &Value) -> ApiResult {
        let token = task_token(req)?;
        self.engine.executor().answer_task(token, TaskAnswer::Heartbeat).await?;
        Ok(json!({}))
    }
}

fn task_token(req: &Value) -> Result<&str, ApiError> {
    let t = str_field(req, "taskToken")?;
    if t.is_empty() || t.len() > 2048 {
        return Err(ApiError::new(Kind::InvalidToken, "Invalid token"));
    }
    Ok(t)
}
