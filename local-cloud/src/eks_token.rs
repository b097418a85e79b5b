//! EKS bearer tokens: `k8s-aws-v1.` + unpadded URL-safe base64 of a presigned STS
//! `GetCallerIdentity` URL whose signed headers are `host;x-k8s-aws-id`.
//!
//! A real EKS control plane hands the URL to STS; the emulator instead recomputes the SigV4
//! presigned signature (with the `aws-sigv4` crate) from its own `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`, for each cluster name it knows (the `x-k8s-aws-id` header value is
//! signed but not carried in the URL), and compares.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use std::time::{Duration, SystemTime};

/// The token prefix.
pub const PREFIX: &str = "k8s-aws-v1.";
/// The longest validity a token may claim (as aws-iam-authenticator allows).
pub const MAX_EXPIRES: u64 = 15 * 60;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// It does not start with `k8s-aws-v1.`.
    #[error("not an EKS token")]
    NotEks,
    /// It is not a presigned GetCallerIdentity URL.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The emulator has no AWS credentials to check it with.
    #[error("no AWS credentials configured in the emulator")]
    NoCredentials,
    /// Another access key id signed it.
    #[error("signed with another access key id")]
    WrongKey,
    /// It has expired (or is dated in the future).
    #[error("token expired")]
    Expired,
    /// The signature does not verify (for any known cluster name).
    #[error("signature does not match")]
    BadSignature,
}

/// A verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The access key id that signed it.
    pub access_key_id: String,
    /// The cluster name it was made for.
    pub cluster: String,
    /// The region of the STS endpoint.
    pub region: String,
}

/// The AWS credentials the emulator trusts.
#[derive(Debug, Clone)]
pub struct AwsKeys {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
}

impl AwsKeys {
    /// The credentials aws-sigv4 signs with: these keys and the request's
    /// session token, if any.
    pub fn credentials(&self, session_token: Option<&str>) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            session_token.map(String::from),
            None,
            "aslan-local-cloud",
        )
    }

    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub fn from_env() -> Option<AwsKeys> {
        let access_key_id = std::env::var("AWS_ACCESS_KEY_ID").ok().filter(|s| !s.is_empty())?;
        let secret_access_key = std::env::var("AWS_SECRET_ACCESS_KEY").ok().filter(|s| !s.is_empty())?;
        Some(AwsKeys {
            access_key_id,
            secret_access_key,
        })
    }
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i16>().ok();
    let dt = jiff::civil::date(n(0, 4)?, n(4, 6)? as i8, n(6, 8)? as i8).at(
        n(9, 11)? as i8,
        n(11, 13)? as i8,
        n(13, 15)? as i8,
        0,
    );
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(ts.as_second()).ok()?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The presigned signature for `url_base` (without the X-Amz signing parameters) as made at
/// `time` for `cluster`.
#[allow(clippy::too_many_arguments)]
fn presign(
    keys: &AwsKeys,
    session_token: Option<&str>,
    host: &str,
    url_base: &str,
    region: &str,
    time: SystemTime,
    expires: u64,
    cluster: &str,
    unsigned_payload: bool,
) -> Option<String> {
    let identity = keys.credentials(session_token).into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let headers = [("host", host), ("x-k8s-aws-id", cluster)];
    let body = if unsigned_payload {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(&[])
    };
    let req = SignableRequest::new("GET", url_base, headers.into_iter(), body).ok()?;
    let (instructions, _sig) = sign(req, &params).ok()?.into_parts();
    instructions
        .params()
        .iter()
        .find(|(k, _)| *k == "X-Amz-Signature")
        .map(|(_, v)| v.to_string())
}

