//! Tests of identity resolution through its public API: each normalization rule, each
//! verdict, and the properties that hold for any input.

mod normalization;
mod phone_differential;
mod properties;
mod scoring;
