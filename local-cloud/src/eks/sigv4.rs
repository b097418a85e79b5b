//! Verifying the SigV4 `Authorization` header of an EKS API request: the signature is
//! recomputed with the `aws-sigv4` crate over the headers the client says it signed, with the
//! emulator's own credentials, and compared (as [`crate::eks_token`] does for presigned URLs).

use super::error::EksError;
use crate::eks_token::AwsKeys;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// What a verified (or merely parsed) `Authorization` header says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// The access key id.
    pub access_key_id: String,
    /// The region of the credential scope.
    pub region: String,
}

struct Parsed {
    key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse(auth: &str) -> Option<Parsed> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let key_id = scope.next()?.to_string();
    let date = scope.next()?.to_string();
    let region = scope.next()?.to_string();
    let service = scope.next()?.to_string();
    if scope.next()? != "aws4_request" {
        return None;
    }
    Some(Parsed {
        key_id,
        date,
        region,
        service,
        signed_headers: signed?.split(';').map(|s| s.to_ascii_lowercase()).collect(),
        signature: signature?.to_string(),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes().get(8) != Some(&b'T') {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        n(0, 4)?,
        i8::try_from(n(4, 6)?).ok()?,
        i8::try_from(n(6, 8)?).ok()?,
        i8::try_from(n(9, 11)?).ok()?,
        i8::try_from(n(11, 13)?).ok()?,
        i8::try_from(n(13, 15)?).ok()?,
        0,
    )
    .ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(ts.as_second()).ok()?))
}

fn amz_date(t: SystemTime) -> String {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn missing_token() -> EksError {
    EksError::new(
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    )
}

fn bad_signature() -> EksError {
    EksError::new(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    )
}

/// The region and key id a request's `Authorization` header names, without verifying it.
pub fn scope_of(headers: &HeaderMap) -> Option<Scope> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let p = parse(auth)?;
    Some(Scope {
        access_key_id: p.key_id,
        region: p.region,
    })
}

/// Verifies a request signed for service `eks` with `keys`; `uri` is what the client sent
/// (path and query), `now` the current time.
pub fn verify(
    keys: &AwsKeys,
    method: &str,
    uri: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Scope, EksError> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing_token)?;
    let p = parse(auth).ok_or_else(|| {
        EksError::new(
            403,
            "IncompleteSignatureException",
            format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={auth}"),
        )
    })?;
    if p.key_id != keys.access_key_id {
        return Err(EksError::new(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if p.service != "eks" {
        return Err(EksError::new(
            403,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'eks'. ",
        ));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let date = header("x-amz-date").ok_or_else(bad_signature)?;
    let signed_at = parse_amz_date(date).ok_or_else(bad_signature)?;
    if !date.starts_with(&p.date) {
        return Err(bad_signature());
    }
    let skew = Duration::from_secs(5 * 60);
    if signed_at + skew < now || signed_at > now + skew {
        return Err(EksError::new(
            403,
            "InvalidSignatureException",
            format!(
                "Signature expired: {date} is now earlier than {} ({} - 5 min.)",
                amz_date(now - skew),
                amz_date(now)
            ),
        ));
    }
    let session_token = header("x-amz-security-token");
    let mut signed: Vec<(String, String)> = Vec::new();
    for name in &p.signed_headers {
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let value = if name == "host" {
            header("host").unwrap_or("")
        } else {
            header(name).ok_or_else(bad_signature)?
        };
        signed.push((name.clone(), value.to_string()));
    }
    let host = header("host").unwrap_or("localhost");
    let url = format!("http://{host}{uri}");
    let identity = keys.credentials(session_token).into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&p.region)
        .name("eks")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| bad_signature())?
        .into();
    let req = SignableRequest::new(
        method,
        &url,
        signed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|_| bad_signature())?;
    let (_, expect) = sign(req, &params).map_err(|_| bad_signature())?.into_parts();
    if constant_time_eq(expect.as_bytes(), p.signature.as_bytes()) {
        Ok(Scope {
            access_key_id: p.key_id,
            region: p.region,
        })
    } else {
        Err(bad_signature())
    }
}

/// Signs a request as an SDK would (for tests): returns the headers to add
/// (`x-amz-date`, `authorization`, and `x-amz-security-token` with a session token).
pub fn sign_request(
    keys: &AwsKeys,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Vec<(String, String)> {
    let identity = keys.credentials(None).into();
    let Ok(params) = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("eks")
        .time(time)
        .settings(SigningSettings::default())
        .build()
    else {
        return Vec::new();
    };
    let params = params.into();
    let Ok(req) = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)) else {
        return Vec::new();
    };
    let Ok(out) = sign(req, &params) else {
        return Vec::new();
    };
    let (instructions, _) = out.into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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

    fn signed(keys: &AwsKeys, body: &[u8], t: SystemTime) -> HeaderMap {
        let base = [("host", "127.0.0.1:4000"), ("content-type", "application/json")];
        let mut h = HeaderMap::new();
        for (k, v) in base {
            h.insert(http::HeaderName::from_static(k), v.parse().unwrap());
        }
        for (k, v) in sign_request(
            keys,
            "eu-west-1",
            "POST",
            "http://127.0.0.1:4000/clusters?x=1",
            &base,
            body,
            t,
        ) {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_does_not() {
        let now = SystemTime::now();
        let h = signed(&keys(), b"{}", now);
        let s = verify(&keys(), "POST", "/clusters?x=1", &h, b"{}", now).unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(
            verify(&keys(), "POST", "/clusters?x=1", &h, b"{ }", now)
                .unwrap_err()
                .name,
            "InvalidSignatureException"
        );
        assert_eq!(
            verify(&keys(), "POST", "/clusters?x=2", &h, b"{}", now)
                .unwrap_err()
                .name,
            "InvalidSignatureException"
        );
        assert_eq!(
            verify(&keys(), "GET", "/clusters?x=1", &h, b"{}", now)
                .unwrap_err()
                .name,
            "InvalidSignatureException"
        );
        let other = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "other".into(),
        };
        assert_eq!(
            verify(&other, "POST", "/clusters?x=1", &h, b"{}", now)
                .unwrap_err()
                .name,
            "InvalidSignatureException"
        );
        let other_id = AwsKeys {
            access_key_id: "AKIDOTHER".into(),
            secret_access_key: "x".into(),
        };
        assert_eq!(
            verify(&other_id, "POST", "/clusters?x=1", &h, b"{}", now)
                .unwrap_err()
                .name,
            "UnrecognizedClientException"
        );
        let late = now + Duration::from_secs(600);
        let e = verify(&keys(), "POST", "/clusters?x=1", &h, b"{}", late).unwrap_err();
        assert!(e.message.starts_with("Signature expired: "), "{}", e.message);
        assert_eq!(
            verify(&keys(), "POST", "/clusters", &HeaderMap::new(), b"", now)
                .unwrap_err()
                .name,
            "MissingAuthenticationTokenException"
        );
    }
}
