//! Consent per channel: what the person last said about being contacted by email, phone or
//! SMS, when, through which system, and the proof of it.
//!
//! Statements are ordered by the moment the person made them (the source's timestamp, not
//! when we heard of them). The latest statement is in effect; at the same moment a
//! withdrawal wins over a grant, so a withdrawal always beats every grant that is not newer.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::details::Provenance;
use crate::Channel;

/// A channel that needs the person's consent before the company uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentChannel {
    /// Marketing email.
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

/// The statement in effect for each channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consents {
    email: Option<ChannelConsent>,
    phone: Option<ChannelConsent>,
    sms: Option<ChannelConsent>,
}

impl Consents {
    /// The statement in effect for `channel`, if the person ever made one.
    pub fn get(&self, channel: ConsentChannel) -> Option<&ChannelConsent> {
        match channel {
            ConsentChannel::Email => self.email.as_ref(),
            ConsentChannel::Phone => self.phone.as_ref(),
            ConsentChannel::Sms => self.sms.as_ref(),
        }
    }

    /// Whether the company may contact the person on `channel`: only with a grant in effect.
    pub fn is_granted(&self, channel: ConsentChannel) -> bool {
        self.get(channel).is_some_and(ChannelConsent::is_granted)
    }

    /// Whether no statement is recorded for any channel.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.phone.is_none() && self.sms.is_none()
    }

    /// Whether `statement` would take effect on `channel` (see [`ChannelConsent::prevails_over`]).
    pub fn would_change(&self, channel: ConsentChannel, statement: &ChannelConsent) -> bool {
        self.get(channel)
            .is_none_or(|current| statement.prevails_over(current))
    }

    pub(super) fn set(&mut self, channel: ConsentChannel, consent: Option<ChannelConsent>) {
        let slot = match channel {
            ConsentChannel::Email => &mut self.email,
            ConsentChannel::Phone => &mut self.phone,
            ConsentChannel::Sms => &mut self.sms,
        };
        *slot = consent;
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
