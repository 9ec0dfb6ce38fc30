//! The channels through which the company and its customers talk.

use serde::{Deserialize, Serialize};

/// A communication channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email.
    Email,
    /// A phone call.
    Phone,
    /// SMS / text message.
    Sms,
    /// Live chat.
    Chat,
    /// A web form or portal.
    Web,
    /// Social media.
    Social,
}
