//! AWS Signature Version 4: verifying requests to the server and signing
//! the CLI's requests to it.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// An access key pair.
#[derive(Clone)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never logged).
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Why a request's signature was refused, as AWS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// `MissingAuthenticationToken`, `UnrecognizedClientException`,
    /// `InvalidSignatureException` or `IncompleteSignature`.
    pub kind: &'static str,
    /// Explanation.
    pub message: String,
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Lowercase hexadecimal.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// A request as the signature covers it.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path, e.g. `/`.
    pub path: &'a str,
    /// Raw query string (may be empty).
    pub query: &'a str,
    /// Headers as (lowercase name, value).
    pub headers: &'a [(String, String)],
    /// Body bytes.
    pub body: &'a [u8],
}

fn canonical_query(q: &str) -> String {
    let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// The signature of `req` for `signed_headers` (sorted, lowercase) at
/// `amz_date` (`YYYYMMDDTHHMMSSZ`) in `scope` (`date/region/service/aws4_request`).
pub fn signature(
    req: &SignedRequest<'_>,
    signed_headers: &[&str],
    amz_date: &str,
    scope: &str,
    secret: &str,
) -> String {
    let mut canonical_headers = String::new();
    for h in signed_headers {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n == h)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{h}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        canonical_headers,
        signed_headers.join(";"),
        sha256_hex(req.body)
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut parts = scope.split('/');
    let (date, region, service) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    hex(&hmac(&k, to_sign.as_bytes()))
}

/// Verifies a request's `Authorization` header against `creds`.
pub fn verify(req: &SignedRequest<'_>, creds: &Credentials) -> Result<(), AuthError> {
    let header = |n: &str| req.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let Some(auth) = header("authorization") else {
        return Err(AuthError {
            kind: "MissingAuthenticationToken",
            message: "Missing Authentication Token".into(),
        });
    };
    let incomplete = |m: &str| AuthError {
        kind: "IncompleteSignatureException",
        message: m.to_string(),
    };
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("Authorization header must use AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(sig)) = (credential, signed, sig) else {
        return Err(incomplete(
            "Authorization header requires Credential, SignedHeaders and Signature",
        ));
    };
    let (akid, scope) = credential
        .split_once('/')
        .ok_or_else(|| incomplete("malformed Credential"))?;
    if akid != creds.access_key_id {
        return Err(AuthError {
            kind: "UnrecognizedClientException",
            message: "The security token included in the request is invalid.".into(),
        });
    }
    let amz_date = header("x-amz-date").ok_or_else(|| incomplete("missing X-Amz-Date"))?;
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if !signed_headers.contains(&"host") {
        return Err(incomplete("the host header must be signed"));
    }
    let expected = signature(req, &signed_headers, amz_date, scope, &creds.secret_access_key);
    // Constant-time comparison.
    let ok = expected.len() == sig.len() && expected.bytes().zip(sig.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    if !ok {
        return Err(AuthError {
            kind: "InvalidSignatureException",
            message: "The request signature we calculated does not match the signature you provided.".into(),
        });
    }
    Ok(())
}

/// Signs a request: returns the `X-Amz-Date` and `Authorization` header values.
/// `headers` must include `host`; every header given is signed.
pub fn sign(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (String, String) {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{}/{region}/{service}/aws4_request", now.format("%Y%m%d"));
    let mut names: Vec<String> = req.headers.iter().map(|(n, _)| n.clone()).collect();
    names.push("x-amz-date".into());
    names.sort();
    names.dedup();
    let mut headers = req.headers.to_vec();
    headers.push(("x-amz-date".into(), amz_date.clone()));
    let full = SignedRequest {
        headers: &headers,
        ..*req
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sig = signature(&full, &refs, &amz_date, &scope, &creds.secret_access_key);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
        creds.access_key_id,
        refs.join(";")
    );
    (amz_date, auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    #[test]
    fn matches_the_aws_test_suite_get_vanilla() {
        // From AWS's SigV4 test suite ("get-vanilla").
        let headers = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let sig = signature(
            &req,
            &["host", "x-amz-date"],
            "20150830T123600Z",
            "20150830/us-east-1/service/aws4_request",
            &creds().secret_access_key,
        );
        assert_eq!(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let headers = vec![
            ("host".to_string(), "127.0.0.1:8083".to_string()),
            (
                "x-amz-target".to_string(),
                "AWSStepFunctions.ListStateMachines".to_string(),
            ),
        ];
        let body = br#"{}"#;
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let (date, auth) = sign(&req, &creds(), "us-east-1", "states", chrono::Utc::now());
        let mut all = headers.clone();
        all.push(("x-amz-date".into(), date));
        all.push(("authorization".into(), auth));
        let ok = SignedRequest { headers: &all, ..req };
        assert_eq!(verify(&ok, &creds()), Ok(()));
        let tampered = SignedRequest {
            body: br#"{"a":1}"#,
            ..ok
        };
        assert_eq!(
            verify(&tampered, &creds()).unwrap_err().kind,
            "InvalidSignatureException"
        );
        let other = Credentials {
            access_key_id: "OTHER".into(),
            ..creds()
        };
        assert_eq!(verify(&ok, &other).unwrap_err().kind, "UnrecognizedClientException");
        let none = SignedRequest {
            headers: &headers,
            ..ok
        };
        assert_eq!(verify(&none, &creds()).unwrap_err().kind, "MissingAuthenticationToken");
    }
}
