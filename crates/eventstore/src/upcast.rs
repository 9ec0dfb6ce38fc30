//! Schema evolution: upcasters that carry old payloads forward to their type's current version
//! on every read and replay path.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::StoreError;

type UpcastFn = Box<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// A registry of upcasters, one per (event type, schema version it starts from), each carrying
/// a payload one version forward, plus each type's current version.
///
/// Types with no declared current version pass through untouched. For a declared type, a stored
/// payload older than current is carried through each step in turn; one newer than current, or
/// with a missing step, fails with [`StoreError::UnknownSchemaVersion`] rather than being
/// returned half-understood. The stored bytes (and so the hash chain) are never changed.
#[derive(Default)]
pub struct Upcasters {
    current: HashMap<String, u16>,
    steps: HashMap<String, BTreeMap<u16, UpcastFn>>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Upcasters")
            .field("current", &self.current)
            .field(
                "steps",
                &self
                    .steps
                    .iter()
                    .map(|(event_type, steps)| (event_type, steps.keys().collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Upcasters {
    /// An empty registry: every payload is read as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares `event_type`'s current schema version: reads return that version.
    #[must_use]
    pub fn current(mut self, event_type: impl Into<String>, version: u16) -> Self {
        self.current.insert(event_type.into(), version);
        self
    }

    /// Registers the step from `from` to `from + 1` for `event_type`, replacing any earlier one.
    ///
    /// The function receives the payload at version `from` and returns it at `from + 1`, or a
    /// reason it cannot (surfaced as [`StoreError::UpcastFailed`]).
    #[must_use]
    pub fn step(
        mut self,
        event_type: impl Into<String>,
        from: u16,
        upcast: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .entry(event_type.into())
            .or_default()
            .insert(from, Box::new(upcast));
        self
    }

    /// The start-up check: every type with steps has a declared current version, and from its
    /// oldest step every version up to current has a step (so every registered chain reaches
    /// current), and no step starts at or beyond current.
    pub fn check(&self) -> Result<(), StoreError> {
        for (event_type, steps) in &self.steps {
            let broken = |reason: String| StoreError::BrokenUpcasterChain {
                event_type: event_type.clone(),
                reason,
            };
            let Some(&current) = self.current.get(event_type) else {
                return Err(broken(
                    "steps are registered but no current version is declared".into(),
                ));
            };
            let Some((&oldest, _)) = steps.first_key_value() else {
                continue;
            };
            if let Some((&newest, _)) = steps.last_key_value()
                && newest >= current
            {
                return Err(broken(format!(
                    "a step starts at version {newest}, not below the current version {current}"
                )));
            }
            if let Some(missing) = (oldest..current).find(|version| !steps.contains_key(version)) {
                return Err(broken(format!(
                    "no step from version {missing} towards the current version {current}"
                )));
            }
        }
        Ok(())
    }

    /// The current schema version declared for `event_type`, if any.
    pub fn current_version(&self, event_type: &str) -> Option<u16> {
        self.current.get(event_type).copied()
    }

    /// Carries `payload`, stored at `schema_version`, to `event_type`'s current version.
    ///
    /// Returns the version reached and the payload at that version.
    pub fn upcast(
        &self,
        event_type: &str,
        schema_version: u16,
        mut payload: Value,
    ) -> Result<(u16, Value), StoreError> {
        let Some(&current) = self.current.get(event_type) else {
            return Ok((schema_version, payload));
        };
        let unknown = || StoreError::UnknownSchemaVersion {
            event_type: event_type.to_owned(),
            schema_version,
        };
        if schema_version > current {
            return Err(unknown());
        }
        let steps = self.steps.get(event_type);
        for from in schema_version..current {
            let step = steps
                .and_then(|steps| steps.get(&from))
                .ok_or_else(unknown)?;
            payload = step(payload).map_err(|reason| StoreError::UpcastFailed {
                event_type: event_type.to_owned(),
                from,
                reason,
            })?;
        }
        Ok((current, payload))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn renamed_field() -> Upcasters {
        Upcasters::new()
            .current("Renamed", 3)
            .step("Renamed", 1, |mut payload| {
                let name = payload.get_mut("name").map(Value::take).ok_or("no name")?;
                Ok(json!({ "full_name": name }))
            })
            .step("Renamed", 2, |mut payload| {
                payload["title"] = json!(null);
                Ok(payload)
            })
    }

    #[test]
    fn an_old_payload_is_carried_through_every_step() {
        let (version, payload) = renamed_field()
            .upcast("Renamed", 1, json!({ "name": "Ada" }))
            .unwrap();
        assert_eq!(version, 3);
        assert_eq!(payload, json!({ "full_name": "Ada", "title": null }));
    }

    #[test]
    fn a_payload_from_the_future_is_refused() {
        assert!(matches!(
            renamed_field().upcast("Renamed", 4, json!({})),
            Err(StoreError::UnknownSchemaVersion {
                schema_version: 4,
                ..
            })
        ));
    }

    #[test]
    fn a_failing_step_names_its_version() {
        assert!(matches!(
            renamed_field().upcast("Renamed", 1, json!({})),
            Err(StoreError::UpcastFailed { from: 1, .. })
        ));
    }

    #[test]
    fn undeclared_types_pass_through() {
        let (version, payload) = renamed_field().upcast("Other", 7, json!(1)).unwrap();
        assert_eq!((version, payload), (7, json!(1)));
    }

    #[test]
    fn the_start_up_check_finds_a_missing_step() {
        assert!(renamed_field().check().is_ok());
        let gap = Upcasters::new()
            .current("T", 4)
            .step("T", 1, Ok)
            .step("T", 3, Ok);
        assert!(matches!(
            gap.check(),
            Err(StoreError::BrokenUpcasterChain { .. })
        ));
        let undeclared = Upcasters::new().step("T", 1, Ok);
        assert!(undeclared.check().is_err());
        let beyond = Upcasters::new().current("T", 2).step("T", 2, Ok);
        assert!(beyond.check().is_err());
    }
}
