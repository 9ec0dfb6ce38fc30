//! A contact's ids in connected systems (its customer number in billing, its requester id in
//! the support desk): a cross-reference kept on the contact, found again by system and id.
//!
//! The id may identify the person in that system, so it is personal data: encrypted with the
//! contact's key like every other personal field, and gone with it on erasure. A contact
//! absorbed by a merge keeps its ids (the survivor is found through it), and a contact may hold
//! several ids of one system (two billing accounts of the same person, merged).

use serde::{Deserialize, Serialize};

use super::{Contact, ContactError, ContactEvent, ContactStatus};
use crate::context::Context;

/// The longest system name or external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// An id of the contact in a connected system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExternalId {
    /// The system, e.g. `"billing"`.
    pub system: String,
    /// The record's id there, as that system writes it (trimmed).
    pub id: String,
}

impl ExternalId {
    /// An id of `system`, trimmed; refused when either part is empty, longer than
    /// [`MAX_EXTERNAL_ID_CHARS`] or holds control characters.
    pub fn new(system: &str, id: &str) -> Result<Self, ContactError> {
        let check = |text: &str, what: &'static str| {
            let text = text.trim();
            if text.is_empty()
                || text.chars().count() > MAX_EXTERNAL_ID_CHARS
                || text.chars().any(char::is_control)
            {
                return Err(ContactError::InvalidExternalId { what });
            }
            Ok(text.to_owned())
        };
        Ok(Self {
            system: check(system, "system")?,
            id: check(id, "id")?,
        })
    }
}

impl Contact {
    /// The events of `LinkExternalId` (`link`) or `UnlinkExternalId`: none when the contact
    /// holds the id already, or does not hold the id to forget.
    pub(super) fn change_external_id(
        &self,
        external: &ExternalId,
        link: bool,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_linkable()?;
        let external = ExternalId::new(&external.system, &external.id)?;
        if self.external_ids.contains(&external) == link {
            return Ok(Vec::new());
        }
        let (external, at) = (Some(external), ctx.now);
        Ok(vec![if link {
            ContactEvent::ExternalIdLinked { external, at }
        } else {
            ContactEvent::ExternalIdUnlinked { external, at }
        }])
    }

    /// Ids may be linked to an active contact and to one merged into another (the survivor
    /// is found through it), never to an erased one.
    fn require_linkable(&self) -> Result<(), ContactError> {
        match (self.id, self.status) {
            (None, _) | (_, None) => Err(ContactError::NotFound),
            (Some(id), Some(ContactStatus::Erased)) => Err(ContactError::Erased { id }),
            _ => Ok(()),
        }
    }

    /// Applies a linking or unlinking (an erased id, `None`, changes nothing).
    pub(super) fn apply_external(&mut self, external: Option<&ExternalId>, linked: bool) {
        if let Some(external) = external {
            if linked {
                self.external_ids.insert(external.clone());
            } else {
                self.external_ids.remove(external);
            }
        }
    }
}
