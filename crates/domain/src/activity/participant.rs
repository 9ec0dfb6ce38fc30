//! The people who took part in an activity.

use serde::{Deserialize, Serialize};

use crate::identity::{EmailAddress, PersonName, PhoneNumber};
use crate::ids::ContactId;

/// A person who took part in an activity, as far as they are known: a contact of the CRM,
/// and/or the name, email address and phone number given. Personal data: an activity's
/// participants are encrypted with its data subject's key and read as empty once erased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Participant {
    /// The contact, when the person is one.
    pub contact: Option<ContactId>,
    /// The name given.
    pub name: Option<PersonName>,
    /// The email address given.
    pub email: Option<EmailAddress>,
    /// The phone number given.
    pub phone: Option<PhoneNumber>,
}

impl Participant {
    /// A participant known only as a contact of the CRM.
    pub fn contact(contact: ContactId) -> Self {
        Self {
            contact: Some(contact),
            name: None,
            email: None,
            phone: None,
        }
    }

    /// Whether nothing is known about the participant.
    pub fn is_empty(&self) -> bool {
        self.contact.is_none()
            && self.name.is_none()
            && self.email.is_none()
            && self.phone.is_none()
    }
}
