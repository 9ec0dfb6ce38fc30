//! What kind of activity was logged, which way it went and how it ended.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Channel;

/// The kind of an activity; it decides which of an activity's fields apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// A phone call: has a direction, may have a duration.
    Call,
    /// An email: has a direction.
    Email,
    /// A meeting (in person or online): may have a duration.
    Meeting,
    /// A note someone wrote down.
    Note,
}

impl ActivityKind {
    /// Every kind.
    pub const ALL: [ActivityKind; 4] = [
        ActivityKind::Call,
        ActivityKind::Email,
        ActivityKind::Meeting,
        ActivityKind::Note,
    ];

    /// Whether an activity of this kind goes one way (calls and emails): a direction is
    /// required for these and refused for the others.
    pub fn has_direction(self) -> bool {
        matches!(self, ActivityKind::Call | ActivityKind::Email)
    }

    /// Whether an activity of this kind lasts (calls and meetings): a duration is refused
    /// for the others.
    pub fn has_duration(self) -> bool {
        matches!(self, ActivityKind::Call | ActivityKind::Meeting)
    }

    /// The channel an activity of this kind reaches a person through, if it is one (a call
    /// is the phone, an email is email).
    pub fn channel(self) -> Option<Channel> {
        match self {
            ActivityKind::Call => Some(Channel::Phone),
            ActivityKind::Email => Some(Channel::Email),
            ActivityKind::Meeting | ActivityKind::Note => None,
        }
    }

    /// The kind in the CRM's words.
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Call => "call",
            ActivityKind::Email => "email",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Note => "note",
        }
    }
}

impl fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a call or an email went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the other side to us.
    Inbound,
    /// From us to the other side.
    Outbound,
}

/// How an activity ended, where that says something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityOutcome {
    /// A call: the two sides spoke.
    Connected,
    /// A call: a voicemail was left.
    LeftVoicemail,
    /// A call: nobody answered.
    NoAnswer,
    /// A call: the line was busy.
    Busy,
    /// A call: the number reached someone else.
    WrongNumber,
    /// An email: it bounced.
    Bounced,
    /// A meeting: it took place.
    Held,
    /// A meeting: the other side did not come.
    NoShow,
}

impl ActivityOutcome {
    /// Every outcome.
    pub const ALL: [ActivityOutcome; 8] = [
        ActivityOutcome::Connected,
        ActivityOutcome::LeftVoicemail,
        ActivityOutcome::NoAnswer,
        ActivityOutcome::Busy,
        ActivityOutcome::WrongNumber,
        ActivityOutcome::Bounced,
        ActivityOutcome::Held,
        ActivityOutcome::NoShow,
    ];

    /// Whether this outcome can end an activity of `kind` (notes have none).
    pub fn applies_to(self, kind: ActivityKind) -> bool {
        match self {
            ActivityOutcome::Connected
            | ActivityOutcome::LeftVoicemail
            | ActivityOutcome::NoAnswer
            | ActivityOutcome::Busy
            | ActivityOutcome::WrongNumber => kind == ActivityKind::Call,
            ActivityOutcome::Bounced => kind == ActivityKind::Email,
            ActivityOutcome::Held | ActivityOutcome::NoShow => kind == ActivityKind::Meeting,
        }
    }
}

/// Why a logged activity was cancelled. A closed list: the reason is kept in the clear, so it
/// must not be free text that could hold personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    /// It was logged by mistake (on the wrong record, with the wrong kind).
    LoggedInError,
    /// The same activity was logged twice; this is the copy.
    Duplicate,
    /// It did not happen after all.
    DidNotHappen,
}
