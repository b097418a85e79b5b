//! Parsing a Task state's `Resource`.

use std::fmt;

/// How Step Functions waits on a service (the resource's suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Pattern {
    /// No suffix: the call's answer is the result.
    RequestResponse,
    /// `.sync`: wait for the job to finish.
    Sync,
    /// `.sync:2`: wait, with the result in the service's own JSON shape.
    Sync2,
    /// `.waitForTaskToken`: wait for SendTaskSuccess/SendTaskFailure.
    WaitForTaskToken,
    /// An Activity ARN: wait for a worker (GetActivityTask).
    Activity,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pattern::RequestResponse => "request-response",
            Pattern::Sync => ".sync",
            Pattern::Sync2 => ".sync:2",
            Pattern::WaitForTaskToken => ".waitForTaskToken",
            Pattern::Activity => "activity",
        })
    }
}

/// A parsed `Resource`: `arn:aws:states:::eks:runJob.sync` is service
/// `eks`, action `runJob`, pattern [`Pattern::Sync`];
/// `arn:aws:states:::aws-sdk:eks:describeCluster` is service `aws-sdk`,
/// action `eks:describeCluster`; an Activity ARN is service `activity`,
/// action its name; any other ARN is its service (the third field) with an
/// empty action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    arn: String,
    service: String,
    action: String,
    pattern: Pattern,
}

impl Resource {
    /// Parses a resource. Never fails: what is not an integration ARN is a
    /// plain resource with the request-response pattern.
    pub fn parse(arn: &str) -> Resource {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let plain = |service: &str| Resource {
            arn: arn.to_string(),
            service: service.to_string(),
            action: String::new(),
            pattern: Pattern::RequestResponse,
        };
        if parts.len() < 6 || parts[0] != "arn" {
            return plain("");
        }
        if parts[2] == "states" && parts[3].is_empty() && parts[4].is_empty() {
            // arn:aws:states:::service:action[.suffix]
            let rest = parts[5];
            let (body, pattern) = if let Some(b) = rest.strip_suffix(".sync:2") {
                (b, Pattern::Sync2)
            } else if let Some(b) = rest.strip_suffix(".sync") {
                (b, Pattern::Sync)
            } else if let Some(b) = rest.strip_suffix(".waitForTaskToken") {
                (b, Pattern::WaitForTaskToken)
            } else {
                (rest, Pattern::RequestResponse)
            };
            let (service, action) = body.split_once(':').unwrap_or((body, ""));
            return Resource {
                arn: arn.to_string(),
                service: service.to_string(),
                action: action.to_string(),
                pattern,
            };
        }
        if parts[2] == "states" && parts[5].starts_with("activity:") {
            return Resource {
                arn: arn.to_string(),
                service: "activity".into(),
                action: parts[5]["activity:".len()..].to_string(),
                pattern: Pattern::Activity,
            };
        }
        plain(parts[2])
    }

    /// The resource as written.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The service (`eks`, `lambda`, `aws-sdk`, `activity`, ...).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The action (`runJob`, `invoke`, `eks:describeCluster`, an Activity's name).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The integration pattern.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The resource without its pattern suffix, as integrations match it:
    /// `eks:runJob`.
    pub fn operation(&self) -> String {
        if self.action.is_empty() {
            self.service.clone()
        } else {
            format!("{}:{}", self.service, self.action)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_patterns_and_activities() {
        let r = Resource::parse("arn:aws:states:::eks:runJob.sync");
        assert_eq!((r.service(), r.action(), r.pattern()), ("eks", "runJob", Pattern::Sync));
        let r = Resource::parse("arn:aws:states:::states:startExecution.sync:2");
        assert_eq!(r.pattern(), Pattern::Sync2);
        assert_eq!(r.operation(), "states:startExecution");
        let r = Resource::parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        assert_eq!(
            (r.service(), r.action(), r.pattern()),
            ("sqs", "sendMessage", Pattern::WaitForTaskToken)
        );
        let r = Resource::parse("arn:aws:states:::aws-sdk:eks:describeCluster");
        assert_eq!((r.service(), r.action()), ("aws-sdk", "eks:describeCluster"));
        let r = Resource::parse("arn:aws:states:us-east-1:123456789012:activity:resize");
        assert_eq!(
            (r.service(), r.action(), r.pattern()),
            ("activity", "resize", Pattern::Activity)
        );
        let r = Resource::parse("arn:aws:lambda:us-east-1:123456789012:function:f");
        assert_eq!((r.service(), r.pattern()), ("lambda", Pattern::RequestResponse));
        let r = Resource::parse("not an arn");
        assert_eq!((r.service(), r.pattern()), ("", Pattern::RequestResponse));
    }
}
