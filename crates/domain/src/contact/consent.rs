//! Consent per channel and purpose: what the person last said about being contacted by email,
//! phone or SMS for marketing, sales, service or research, when, through which system, and the
//! proof of it.
//!
//! Statements are ordered by the moment the person made them (the source's timestamp, not
//! when we heard of them). The latest statement is in effect; at the same moment a
//! withdrawal wins over a grant, so a withdrawal always beats every grant that is not newer.
//! Across linked records (a contact and the leads it came from, two contacts merged) the least
//! permissive statement wins: see [`least_permissive`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::details::Provenance;
use crate::Channel;

/// A channel that needs the person's consent before the company uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// Email.
    Email,
    /// Phone calls.
    Phone,
    /// SMS / text messages.
    Sms,
}

impl ConsentChannel {
    /// Every channel, in a fixed order.
    pub const ALL: [ConsentChannel; 3] = [
        ConsentChannel::Email,
        ConsentChannel::Phone,
        ConsentChannel::Sms,
    ];

    /// The channel's name as written (`email`, `phone`, `sms`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentChannel::Email => "email",
            ConsentChannel::Phone => "phone",
            ConsentChannel::Sms => "sms",
        }
    }
}

impl From<ConsentChannel> for Channel {
    fn from(channel: ConsentChannel) -> Self {
        match channel {
            ConsentChannel::Email => Channel::Email,
            ConsentChannel::Phone => Channel::Phone,
            ConsentChannel::Sms => Channel::Sms,
        }
    }
}

/// What the company would contact the person for. Consent is given and withdrawn per channel
/// and purpose: a person may want service notices by email and no newsletters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPurpose {
    /// Newsletters, campaigns and offers sent to many. Statements recorded before purposes
    /// existed are marketing statements.
    #[default]
    Marketing,
    /// One-to-one outreach by sales about offers.
    Sales,
    /// Messages about what the person already has: onboarding, renewals, service notices.
    Service,
    /// Surveys and research.
    Research,
}

impl ConsentPurpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [ConsentPurpose; 4] = [
        ConsentPurpose::Marketing,
        ConsentPurpose::Sales,
        ConsentPurpose::Service,
        ConsentPurpose::Research,
    ];

    /// Whether this is [`ConsentPurpose::Marketing`], the purpose events leave unnamed.
    pub fn is_marketing(&self) -> bool {
        *self == ConsentPurpose::Marketing
    }

    /// The purpose's name as written (`marketing`, `sales`, `service`, `research`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentPurpose::Marketing => "marketing",
            ConsentPurpose::Sales => "sales",
            ConsentPurpose::Service => "service",
            ConsentPurpose::Research => "research",
        }
    }
}

/// What one consent statement is about: a channel and a purpose. Written as the channel alone
/// for marketing (`"email"`, as statements were keyed before purposes existed) and as
/// `channel:purpose` otherwise (`"email:service"`), so documents and events that name
/// marketing statements read the same as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsentScope {
    /// The channel.
    pub channel: ConsentChannel,
    /// The purpose.
    pub purpose: ConsentPurpose,
}

impl ConsentScope {
    /// `channel` for `purpose`.
    pub fn new(channel: ConsentChannel, purpose: ConsentPurpose) -> Self {
        Self { channel, purpose }
    }

    /// `channel` for marketing.
    pub fn marketing(channel: ConsentChannel) -> Self {
        Self::new(channel, ConsentPurpose::Marketing)
    }

    /// Every channel for every purpose, in a fixed order.
    pub fn all() -> impl Iterator<Item = ConsentScope> {
        ConsentChannel::ALL.into_iter().flat_map(|channel| {
            ConsentPurpose::ALL
                .into_iter()
                .map(move |purpose| Self::new(channel, purpose))
        })
    }
}

impl From<ConsentChannel> for ConsentScope {
    fn from(channel: ConsentChannel) -> Self {
        Self::marketing(channel)
    }
}

impl fmt::Display for ConsentScope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.purpose.is_marketing() {
            formatter.write_str(self.channel.as_str())
        } else {
            write!(
                formatter,
                "{}:{}",
                self.channel.as_str(),
                self.purpose.as_str()
            )
        }
    }
}

