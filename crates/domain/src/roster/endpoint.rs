//! Notification endpoints: the webhook a rep's or team's notifications are posted to.
//!
//! Checked here without a URL library, to the extent a webhook needs: an absolute `http` or
//! `https` URL naming a host (a DNS name, an IPv4 address or a bracketed IPv6 address), with
//! an optional port, path and query, in printable ASCII. Credentials in the URL are refused,
//! since the URL is recorded in events that many readers see.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::identity::normalize_domain;

/// The longest webhook URL accepted, in bytes (what browsers and proxies commonly carry).
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// Why a text is not a webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// Longer than [`MAX_WEBHOOK_URL_LEN`].
    #[error("the URL is longer than {max} bytes")]
    TooLong {
        /// The longest length accepted.
        max: usize,
    },
    /// A character other than printable ASCII (spaces, controls, non-ASCII: encode them).
    #[error("the URL holds a character that is not printable ASCII at byte {position}")]
    InvalidCharacter {
        /// The byte offset of the first such character.
        position: usize,
    },
    /// Not an absolute URL (`scheme://host…`).
    #[error("not an absolute URL: it must start with http:// or https://")]
    NotAbsolute,
    /// A scheme other than `http` and `https`.
    #[error("the scheme {scheme:?} is not http or https")]
    UnsupportedScheme {
        /// The scheme given.
        scheme: String,
    },
    /// User name or password in the URL.
    #[error("the URL carries credentials (user@host); pass them some other way")]
    Credentials,
    /// No host after the scheme.
    #[error("the URL names no host")]
    MissingHost,
    /// The host is neither a DNS name nor an IP address.
    #[error("the host is not valid: {reason}")]
    InvalidHost {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The port is not a number from 1 to 65535.
    #[error("the port is not a number from 1 to 65535")]
    InvalidPort,
    /// A `%` not followed by two hexadecimal digits.
    #[error("a percent sign at byte {position} is not followed by two hexadecimal digits")]
    InvalidPercentEncoding {
        /// The byte offset of the `%`.
        position: usize,
    },
}

/// An absolute `http`/`https` URL notifications are posted to, kept exactly as given.
///
/// Built only through [`WebhookUrl::parse`] (also when read back from JSON), so a value of
/// this type always passed the checks the module documentation lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Checks `text` and keeps it as given. Errors: see [`EndpointError`]; never panics.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        if text.len() > MAX_WEBHOOK_URL_LEN {
            return Err(EndpointError::TooLong {
                max: MAX_WEBHOOK_URL_LEN,
            });
        }
        if let Some(position) = text.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(EndpointError::InvalidCharacter { position });
        }
        let (scheme, rest) = text.split_once("://").ok_or(EndpointError::NotAbsolute)?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(EndpointError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(EndpointError::Credentials);
        }
        check_authority(authority)?;
        let tail_start = text.len() - tail.len();
        check_percent_encoding(tail, tail_start)?;
        Ok(Self(text.to_owned()))
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = EndpointError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> Self {
        url.0
    }
}

/// Checks `host[:port]`, where the host may be a bracketed IPv6 address.
fn check_authority(authority: &str) -> Result<(), EndpointError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or(EndpointError::InvalidHost {
                reason: "an IPv6 address without its closing bracket",
            })?;
        address
            .parse::<Ipv6Addr>()
            .map_err(|_| EndpointError::InvalidHost {
                reason: "not an IPv6 address between the brackets",
            })?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(EndpointError::InvalidHost {
                reason: "text after the IPv6 address's closing bracket",
            })?),
        };
        (None, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        check_host(host)?;
    }
    match port {
        None => Ok(()),
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => match port.parse::<u16>() {
            Ok(1..) => Ok(()),
            _ => Err(EndpointError::InvalidPort),
        },
        Some(_) => Err(EndpointError::InvalidPort),
    }
}

/// Checks a host that is not bracketed: an IPv4 address or a DNS name of two labels or more.
fn check_host(host: &str) -> Result<(), EndpointError> {
    if host.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(EndpointError::InvalidHost {
            reason: "neither an IPv4 address nor a name",
        });
    }
    normalize_domain(host)
        .map(drop)
        .map_err(|reason| EndpointError::InvalidHost { reason })
}

