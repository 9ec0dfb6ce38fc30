//! Given/when/then and properties of the roster's aggregates.
