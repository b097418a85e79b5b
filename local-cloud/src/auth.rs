//! Bearer-token authentication: the emulator's own token, or an EKS token
//! (`k8s-aws-v1.…`, see [`crate::eks_token`]).

use crate::eks_token;
use crate::state::State;
use crate::status::ApiError;
use http::HeaderMap;
use std::time::SystemTime;

/// Checks the `Authorization` header; 401 Unauthorized if it is missing or wrong.
pub fn authenticate(state: &State, headers: &HeaderMap) -> Result<(), ApiError> {
    let h = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = h.split_once(' ').unwrap_or(("", ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized());
    }
    let token = token.trim();
    if !token.is_empty() && constant_time_eq(token.as_bytes(), state.token.as_bytes()) {
        return Ok(());
    }
    if token.starts_with(eks_token::PREFIX) {
        let clusters = state.eks_clusters();
        match eks_token::verify(token, state.aws_keys.as_ref(), &clusters, SystemTime::now()) {
            Ok(id) => {
                tracing::debug!(cluster = %id.cluster, access_key_id = %id.access_key_id, region = %id.region, "EKS token accepted");
                state.record_eks_identity(id);
                return Ok(());
            }
            Err(e) => tracing::info!(error = %e, "EKS token refused"),
        }
    }
    Err(ApiError::unauthorized())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
