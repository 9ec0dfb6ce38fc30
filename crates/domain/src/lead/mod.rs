//! The lead aggregate: an inbound request for contact, from receipt to conversion.
