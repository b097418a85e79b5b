//! Which integration patterns AWS Step Functions supports for its
//! optimized integrations, so that a definition asking for one AWS rejects
//! (`lambda:invoke.sync`, `eks:call.sync`) fails validation here too, even
//! for services Aslan does not run itself. The table follows AWS's
//! "Integrating optimized services" page; services not listed are not
//! checked. [`Catalog`] only validates: running such a task still needs a
//! mock or an integration that serves it.

use super::{unsupported, Integration, Outcome, Pattern, Resource, Task, TaskFuture};
use Pattern::{RequestResponse as Rr, Sync as S, Sync2 as S2, WaitForTaskToken as Wt};

const RR: &[Pattern] = &[Rr];
const RR_WT: &[Pattern] = &[Rr, Wt];
const RR_SYNC: &[Pattern] = &[Rr, S];
const RR_SYNC_WT: &[Pattern] = &[Rr, S, Wt];
const ALL: &[Pattern] = &[Rr, S, S2, Wt];

/// The patterns AWS supports for an optimized integration, by `service:action`
/// (`service:*` for every action of a service).
pub fn aws_patterns(operation: &str) -> Option<&'static [Pattern]> {
    let service = operation.split(':').next().unwrap_or("");
    Some(match operation {
        "eks:call" => RR,
        "eks:runJob"
        | "eks:createCluster"
        | "eks:deleteCluster"
        | "eks:createNodegroup"
        | "eks:deleteNodegroup"
        | "eks:createFargateProfile"
        | "eks:deleteFargateProfile" => RR_SYNC,
        "lambda:invoke" => RR_WT,
        "states:startExecution" => ALL,
        "ecs:runTask" | "batch:submitJob" | "glue:startJobRun" | "codebuild:startBuild" => RR_SYNC_WT,
        "sqs:sendMessage" | "sns:publish" | "events:putEvents" => RR_WT,
        "http:invoke" => RR,
        _ => match service {
            "dynamodb" => RR,
            "aws-sdk" => RR_WT,
            _ => return None,
        },
    })
}

/// An [`Integration`] that claims AWS's optimized integrations for
/// validation and fails any invocation that reaches it (nothing else served
/// it): see the module documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Catalog;

impl Integration for Catalog {
    fn patterns(&self, resource: &Resource) -> Option<&'static [Pattern]> {
        aws_patterns(&resource.operation())
    }

    fn start(&self, task: Task) -> TaskFuture {
        Box::pin(std::future::ready(Outcome::Failed(unsupported(&task.invocation))))
    }
}