/// A text that names no consent scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a consent scope (a channel, or channel:purpose)")]
pub struct UnknownConsentScope(pub String);

impl FromStr for ConsentScope {
    type Err = UnknownConsentScope;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownConsentScope(text.chars().take(64).collect());
        let (channel, purpose) = text.split_once(':').unwrap_or((text, "marketing"));
        let channel = ConsentChannel::ALL
            .into_iter()
            .find(|known| known.as_str() == channel)
            .ok_or_else(unknown)?;
        let purpose = ConsentPurpose::ALL
            .into_iter()
            .find(|known| known.as_str() == purpose)
            .ok_or_else(unknown)?;
        // One spelling per scope: marketing is written without its purpose.
        if purpose.is_marketing() && text.contains(':') {
            return Err(unknown());
        }
        Ok(Self::new(channel, purpose))
    }
}

impl Serialize for ConsentScope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConsentScope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether the person agreed or objected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The person agreed to be contacted on the channel.
    Granted,
    /// The person withdrew (or refused) consent for the channel.
    Withdrawn,
}

/// The evidence of a consent statement, as plain data. A grant must carry at least one piece;
/// a withdrawal is honoured with or without.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ConsentProof {
    /// The form the person submitted, e.g. `"newsletter-footer-v3"`.
    pub form_id: Option<String>,
    /// The IP address the statement came from.
    pub ip_address: Option<IpAddr>,
    /// The token of the confirmed double opt-in.
    pub double_opt_in_token: Option<String>,
    /// A reference to a call recording in which the person said it.
    pub recording_reference: Option<String>,
    /// The version of the consent wording the person was shown.
    pub wording_version: Option<String>,
}

impl ConsentProof {
    /// Whether no evidence at all is given (blank texts count as missing).
    pub fn is_empty(&self) -> bool {
        let blank = |text: &Option<String>| text.as_deref().is_none_or(|t| t.trim().is_empty());
        blank(&self.form_id)
            && self.ip_address.is_none()
            && blank(&self.double_opt_in_token)
            && blank(&self.recording_reference)
            && blank(&self.wording_version)
    }
}

/// A consent statement: granted or withdrawn, when and where the person said it, and proof.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelConsent {
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// The system that recorded it and when the person said it.
    pub provenance: Provenance,
    /// The evidence.
    pub proof: ConsentProof,
}

impl ChannelConsent {
    /// Whether this statement takes effect over `current`: it was made later, or at the same
    /// moment and it is a withdrawal while `current` is a grant. A statement never prevails
    /// over itself, so repeating one changes nothing.
    pub fn prevails_over(&self, current: &ChannelConsent) -> bool {
        let rank = |consent: &ChannelConsent| (consent.provenance.source_time, consent.status);
        rank(self) > rank(current)
    }

    /// Whether this statement allows contacting the person.
    pub fn is_granted(&self) -> bool {
        self.status == ConsentStatus::Granted
    }
}

/// The statement in effect for each channel and purpose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consents {
    statements: BTreeMap<ConsentScope, ChannelConsent>,
}

impl Consents {
    /// The statement in effect for `scope`, if the person ever made one.
    pub fn get(&self, scope: impl Into<ConsentScope>) -> Option<&ChannelConsent> {
        self.statements.get(&scope.into())
    }

    /// Whether the company may contact the person for `scope`: only with a grant in effect.
    pub fn is_granted(&self, scope: impl Into<ConsentScope>) -> bool {
        self.get(scope).is_some_and(ChannelConsent::is_granted)
    }

    /// Whether no statement is recorded for any scope.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// Every statement in effect, by scope.
    pub fn iter(&self) -> impl Iterator<Item = (ConsentScope, &ChannelConsent)> {
        self.statements
            .iter()
            .map(|(scope, statement)| (*scope, statement))
    }

