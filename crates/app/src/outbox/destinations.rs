//! Where each logical destination's messages go.

use std::collections::BTreeMap;

use hyper::Uri;
use thiserror::Error;

use crate::uow::OutboxMessage;

/// The payload field in which a message of a [`per_message`](Destinations::per_message)
/// destination names its own endpoint.
const ENDPOINT_FIELD: &str = "endpoint";

/// The map from a message's logical destination (`"erp"`, `"rep-notifications"`) to the URL
/// its messages are POSTed to.
///
/// A destination is either **routed** to one URL ([`route`](Self::route)), or **per message**
/// ([`per_message`](Self::per_message)): then a message whose JSON payload has a string field
/// `"endpoint"` goes to that URL (a rep's own webhook, say), and one without it goes to the
/// destination's routed URL if it has one. The payload is sent whole, `"endpoint"` included.
/// Only destinations declared per message read the field, so a payload cannot redirect the
/// ERP's messages; what writes such payloads (the workflow that takes a rep's webhook) must
/// have validated the URL, since the relay will POST to it.
///
/// Only `http://` URLs are accepted: the HTTP transport has no TLS built in (put a
/// TLS-terminating proxy in front of an `https` receiver).
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    routes: BTreeMap<String, Route>,
}

#[derive(Debug, Clone, Default)]
struct Route {
    endpoint: Option<Uri>,
    per_message: bool,
}

/// Why a destination or an endpoint cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DestinationError {
    /// No route was configured for the destination.
    #[error("no endpoint is configured for destination {destination:?}")]
    Unknown {
        /// The destination.
        destination: String,
    },
    /// A per-message destination's message names no endpoint, and the destination has no
    /// routed URL to fall back on.
    #[error("the message names no \"endpoint\" and destination {destination:?} has no default")]
    NoEndpoint {
        /// The destination.
        destination: String,
    },
    /// The URL cannot be parsed or is not an absolute `http://` URL.
    #[error("endpoint {url:?} is unusable: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn parse(url: &str) -> Result<Uri, DestinationError> {
    let invalid = |reason: String| DestinationError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|error| invalid(format!("{error}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(invalid("https is not supported (no TLS built in)".into())),
        Some(other) => return Err(invalid(format!("scheme {other:?} is not http"))),
        None => return Err(invalid("not an absolute URL".into())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(uri)
}

impl Destinations {
    /// No destination yet: every message would be retried as unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `destination`'s messages to `url` (replacing an earlier route). Fails when the
    /// URL is not an absolute `http://` URL.
    pub fn route(
        mut self,
        destination: impl Into<String>,
        url: &str,
    ) -> Result<Self, DestinationError> {
        let endpoint = parse(url)?;
        self.routes.entry(destination.into()).or_default().endpoint = Some(endpoint);
        Ok(self)
    }

    /// Lets `destination`'s messages name their own endpoint in their payload's `"endpoint"`
    /// field; its routed URL, if any, is the fallback.
    #[must_use]
    pub fn per_message(mut self, destination: impl Into<String>) -> Self {
        self.routes
            .entry(destination.into())
            .or_default()
            .per_message = true;
        self
    }

    /// The URL `message` goes to when sent to `destination`.
    ///
    /// [`DestinationError::Unknown`] means the configuration lacks the destination (the
    /// relay retries: a configuration can be fixed); the other errors are the message's own
    /// (the relay parks it).
    pub(crate) fn endpoint(
        &self,
        destination: &str,
        message: &OutboxMessage,
    ) -> Result<Uri, DestinationError> {
        let route = self
            .routes
            .get(destination)
            .ok_or_else(|| DestinationError::Unknown {
                destination: destination.to_owned(),
            })?;
        if route.per_message {
            match message.payload.get(ENDPOINT_FIELD) {
                Some(serde_json::Value::String(url)) => return parse(url),
                Some(other) => {
                    return Err(DestinationError::InvalidUrl {
                        url: other.to_string(),
                        reason: "\"endpoint\" is not a string".into(),
                    });
                }
                None => {}
            }
        }
        route
            .endpoint
            .clone()
            .ok_or_else(|| DestinationError::NoEndpoint {
                destination: destination.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn message(payload: serde_json::Value) -> OutboxMessage {
        OutboxMessage {
            id: Uuid::from_u128(1),
            destination: "d".into(),
            idempotency_key: "k".into(),
            payload,
            created_at: Utc.timestamp_opt(0, 0).single().expect("a valid time"),
        }
    }

    fn destinations() -> Destinations {
        Destinations::new()
            .route("erp", "http://erp.local:8080/inbox")
            .and_then(|it| it.route("reps", "http://fallback.local/hooks"))
            .map(|it| it.per_message("reps").per_message("webhooks"))
            .expect("valid URLs")
    }

    #[test]
    fn a_routed_destination_ignores_the_payloads_endpoint() {
        let url = destinations().endpoint("erp", &message(json!({"endpoint": "http://evil/"})));
        assert_eq!(
            url.map(|it| it.to_string()).as_deref(),
            Ok("http://erp.local:8080/inbox")
        );
    }

    #[test]
    fn a_per_message_destination_takes_the_payloads_endpoint_or_falls_back() {
        let named =
            destinations().endpoint("reps", &message(json!({"endpoint": "http://rep.local/x"})));
        assert_eq!(
            named.map(|it| it.to_string()).as_deref(),
            Ok("http://rep.local/x")
        );
        let unnamed = destinations().endpoint("reps", &message(json!({})));
        assert_eq!(
            unnamed.map(|it| it.to_string()).as_deref(),
            Ok("http://fallback.local/hooks")
        );
        assert!(matches!(
            destinations().endpoint("webhooks", &message(json!({}))),
            Err(DestinationError::NoEndpoint { .. })
        ));
        assert!(matches!(
            destinations().endpoint("webhooks", &message(json!({"endpoint": 3}))),
            Err(DestinationError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn unknown_destinations_and_unusable_urls_are_named() {
        assert!(matches!(
            destinations().endpoint("crm", &message(json!({}))),
            Err(DestinationError::Unknown { .. })
        ));
        for url in ["https://erp/", "ftp://erp/", "/relative", "not a url"] {
            assert!(
                matches!(
                    Destinations::new().route("erp", url),
                    Err(DestinationError::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
    }
}
