//! The opportunity aggregate: a potential deal moving along a configurable pipeline.
