//! The ticket aggregate: a customer's support request from opening to closing.
