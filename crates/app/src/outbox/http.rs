//! The HTTP transport: one POST per attempt, the answer's status read as a [`Delivery`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{Delivery, DestinationError, Destinations, Transport};
use crate::clock::{Clock, SystemClock};
use crate::uow::OutboxMessage;

/// How much of a refusal's body is kept in the reason.
const DETAIL_LIMIT: usize = 512;

/// A [`Transport`] that POSTs each message's payload as JSON to its destination's URL (see
/// [`Destinations`]), over HTTP/1.1 with pooled connections.
///
/// Every request carries `Content-Type: application/json`, `Idempotency-Key` (the message's
/// idempotency key, the same on every attempt) and `X-Crm-Message-Id` (the message's id). A
/// request with no complete answer within the timeout (10 s unless set) is a
/// [`Delivery::Retry`]. The answer's status decides the rest (see the [module](super)): 2xx
/// delivered; 5xx, 408, 425 and 429 retried, after their `Retry-After` (seconds or an
/// HTTP date) when present; any other status rejected. A message whose key cannot be a header
/// value, or whose per-message endpoint is unusable, is rejected; a destination missing from
/// the configuration is retried (the configuration can be fixed meanwhile).
#[derive(Clone)]
pub struct HttpTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    destinations: Destinations,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HttpTransport")
            .field("destinations", &self.destinations)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport to `destinations`, with a 10-second timeout per request and the system
    /// clock (which reads an HTTP-date `Retry-After`). Must be used inside a tokio runtime.
    pub fn new(destinations: Destinations) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            destinations,
            timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same transport, giving up on a request (connection, answer and body) after
    /// `timeout`. Keep it below the relay's lease, so no attempt outlives its claim.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same transport, reading an HTTP-date `Retry-After` against `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn post(&self, request: Request<Full<Bytes>>) -> Delivery {
        let response = match self.client.request(request).await {
            Ok(response) => response,
            Err(error) => {
                return Delivery::Retry {
                    after: None,
                    reason: error_chain(&error),
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, self.clock.now()));
        // Read the body whole (so the connection goes back to the pool) but keep only its
        // start, for the reason of a failure.
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        classify(status, retry_after, &body)
    }
}

impl Transport for HttpTransport {
    async fn deliver(&self, destination: &str, message: &OutboxMessage) -> Delivery {
        let endpoint = match self.destinations.endpoint(destination, message) {
            Ok(endpoint) => endpoint,
            Err(error @ DestinationError::Unknown { .. }) => {
                return Delivery::Retry {
                    after: None,
                    reason: error.to_string(),
                };
            }
            Err(error) => {
                return Delivery::Rejected {
                    reason: error.to_string(),
                };
            }
        };
        let Ok(key) = HeaderValue::from_str(&message.idempotency_key) else {
            return Delivery::Rejected {
                reason: format!(
                    "idempotency key {:?} cannot be sent as a header",
                    message.idempotency_key
                ),
            };
        };
        let body = match serde_json::to_vec(&message.payload) {
            Ok(body) => body,
            Err(error) => {
                return Delivery::Rejected {
                    reason: format!("the payload cannot be serialized: {error}"),
                };
            }
        };
        let request = Request::post(endpoint)
            .header(CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .header("x-crm-message-id", message.id.to_string())
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                return Delivery::Rejected {
                    reason: format!("the request cannot be built: {error}"),
                };
            }
        };
        match tokio::time::timeout(self.timeout, self.post(request)).await {
            Ok(delivery) => delivery,
            Err(_) => Delivery::Retry {
                after: None,
                reason: format!("no answer within {:?}", self.timeout),
            },
        }
    }
}

/// The error and its causes, which name what really failed ("Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut reason = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        reason.push_str(": ");
        reason.push_str(&inner.to_string());
        cause = inner.source();
    }
    reason
}

/// What an answer's status means for the message.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Delivery {
    if status.is_success() {
        return Delivery::Delivered;
    }
    let detail = String::from_utf8_lossy(&body[..body.len().min(DETAIL_LIMIT)]);
    let reason = if detail.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", detail.trim())
    };
    let transient = status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        );
    if transient {
        Delivery::Retry {
            after: retry_after,
            reason,
        }
    } else {
        Delivery::Rejected { reason }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): a number of seconds, or an HTTP date (read
/// against `now`; a date in the past means now). Anything else is ignored.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        date.with_timezone(&Utc)
            .signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn statuses_read_as_deliveries() {
        let after = Some(Duration::from_secs(2));
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None, b""),
            Delivery::Delivered
        );
        for status in [500, 502, 503, 408, 425, 429] {
            let status = StatusCode::from_u16(status).expect("a status");
            assert!(
                matches!(
                    classify(status, after, b""),
                    Delivery::Retry { after: Some(_), .. }
                ),
                "{status}"
            );
        }
        for status in [400, 401, 404, 409, 410, 422, 301] {
            let status = StatusCode::from_u16(status).expect("a status");
            assert!(
                matches!(classify(status, after, b""), Delivery::Rejected { .. }),
                "{status}"
            );
        }
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None, b" no such deal \n"),
            Delivery::Rejected {
                reason: "HTTP 400 Bad Request: no such deal".into()
            }
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc
            .with_ymd_and_hms(1994, 11, 6, 8, 49, 0)
            .single()
            .expect("a valid time");
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_mins(2)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
