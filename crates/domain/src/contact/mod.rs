//! The contact aggregate: a person, known by a stable party id, with consent and merges.