/// Checks that every `%` in `text` (which starts at byte `offset` of the URL) begins an
/// escape of two hexadecimal digits.
fn check_percent_encoding(text: &str, offset: usize) -> Result<(), EndpointError> {
    let bytes = text.as_bytes();
    for (i, _) in bytes.iter().enumerate().filter(|&(_, &b)| b == b'%') {
        let escape = bytes.get(i + 1..i + 3);
        if !escape.is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit)) {
            return Err(EndpointError::InvalidPercentEncoding {
                position: offset + i,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> EndpointError {
        WebhookUrl::parse(text).expect_err(text)
    }

    #[test]
    fn absolute_http_and_https_urls_are_kept_as_given() {
        for text in [
            "https://hooks.example.com/services/T000/B000?token=abc%20def",
            "HTTP://Hooks.Example.com:8080",
            "http://192.0.2.10:9000/notify",
            "https://[2001:db8::1]:8443/hook#frag",
            "https://[::1]",
            "https://xn--bcher-kva.example/",
        ] {
            let url = WebhookUrl::parse(text).expect(text);
            assert_eq!(url.as_str(), text);
            assert_eq!(url.to_string(), text);
        }
    }

    #[test]
    fn relative_urls_and_other_schemes_are_refused() {
        assert_eq!(refusal("hooks.example.com/x"), EndpointError::NotAbsolute);
        assert_eq!(refusal("/services/hook"), EndpointError::NotAbsolute);
        assert_eq!(refusal(""), EndpointError::NotAbsolute);
        assert_eq!(
            refusal("ftp://files.example.com"),
            EndpointError::UnsupportedScheme {
                scheme: "ftp".into()
            }
        );
        assert_eq!(
            refusal("javascript://alert(1)"),
            EndpointError::UnsupportedScheme {
                scheme: "javascript".into()
            }
        );
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        assert_eq!(
            refusal("https://user:secret@hooks.example.com/"),
            EndpointError::Credentials
        );
    }

    #[test]
    fn a_missing_or_malformed_host_is_refused() {
        assert_eq!(refusal("https://"), EndpointError::MissingHost);
        assert_eq!(refusal("https:///path"), EndpointError::MissingHost);
        assert_eq!(refusal("https://:443/"), EndpointError::MissingHost);
        assert!(matches!(
            refusal("https://localhost/"),
            EndpointError::InvalidHost { .. }
        ));
        assert!(matches!(
            refusal("https://999.1.1.1/"),
            EndpointError::InvalidHost { .. }
        ));
        assert!(matches!(
            refusal("https://-bad-.example/"),
            EndpointError::InvalidHost { .. }
        ));
        assert!(matches!(
            refusal("https://[2001:db8::1/"),
            EndpointError::InvalidHost { .. }
        ));
        assert!(matches!(
            refusal("https://[not-v6]/"),
            EndpointError::InvalidHost { .. }
        ));
        assert!(matches!(
            refusal("https://[::1]x/"),
            EndpointError::InvalidHost { .. }
        ));
    }

    #[test]
    fn a_port_must_be_a_number_from_1_to_65535() {
        for text in [
            "https://hooks.example.com:/",
            "https://hooks.example.com:0/",
            "https://hooks.example.com:65536/",
            "https://hooks.example.com:+80/",
            "https://hooks.example.com:8o/",
            "https://[::1]:/",
        ] {
            assert_eq!(refusal(text), EndpointError::InvalidPort, "{text}");
        }
        assert!(WebhookUrl::parse("https://hooks.example.com:65535/").is_ok());
    }

    #[test]
    fn spaces_controls_non_ascii_and_bad_escapes_are_refused() {
        assert_eq!(
            refusal("https://hooks.example.com/a b"),
            EndpointError::InvalidCharacter { position: 27 }
        );
        assert_eq!(
            refusal(" https://hooks.example.com/"),
            EndpointError::InvalidCharacter { position: 0 }
        );
        assert!(matches!(
            refusal("https://bücher.example/"),
            EndpointError::InvalidCharacter { .. }
        ));
        assert_eq!(
            refusal("https://hooks.example.com/%zz"),
            EndpointError::InvalidPercentEncoding { position: 26 }
        );
        assert_eq!(
            refusal("https://hooks.example.com/%4"),
            EndpointError::InvalidPercentEncoding { position: 26 }
        );
    }

    #[test]
    fn an_overlong_url_is_refused() {
        let long = format!(
            "https://hooks.example.com/{}",
            "a".repeat(MAX_WEBHOOK_URL_LEN)
        );
        assert_eq!(
            refusal(&long),
            EndpointError::TooLong {
                max: MAX_WEBHOOK_URL_LEN
            }
        );
    }

    #[test]
    fn a_url_round_trips_through_json_and_is_checked_when_read() {
        let url = WebhookUrl::parse("https://hooks.example.com/x").unwrap();
        let json = serde_json::to_string(&url).unwrap();
        assert_eq!(json, r#""https://hooks.example.com/x""#);
        assert_eq!(serde_json::from_str::<WebhookUrl>(&json).unwrap(), url);
        assert!(serde_json::from_str::<WebhookUrl>(r#""ftp://x.example""#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = WebhookUrl::parse(&text);
        }

        #[test]
        fn parsing_url_shaped_text_never_panics(
            text in "(https?|HTTP|ftp)?(://)?[a-z0-9.:@\\[\\]%-]{0,30}[/?#]?[a-z0-9%/?&=#]{0,10}"
        ) {
            let _ = WebhookUrl::parse(&text);
        }
    }
}
