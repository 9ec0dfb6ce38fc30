//! The request side: a JSON body whose every failure is a problem document, and the headers
//! commands read (`If-Match`, `Idempotency-Key`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::problem::{Problem, ProblemKind};

/// A JSON body of type `T`: a syntax error, an unknown field, a wrong type, a missing
/// `Content-Type` or too large a body is a 4xx problem, never a 5xx.
#[derive(Debug, Clone)]
pub(crate) struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(body_problem(&rejection)),
        }
    }
}

fn body_problem(rejection: &JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            Problem::new(ProblemKind::InvalidBody, error.body_text())
        }
        JsonRejection::JsonSyntaxError(error) => {
            Problem::new(ProblemKind::InvalidBody, error.body_text()).with_code("syntax")
        }
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            ProblemKind::UnsupportedMediaType,
            "send the body with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(error) => {
            if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(ProblemKind::PayloadTooLarge, error.body_text())
            } else {
                Problem::new(ProblemKind::InvalidBody, error.body_text())
            }
        }
        other => Problem::new(ProblemKind::InvalidBody, other.body_text()),
    }
}

/// The version `If-Match` names: `"7"` or `W/"7"` (a list or `*` is refused: one command acts
/// on one version). `None` without the header.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        Problem::new(
            ProblemKind::InvalidParameter,
            "If-Match must name one version, as the ETag gave it (\"7\")",
        )
        .with_code("if-match")
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    let inner = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or_else(bad)?;
    inner.parse::<u64>().map(Some).map_err(|_| bad())
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key`, if any: 1 to 200 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Problem::new(
            ProblemKind::InvalidParameter,
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )
        .with_code("idempotency-key")
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty()
        || text.len() > MAX_IDEMPOTENCY_KEY
        || !text.bytes().all(|byte| byte.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// An ETag for a stream version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).expect("a header value"));
        headers
    }

    #[test]
    fn if_match_reads_what_the_etag_gave() {
        assert_eq!(if_match(&headers("if-match", "\"7\"")).ok(), Some(Some(7)));
        assert_eq!(
            if_match(&headers("if-match", "W/\"7\"")).ok(),
            Some(Some(7))
        );
        assert_eq!(if_match(&HeaderMap::new()).ok(), Some(None));
        for bad in ["7", "*", "\"7\", \"8\"", "\"-1\"", "\"x\""] {
            assert!(if_match(&headers("if-match", bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_idempotency_key_is_short_visible_ascii() {
        assert!(idempotency_key(&headers("idempotency-key", "abc-1")).is_ok());
        assert!(idempotency_key(&headers("idempotency-key", "a b")).is_err());
        assert!(idempotency_key(&headers("idempotency-key", &"k".repeat(201))).is_err());
    }
}
