//! Domain names as they appear in email addresses and company web sites: case-folded, and
//! checked label by label. An internationalized name stays in the Unicode form it was given
//! (it is not converted to its `xn--` form), but it must be a name IDNA could convert.

use super::fold::fold_domain_case;

/// The longest domain name DNS can carry, in characters of its presentation form.
const MAX_DOMAIN_CHARS: usize = 253;
/// The longest label DNS can carry.
const MAX_LABEL_CHARS: usize = 63;

/// Full stops that IDNA treats as label separators besides `.`.
const IDEOGRAPHIC_FULL_STOPS: &[char] = &['\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// Case-folds and validates a domain name; returns it, or why it is not one.
///
/// Accepted: two or more labels of letters (any script), digits and inner hyphens, each at
/// most 63 characters, 253 in all, and a top-level label that is not numeric (so an IPv4
/// address is not a domain). One trailing dot (the root) is dropped. Labels with hyphens in
/// their third and fourth places are reserved by IDNA and refused, except `xn--` labels,
/// which must be ASCII.
pub(crate) fn normalize_domain(text: &str) -> Result<String, &'static str> {
    let folded = fold_domain_case(text).replace(IDEOGRAPHIC_FULL_STOPS, ".");
    let name = folded.strip_suffix('.').unwrap_or(&folded);
    if name.is_empty() {
        return Err("empty domain");
    }
    if name.chars().count() > MAX_DOMAIN_CHARS {
        return Err("domain longer than 253 characters");
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("domain without a dot");
    }
    for label in &labels {
        check_label(label)?;
    }
    let top = labels.last().copied().unwrap_or_default();
    if !top.starts_with("xn--") && top.chars().any(|c| c.is_ascii_digit()) {
        return Err("top-level domain with digits (an IP address is not a domain)");
    }
    Ok(name.to_owned())
}

fn check_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("empty label in domain");
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err("domain label longer than 63 characters");
    }
    if label.chars().next().is_some_and(is_letter_mark) {
        return Err("domain label starting with a combining mark");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("domain label starting or ending with a hyphen");
    }
    if !label
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || is_letter_mark(c))
    {
        return Err("domain with a character other than letters, digits, hyphens and dots");
    }
    if label.get(2..4) == Some("--") {
        let is_ace = label.starts_with("xn--");
        if !is_ace || !label.is_ascii() {
            return Err("domain label with a reserved hyphen pair");
        }
    }
    Ok(())
}

/// Marks that are part of letters in many scripts (an Indic vowel sign), which IDNA allows
/// after a letter.
fn is_letter_mark(c: char) -> bool {
    !c.is_ascii() && unicode_normalization::char::is_combining_mark(c)
}

/// The host named by a company's web address: a bare domain, or a URL whose scheme, user
/// information, port, path, query and fragment are dropped. `Err` says why it names none.
pub(crate) fn host_of_web_address(text: &str) -> Result<&str, &'static str> {
    let (has_scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => (true, rest),
        Some(_) => return Err("not a web address"),
        None => (false, text.strip_prefix("//").unwrap_or(text)),
    };
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    let host_and_port = match authority.rsplit_once('@') {
        Some((_, host)) if has_scheme => host,
        Some(_) => return Err("an email address, not a domain"),
        None => authority,
    };
    if host_and_port.starts_with('[') {
        return Err("an IP address, not a domain");
    }
    let host = match host_and_port.split_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        Some(_) => return Err("not a port number after the colon"),
        None => host_and_port,
    };
    Ok(host)
}

fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_case_folded_and_a_root_dot_dropped() {
        assert_eq!(normalize_domain("Acme.COM."), Ok("acme.com".to_owned()));
        assert_eq!(normalize_domain("ＡＣＭＥ．com"), Ok("acme.com".to_owned()));
    }

    #[test]
    fn internationalized_domains_stay_in_unicode() {
        assert_eq!(normalize_domain("Bücher.DE"), Ok("bücher.de".to_owned()));
        assert_eq!(
            normalize_domain("xn--bcher-kva.de"),
            Ok("xn--bcher-kva.de".to_owned())
        );
        assert_eq!(
            normalize_domain("例え。テスト"),
            Ok("例え.テスト".to_owned())
        );
    }

    #[test]
    fn malformed_domains_are_refused() {
        for bad in [
            "",
            "localhost",
            "acme..com",
            ".acme.com",
            "-acme.com",
            "acme-.com",
            "ac me.com",
            "acme_corp.com",
            "192.168.0.1",
            "ab--cd.com",
            "xn--bücher.de",
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(normalize_domain(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn the_host_is_found_in_a_web_address() {
        assert_eq!(
            host_of_web_address("https://www.acme.com:8443/about?x=1#top"),
            Ok("www.acme.com")
        );
        assert_eq!(
            host_of_web_address("http://user:pw@acme.com"),
            Ok("acme.com")
        );
        assert_eq!(host_of_web_address("//acme.com/path"), Ok("acme.com"));
        assert_eq!(host_of_web_address("acme.com/contact"), Ok("acme.com"));
        assert!(host_of_web_address("jane@acme.com").is_err());
        assert!(host_of_web_address("http://[::1]/").is_err());
        assert!(host_of_web_address("acme.com:http").is_err());
        assert!(host_of_web_address("1http://acme.com").is_err());
    }
}
