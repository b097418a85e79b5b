//! Who Task states are to the cluster: an EKS token made from the standard
//! AWS credential chain, or credentials configured per cluster name
//! ([`crate::config`]).
//!
//! An EKS token is `k8s-aws-v1.` followed by the unpadded URL-safe base64 of
//! a presigned STS `GetCallerIdentity` URL whose signature covers the
//! header `x-k8s-aws-id: <ClusterName>`, as `aws eks get-token` and
//! aws-iam-authenticator make it. EKS accepts it for 15 minutes from its
//! signing time; clients are rebuilt with a fresh token after
//! [`EKS_TOKEN_REUSE`]. Tokens are kept in `SecretString`s and never logged.

use crate::config::ClusterCredentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How long a client built with an EKS token is used before it is rebuilt
/// with a new one (EKS accepts a token for 15 minutes).
pub const EKS_TOKEN_REUSE: Duration = Duration::from_secs(10 * 60);

/// What the presigned URL says it is valid for; `aws eks get-token` uses
/// the same. EKS itself accepts the token for 15 minutes regardless.
const PRESIGN_EXPIRES: Duration = Duration::from_secs(60);

/// The credentials for one cluster.
pub enum Credential {
    /// A bearer token (configured, or an EKS token).
    Token(secrecy::SecretString),
    /// A kubeconfig context's user.
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// The context (default: the current one).
        context: Option<String>,
    },
}

/// Hands out credentials per cluster.
pub struct Auth {
    clusters: BTreeMap<String, ClusterCredentials>,
}

impl Auth {
    /// Configured credentials for the named clusters; EKS tokens for the
    /// rest.
    pub fn new(clusters: BTreeMap<String, ClusterCredentials>) -> Auth {
        Auth { clusters }
    }

    /// Whether `cluster` uses an EKS token (which must be refreshed).
    pub fn uses_eks_token(&self, cluster: &str) -> bool {
        !self.clusters.contains_key(cluster)
    }

    /// The credential for `cluster`; `region` is where an EKS token is
    /// signed.
    pub async fn credential(&self, cluster: &str, region: &str) -> Result<Credential, String> {
        if let Some(c) = self.clusters.get(cluster) {
            return Ok(match (&c.token, &c.kubeconfig) {
                (Some(t), _) => Credential::Token(t.clone().into()),
                (None, Some(p)) => Credential::Kubeconfig {
                    path: p.clone(),
                    context: c.context.clone(),
                },
                (None, None) => return Err(format!("no credentials configured for cluster {cluster}")),
            });
        }
        let provider = crate::tasks::aws::sdk_config()
            .await
            .credentials_provider()
            .ok_or_else(|| {
                format!("cannot make an EKS token for cluster {cluster}: no AWS credential provider is configured")
            })?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            format!(
                "cannot make an EKS token for cluster {cluster}: no AWS credentials ({e}); configure [clusters.{cluster}] in the engine configuration for a cluster that is not EKS"
            )
        })?;
        let token = eks_token(&creds, cluster, region, SystemTime::now())?;
        Ok(Credential::Token(token.into()))
    }
}

/// The region an EKS endpoint is in (`https://X.yl4.us-west-2.eks.amazonaws.com`),
/// if the host says.
pub fn endpoint_region(endpoint: &str) -> Option<&str> {
    let host = endpoint.strip_prefix("https://")?.split(['/', ':']).next()?;
    let rest = host.strip_suffix(".eks.amazonaws.com")?;
    rest.rsplit('.').next().filter(|r| !r.is_empty())
}

/// An EKS token for `cluster`, signed for `region` at `now` with the
/// `aws-sigv4` crate.
pub fn eks_token(creds: &Credentials, cluster: &str, region: &str, now: SystemTime) -> Result<String, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRES);
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("cannot sign an EKS token: {e}"))?
        .into();
    let host = format!("sts.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let signable = SignableRequest::new("GET", url.clone(), headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("cannot sign an EKS token: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("cannot sign an EKS token: {e}"))?
        .into_parts();
    let mut req = http::Request::get(&url)
        .body(())
        .map_err(|e| format!("cannot sign an EKS token: {e}"))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(req.uri().to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eks_token_is_a_presigned_get_caller_identity_url() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let t = eks_token(&creds, "MyCluster", "us-west-2", at).unwrap();
        let b64 = t.strip_prefix("k8s-aws-v1.").expect("prefix");
        assert!(
            !b64.contains('=') && !b64.contains('+') && !b64.contains('/'),
            "unpadded URL-safe: {b64}"
        );
        let url = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap();
        assert!(
            url.starts_with("https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"),
            "{url}"
        );
        for want in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20251124%2Fus-west-2%2Fsts%2Faws4_request",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Expires=60",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(want), "{want} not in {url}");
        }
        // The signature covers the cluster name: another cluster, another token.
        assert_ne!(t, eks_token(&creds, "Other", "us-west-2", at).unwrap());
        // A session token goes into the URL.
        let sess = Credentials::new("AKID", "secret", Some("SESSION".into()), None, "test");
        let t = eks_token(&sess, "c", "us-east-1", at).unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.strip_prefix("k8s-aws-v1.").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(url.contains("X-Amz-Security-Token=SESSION"), "{url}");
    }

    #[test]
    fn the_region_comes_from_an_eks_endpoint() {
        assert_eq!(
            endpoint_region("https://ABC.yl4.us-west-2.eks.amazonaws.com"),
            Some("us-west-2")
        );
        assert_eq!(
            endpoint_region("https://ABC.gr7.eu-central-1.eks.amazonaws.com/"),
            Some("eu-central-1")
        );
        assert_eq!(endpoint_region("https://127.0.0.1:6443"), None);
    }
}