/// Makes a token for `cluster` (as `aws eks get-token` does); used by tests and clients.
pub fn make_token(keys: &AwsKeys, region: &str, cluster: &str, time: SystemTime) -> String {
    let host = format!("sts.{region}.amazonaws.com");
    let base = format!("https://{host}/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = keys.credentials(None).into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(time)
        .settings(settings)
        .build();
    let Ok(params) = params else { return String::new() };
    let params = params.into();
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let Ok(req) = SignableRequest::new("GET", &base, headers.into_iter(), SignableBody::Bytes(&[])) else {
        return String::new();
    };
    let Ok(out) = sign(req, &params) else {
        return String::new();
    };
    let (instructions, _) = out.into_parts();
    let mut url = base;
    for (k, v) in instructions.params() {
        url.push('&');
        url.push_str(k);
        url.push('=');
        url.push_str(&percent_encode(v));
    }
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

fn percent_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Verifies `token` against `keys`, trying each known cluster name; `now` is the current time.
pub fn verify(
    token: &str,
    keys: Option<&AwsKeys>,
    clusters: &[String],
    now: SystemTime,
) -> Result<Identity, TokenError> {
    let encoded = token.strip_prefix(PREFIX).ok_or(TokenError::NotEks)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
    let url = String::from_utf8(raw).map_err(|_| TokenError::Malformed("not UTF-8".into()))?;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| TokenError::Malformed("not an https URL".into()))?;
    let (host, query) = rest
        .split_once("/?")
        .ok_or_else(|| TokenError::Malformed("no query".into()))?;
    let region = if host == "sts.amazonaws.com" {
        "us-east-1".to_string()
    } else {
        let r = host
            .strip_prefix("sts.")
            .and_then(|h| {
                h.strip_suffix(".amazonaws.com")
                    .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
            })
            .ok_or_else(|| TokenError::Malformed(format!("unexpected host {host}")))?;
        r.to_string()
    };
    let mut base_params = Vec::new();
    let (mut credential, mut date, mut expires, mut signed_headers, mut signature, mut algorithm, mut session) =
        (None, None, None, None, None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "X-Amz-Credential" => credential = Some(v.into_owned()),
            "X-Amz-Date" => date = Some(v.into_owned()),
            "X-Amz-Expires" => expires = Some(v.into_owned()),
            "X-Amz-SignedHeaders" => signed_headers = Some(v.into_owned()),
            "X-Amz-Signature" => signature = Some(v.into_owned()),
            "X-Amz-Algorithm" => algorithm = Some(v.into_owned()),
            "X-Amz-Security-Token" => session = Some(v.into_owned()),
            _ => base_params.push((k.into_owned(), v.into_owned())),
        }
    }
    let missing = |what: &str| TokenError::Malformed(format!("missing {what}"));
    let credential = credential.ok_or_else(|| missing("X-Amz-Credential"))?;
    let date = date.ok_or_else(|| missing("X-Amz-Date"))?;
    let expires = expires.ok_or_else(|| missing("X-Amz-Expires"))?;
    let signature = signature.ok_or_else(|| missing("X-Amz-Signature"))?;
    if algorithm.as_deref() != Some("AWS4-HMAC-SHA256") {
        return Err(TokenError::Malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256".into()));
    }
    if signed_headers.as_deref() != Some("host;x-k8s-aws-id") {
        return Err(TokenError::Malformed(
            "X-Amz-SignedHeaders must be host;x-k8s-aws-id".into(),
        ));
    }
    let action = base_params.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str());
    if action != Some("GetCallerIdentity") {
        return Err(TokenError::Malformed("Action must be GetCallerIdentity".into()));
    }
    let keys = keys.ok_or(TokenError::NoCredentials)?;
    let mut scope = credential.split('/');
    let key_id = scope.next().unwrap_or("");
    let _day = scope.next();
    let scope_region = scope.next().unwrap_or("");
    if key_id != keys.access_key_id {
        return Err(TokenError::WrongKey);
    }
    if scope_region != region {
        return Err(TokenError::Malformed(
            "credential scope region does not match the host".into(),
        ));
    }
    let expires: u64 = expires
        .parse()
        .map_err(|_| TokenError::Malformed("bad X-Amz-Expires".into()))?;
    if expires == 0 || expires > MAX_EXPIRES {
        return Err(TokenError::Malformed(format!(
            "X-Amz-Expires must be 1..={MAX_EXPIRES}"
        )));
    }
    let signed_at = parse_amz_date(&date).ok_or_else(|| TokenError::Malformed("bad X-Amz-Date".into()))?;
    if now > signed_at + Duration::from_secs(expires) || signed_at > now + Duration::from_secs(5 * 60) {
        return Err(TokenError::Expired);
    }
    let mut url_base = format!("https://{host}/?");
    url_base.push_str(
        &base_params
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&"),
    );
    for cluster in clusters {
        for unsigned in [false, true] {
            let expect = presign(
                keys,
                session.as_deref(),
                host,
                &url_base,
                &region,
                signed_at,
                expires,
                cluster,
                unsigned,
            );
            if expect.is_some_and(|e| constant_time_eq(e.as_bytes(), signature.as_bytes())) {
                return Ok(Identity {
                    access_key_id: key_id.to_string(),
                    cluster: cluster.clone(),
                    region,
                });
            }
        }
    }
    Err(TokenError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AwsKeys {
        AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    fn clusters() -> Vec<String> {
        vec!["other".into(), "my-cluster".into()]
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_cluster() {
        let now = SystemTime::now();
        let t = make_token(&keys(), "eu-west-1", "my-cluster", now);
        assert!(t.starts_with(PREFIX));
        let id = verify(&t, Some(&keys()), &clusters(), now).unwrap();
        assert_eq!(id.cluster, "my-cluster");
        assert_eq!(id.region, "eu-west-1");
        assert_eq!(id.access_key_id, "AKIDEXAMPLE");
    }

    #[test]
    fn tampering_is_refused() {
        let now = SystemTime::now();
        let t = make_token(&keys(), "eu-west-1", "my-cluster", now);
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&t[PREFIX.len()..])
            .unwrap();
        let url = String::from_utf8(raw).unwrap();
        // Another action.
        let bad = url.replace("GetCallerIdentity", "AssumeRole");
        let bad_t = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bad)
        );
        assert!(verify(&bad_t, Some(&keys()), &clusters(), now).is_err());
        // Another signature.
        let pos = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let mut bytes = url.into_bytes();
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        let bad_t = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        assert_eq!(
            verify(&bad_t, Some(&keys()), &clusters(), now),
            Err(TokenError::BadSignature)
        );
        // An unknown cluster name.
        let t2 = make_token(&keys(), "eu-west-1", "unknown", now);
        assert_eq!(
            verify(&t2, Some(&keys()), &clusters(), now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn other_keys_and_expiry_are_refused() {
        let now = SystemTime::now();
        let t = make_token(&keys(), "us-east-1", "my-cluster", now);
        let other = AwsKeys {
            access_key_id: "AKIDOTHER".into(),
            secret_access_key: "x".into(),
        };
        assert_eq!(verify(&t, Some(&other), &clusters(), now), Err(TokenError::WrongKey));
        let same_id_other_secret = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "nope".into(),
        };
        assert_eq!(
            verify(&t, Some(&same_id_other_secret), &clusters(), now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(verify(&t, None, &clusters(), now), Err(TokenError::NoCredentials));
        let later = now + Duration::from_secs(61);
        assert_eq!(verify(&t, Some(&keys()), &clusters(), later), Err(TokenError::Expired));
        assert_eq!(
            verify("plain", Some(&keys()), &clusters(), now),
            Err(TokenError::NotEks)
        );
    }
}