    /// Whether `statement` would take effect on `scope` (see [`ChannelConsent::prevails_over`]).
    pub fn would_change(&self, scope: ConsentScope, statement: &ChannelConsent) -> bool {
        self.get(scope)
            .is_none_or(|current| statement.prevails_over(current))
    }

    pub(super) fn set(&mut self, scope: ConsentScope, consent: Option<ChannelConsent>) {
        match consent {
            Some(consent) => {
                self.statements.insert(scope, consent);
            }
            None => {
                self.statements.remove(&scope);
            }
        }
    }
}

/// Whether the company may contact a person for `scope`, and why not, when their records
/// (a contact and the leads it came from, contacts merged) each hold a statement or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentVerdict {
    /// A grant is in effect on some record and no record withdraws it.
    Granted,
    /// Some record withdraws it: the least permissive statement wins, whatever the others
    /// say and whenever they said it. The withdrawal is named.
    Withdrawn(ChannelConsent),
    /// No record holds a statement for the scope: without consent, no contact.
    NeverGiven,
}

impl ConsentVerdict {
    /// Whether contact is allowed.
    pub fn allows(&self) -> bool {
        matches!(self, ConsentVerdict::Granted)
    }
}

/// The verdict of linked records' statements for one scope: any withdrawal wins (the latest
/// withdrawal is named); otherwise a grant allows; with no statement at all, nothing is
/// allowed. A record without a statement does not disagree with one that holds one.
pub fn least_permissive<'a>(
    statements: impl IntoIterator<Item = Option<&'a ChannelConsent>>,
) -> ConsentVerdict {
    let mut granted = false;
    let mut withdrawn: Option<&ChannelConsent> = None;
    for statement in statements.into_iter().flatten() {
        match statement.status {
            ConsentStatus::Granted => granted = true,
            ConsentStatus::Withdrawn => {
                if withdrawn.is_none_or(|latest| statement.prevails_over(latest)) {
                    withdrawn = Some(statement);
                }
            }
        }
    }
    match (withdrawn, granted) {
        (Some(withdrawal), _) => ConsentVerdict::Withdrawn(withdrawal.clone()),
        (None, true) => ConsentVerdict::Granted,
        (None, false) => ConsentVerdict::NeverGiven,
    }
}

#[cfg(test)]
pub(super) mod strategies {
    //! Generators for consent statements.

    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::contact::details::strategies::arb_provenance;

    /// Any channel.
    pub(in crate::contact) fn arb_channel() -> impl Strategy<Value = ConsentChannel> {
        proptest::sample::select(ConsentChannel::ALL.to_vec())
    }

    /// Granted or withdrawn.
    pub(in crate::contact) fn arb_status() -> impl Strategy<Value = ConsentStatus> {
        prop_oneof![Just(ConsentStatus::Granted), Just(ConsentStatus::Withdrawn)]
    }

    /// A proof, sometimes empty.
    pub(in crate::contact) fn arb_proof() -> impl Strategy<Value = ConsentProof> {
        (
            proptest::option::of(Just("newsletter-footer".to_owned())),
            proptest::option::of(any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))),
            proptest::option::of("[a-z0-9]{1,8}"),
        )
            .prop_map(|(form_id, ip_address, double_opt_in_token)| ConsentProof {
                form_id,
                ip_address,
                double_opt_in_token,
                ..ConsentProof::default()
            })
    }

    /// Any purpose.
    pub(in crate::contact) fn arb_purpose() -> impl Strategy<Value = ConsentPurpose> {
        proptest::sample::select(ConsentPurpose::ALL.to_vec())
    }

    /// Any channel for any purpose.
    pub(in crate::contact) fn arb_scope() -> impl Strategy<Value = ConsentScope> {
        (arb_channel(), arb_purpose())
            .prop_map(|(channel, purpose)| ConsentScope::new(channel, purpose))
    }

    /// Any statement.
    pub(in crate::contact) fn arb_channel_consent() -> impl Strategy<Value = ChannelConsent> {
        (arb_status(), arb_provenance(), arb_proof()).prop_map(|(status, provenance, proof)| {
            ChannelConsent {
                status,
                provenance,
                proof,
            }
        })
    }
}
