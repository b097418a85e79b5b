//! AWS Signature Version 4: verifying requests to the server and signing
//! the CLI's requests to it.

use super::error::ErrorKind;
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
    /// `InvalidSignatureException` or `IncompleteSignatureException`.
    pub kind: ErrorKind,
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

/// The service name requests to this server must be signed for.
pub const SERVICE: &str = "states";

/// How far `X-Amz-Date` may be from the server's clock, either way, in
/// minutes: AWS allows 15.
pub const MAX_SKEW_MINUTES: i64 = 15;

/// `X-Amz-Date`'s format (ISO 8601 basic format, UTC).
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// Parses an `X-Amz-Date` value, `YYYYMMDDTHHMMSSZ` exactly.
fn parse_amz_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let b = s.as_bytes();
    let shaped = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit());
    if !shaped {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(s, AMZ_DATE)
        .ok()
        .map(|t| t.and_utc())
}

/// Verifies a request's `Authorization` header against `creds`, as AWS
/// does: the request must be signed for Step Functions ([`SERVICE`]) in
/// `region`, its `X-Amz-Date` must be within [`MAX_SKEW_MINUTES`] of `now`
/// (the server's clock) and on the date of its credential scope, and the
/// signature must match. Errors carry AWS's names and messages; none
/// contains the secret key.
pub fn verify(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AuthError> {
    verify_for(req, creds, region, SERVICE, now)
}

/// [`verify`] for any service name (the AWS test suite signs for `service`).
fn verify_for(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AuthError> {
    let header = |n: &str| req.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let Some(auth) = header("authorization") else {
        return Err(AuthError {
            kind: ErrorKind::MissingAuthenticationToken,
            message: "Missing Authentication Token".into(),
        });
    };
    let incomplete = |m: &str| AuthError {
        kind: ErrorKind::IncompleteSignatureException,
        message: m.to_string(),
    };
    let invalid = |m: String| AuthError {
        kind: ErrorKind::InvalidSignatureException,
        message: m,
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
    // AWS's order: the date and its freshness, the signed headers, the
    // credential's shape, its scope, the key id, then the signature.
    let amz_date =
        header("x-amz-date").ok_or_else(|| incomplete("Authorization header requires an 'X-Amz-Date' header."))?;
    let when = parse_amz_date(amz_date).ok_or_else(|| {
        incomplete(&format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    let skew = chrono::Duration::minutes(MAX_SKEW_MINUTES);
    if when < now - skew {
        return Err(invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {MAX_SKEW_MINUTES} min.)",
            (now - skew).format(AMZ_DATE),
            now.format(AMZ_DATE)
        )));
    }
    if when > now + skew {
        return Err(invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + {MAX_SKEW_MINUTES} min.)",
            (now + skew).format(AMZ_DATE),
            now.format(AMZ_DATE)
        )));
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if !signed_headers.contains(&"host") {
        return Err(invalid(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let &[akid, scope_date, scope_region, scope_service, terminator] = parts.as_slice() else {
        return Err(incomplete(&format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    let mut wrong = Vec::new();
    if scope_region != region {
        wrong.push(format!(
            "Credential should be scoped to a valid region, not '{scope_region}'."
        ));
    }
    if scope_service != service {
        wrong.push(format!("Credential should be scoped to correct service: '{service}'."));
    }
    if terminator != "aws4_request" {
        wrong.push(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        ));
    }
    let day = &amz_date[..8];
    if scope_date != day {
        wrong.push(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{day}', from '{amz_date}'."
        ));
    }
    if !wrong.is_empty() {
        return Err(invalid(wrong.join(" ")));
    }
    if akid != creds.access_key_id {
        return Err(AuthError {
            kind: ErrorKind::UnrecognizedClientException,
            message: "The security token included in the request is invalid.".into(),
        });
    }
    let scope = &credential[akid.len() + 1..];
    let expected = signature(req, &signed_headers, amz_date, scope, &creds.secret_access_key);
    if !constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
        return Err(invalid(
            "The request signature we calculated does not match the signature you provided.".into(),
        ));
    }
    Ok(())
}

/// Compares two secrets in time that depends on their lengths only, not
/// on where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    use chrono::{DateTime, TimeZone, Utc};

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    /// The AWS SigV4 test suite's fixed time, 20150830T123600Z.
    fn suite_time() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
    }

    /// A vector of AWS's SigV4 test suite (credential scope
    /// `20150830/us-east-1/service/aws4_request`).
    struct Vector {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        /// Extra headers besides host and x-amz-date, in request order.
        headers: &'static [(&'static str, &'static str)],
        body: &'static [u8],
        signed: &'static str,
        signature: &'static str,
    }

    const SUITE: &[Vector] = &[
        Vector {
            name: "get-vanilla",
            method: "GET",
            path: "/",
            query: "",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        Vector {
            name: "get-vanilla-empty-query-key",
            method: "GET",
            path: "/",
            query: "Param1=value1",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        },
        Vector {
            name: "get-vanilla-query-order-key",
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=Value1",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
        },
        Vector {
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        },
        Vector {
            name: "get-vanilla-query-order-value",
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=value1",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694",
        },
        Vector {
            name: "get-unreserved",
            method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: "",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        },
        Vector {
            name: "get-header-value-trim",
            method: "GET",
            path: "/",
            query: "",
            headers: &[("my-header1", " value1"), ("my-header2", "\"a   b   c\"")],
            body: b"",
            signed: "host;my-header1;my-header2;x-amz-date",
            signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        },
        Vector {
            name: "get-header-key-duplicate",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("my-header1", "value2"),
                ("my-header1", "value2"),
                ("my-header1", "value1"),
            ],
            body: b"",
            signed: "host;my-header1;x-amz-date",
            signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        },
        Vector {
            name: "get-header-value-order",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("my-header1", "value4"),
                ("my-header1", "value1"),
                ("my-header1", "value3"),
                ("my-header1", "value2"),
            ],
            body: b"",
            signed: "host;my-header1;x-amz-date",
            signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        },
        Vector {
            name: "post-vanilla",
            method: "POST",
            path: "/",
            query: "",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        },
        Vector {
            name: "post-vanilla-query",
            method: "POST",
            path: "/",
            query: "Param1=value1",
            headers: &[],
            body: b"",
            signed: "host;x-amz-date",
            signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        },
        Vector {
            name: "post-header-value-case",
            method: "POST",
            path: "/",
            query: "",
            headers: &[("my-header1", "VALUE1")],
            body: b"",
            signed: "host;my-header1;x-amz-date",
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        },
        Vector {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            path: "/",
            query: "",
            headers: &[("content-type", "application/x-www-form-urlencoded")],
            body: b"Param1=value1",
            signed: "content-type;host;x-amz-date",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        },
    ];

    const SUITE_SCOPE: &str = "20150830/us-east-1/service/aws4_request";

    /// The vector's headers with its `Authorization` header, signed with `signature`.
    fn suite_headers(v: &Vector, signature: &str) -> Vec<(String, String)> {
        let mut h = vec![
            ("host".to_string(), "example.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        h.extend(v.headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        h.push((
            "authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{SUITE_SCOPE}, SignedHeaders={}, Signature={signature}",
                v.signed
            ),
        ));
        h
    }

    #[test]
    fn the_aws_test_suite_signatures_are_computed_and_verified() {
        for v in SUITE {
            let headers = suite_headers(v, v.signature);
            let req = SignedRequest {
                method: v.method,
                path: v.path,
                query: v.query,
                headers: &headers,
                body: v.body,
            };
            let names: Vec<&str> = v.signed.split(';').collect();
            let sig = signature(
                &req,
                &names,
                "20150830T123600Z",
                SUITE_SCOPE,
                &creds().secret_access_key,
            );
            assert_eq!(sig, v.signature, "{}: computed signature", v.name);
            assert_eq!(
                verify_for(&req, &creds(), "us-east-1", "service", suite_time()),
                Ok(()),
                "{}: verification",
                v.name
            );
            // One flipped hex digit must be refused.
            let mut bad = v.signature.to_string();
            bad.replace_range(..1, if bad.starts_with('0') { "1" } else { "0" });
            let headers = suite_headers(v, &bad);
            let req = SignedRequest {
                headers: &headers,
                ..req
            };
            let e = verify_for(&req, &creds(), "us-east-1", "service", suite_time()).unwrap_err();
            assert_eq!(e.kind, "InvalidSignatureException", "{}: tampered signature", v.name);
        }
    }

    /// A request signed by [`sign`] for `region` and `service` at `at`.
    fn signed_at(region: &str, service: &str, at: DateTime<Utc>) -> Vec<(String, String)> {
        let mut headers = vec![
            ("host".to_string(), "127.0.0.1:8083".to_string()),
            (
                "x-amz-target".to_string(),
                "AWSStepFunctions.ListStateMachines".to_string(),
            ),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        let (date, auth) = sign(&req, &creds(), region, service, at);
        headers.push(("x-amz-date".into(), date));
        headers.push(("authorization".into(), auth));
        headers
    }

    fn check(headers: &[(String, String)], region: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body: b"{}",
        };
        verify(&req, &creds(), region, now)
    }

    #[test]
    fn a_2015_request_for_another_region_and_service_is_refused() {
        let old = signed_at("mars-north-9", "not-states", suite_time());
        let today = Utc.with_ymd_and_hms(2024, 6, 1, 12, 10, 0).unwrap();
        assert_eq!(
            check(&old, "us-east-1", today),
            Err(AuthError {
                kind: ErrorKind::InvalidSignatureException,
                message: "Signature expired: 20150830T123600Z is now earlier than 20240601T115500Z \
                          (20240601T121000Z - 15 min.)"
                    .into(),
            })
        );
        // At the time it was signed it is still refused, for its scope.
        assert_eq!(
            check(&old, "us-east-1", suite_time()),
            Err(AuthError {
                kind: ErrorKind::InvalidSignatureException,
                message: "Credential should be scoped to a valid region, not 'mars-north-9'. \
                          Credential should be scoped to correct service: 'states'."
                    .into(),
            })
        );
        let wrong_service = signed_at("us-east-1", "not-states", suite_time());
        assert_eq!(
            check(&wrong_service, "us-east-1", suite_time()).unwrap_err().message,
            "Credential should be scoped to correct service: 'states'."
        );
        let wrong_region = signed_at("eu-west-1", "states", suite_time());
        assert_eq!(
            check(&wrong_region, "us-east-1", suite_time()).unwrap_err().message,
            "Credential should be scoped to a valid region, not 'eu-west-1'."
        );
        assert_eq!(check(&wrong_region, "eu-west-1", suite_time()), Ok(()));
    }

    #[test]
    fn x_amz_date_may_be_15_minutes_off_either_way() {
        let t = suite_time();
        let h = signed_at("us-east-1", "states", t);
        let min = |m: i64| chrono::Duration::minutes(m);
        let sec = chrono::Duration::seconds(1);
        assert_eq!(check(&h, "us-east-1", t), Ok(()));
        assert_eq!(check(&h, "us-east-1", t + min(15)), Ok(()));
        assert_eq!(check(&h, "us-east-1", t - min(15)), Ok(()));
        assert_eq!(
            check(&h, "us-east-1", t + min(15) + sec).unwrap_err().message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T125101Z - 15 min.)"
        );
        let early = check(&h, "us-east-1", t - min(15) - sec).unwrap_err();
        assert_eq!(early.kind, "InvalidSignatureException");
        assert_eq!(
            early.message,
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
             (20150830T122059Z + 15 min.)"
        );
    }

    /// `headers` with its `Authorization` header's credential replaced.
    fn with_credential(headers: &[(String, String)], credential: &str) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| {
                if n == "authorization" {
                    let rest = v.split_once(", ").expect("three parts").1;
                    (n.clone(), format!("AWS4-HMAC-SHA256 Credential={credential}, {rest}"))
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect()
    }

    #[test]
    fn the_credential_scope_is_checked_before_the_key_and_signature() {
        let t = suite_time();
        let h = signed_at("us-east-1", "states", t);
        let e = check(
            &with_credential(&h, "AKIDEXAMPLE/20150831/us-east-1/states/aws4_request"),
            "us-east-1",
            t,
        )
        .unwrap_err();
        assert_eq!(
            e,
            AuthError {
                kind: ErrorKind::InvalidSignatureException,
                message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                          '20150831' != '20150830', from '20150830T123600Z'."
                    .into(),
            }
        );
        let e = check(
            &with_credential(&h, "SOMEONE/20150830/us-east-1/states/aws5_request"),
            "us-east-1",
            t,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."
        );
        let e = check(
            &with_credential(&h, "AKIDEXAMPLE/20150830/us-east-1/states"),
            "us-east-1",
            t,
        )
        .unwrap_err();
        assert_eq!(e.kind, "IncompleteSignatureException");
        assert!(e
            .message
            .starts_with("Credential must have exactly 5 slash-delimited elements"));
        let e = check(
            &with_credential(&h, "SOMEONE/20150830/us-east-1/states/aws4_request"),
            "us-east-1",
            t,
        )
        .unwrap_err();
        assert_eq!(e.kind, "UnrecognizedClientException");
    }

    #[test]
    fn a_malformed_date_or_an_unsigned_host_is_refused() {
        let t = suite_time();
        let h = signed_at("us-east-1", "states", t);
        for bad in [
            "2015-08-30T12:36:00Z",
            "20150830T123600",
            "20150830T1236000",
            "2015083ÉT123600Z",
        ] {
            let hs: Vec<(String, String)> = h
                .iter()
                .map(|(n, v)| (n.clone(), if n == "x-amz-date" { bad.to_string() } else { v.clone() }))
                .collect();
            let e = check(&hs, "us-east-1", t).unwrap_err();
            assert_eq!(e.kind, "IncompleteSignatureException", "{bad}");
            assert!(
                e.message.starts_with("Date must be in ISO-8601 'basic format'"),
                "{bad}"
            );
        }
        let no_date: Vec<(String, String)> = h.iter().filter(|(n, _)| n != "x-amz-date").cloned().collect();
        assert_eq!(
            check(&no_date, "us-east-1", t).unwrap_err().kind,
            "IncompleteSignatureException"
        );
        let unsigned_host: Vec<(String, String)> = h
            .iter()
            .map(|(n, v)| (n.clone(), v.replace("SignedHeaders=host;", "SignedHeaders=")))
            .collect();
        assert_eq!(
            check(&unsigned_host, "us-east-1", t),
            Err(AuthError {
                kind: ErrorKind::InvalidSignatureException,
                message: "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
            })
        );
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let now = Utc::now();
        let headers = signed_at("us-east-1", "states", now);
        let ok = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        assert_eq!(verify(&ok, &creds(), "us-east-1", now), Ok(()));
        let tampered = SignedRequest {
            body: br#"{"a":1}"#,
            ..ok
        };
        let e = verify(&tampered, &creds(), "us-east-1", now).unwrap_err();
        assert_eq!(e.kind, "InvalidSignatureException");
        assert!(!e.message.contains(&creds().secret_access_key));
        let other = Credentials {
            access_key_id: "OTHER".into(),
            ..creds()
        };
        assert_eq!(
            verify(&ok, &other, "us-east-1", now).unwrap_err().kind,
            "UnrecognizedClientException"
        );
        let wrong_secret = Credentials {
            secret_access_key: "not the secret".into(),
            ..creds()
        };
        assert_eq!(
            verify(&ok, &wrong_secret, "us-east-1", now).unwrap_err().kind,
            "InvalidSignatureException"
        );
        let unsigned: Vec<(String, String)> = headers.iter().filter(|(n, _)| n != "authorization").cloned().collect();
        let none = SignedRequest {
            headers: &unsigned,
            ..ok
        };
        assert_eq!(
            verify(&none, &creds(), "us-east-1", now).unwrap_err().kind,
            "MissingAuthenticationToken"
        );
    }
}
