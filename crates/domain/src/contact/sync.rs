//! A connected system's update of a contact under the data dictionary's rules, and the review
//! of field conflicts (see [`crate::sync`]).

use chrono::{DateTime, Utc};

use super::{
    Contact, ContactError, ContactEvent, ContactField, Detail, DetailChange, Provenance,
    check_provenance, tidy,
};
use crate::aggregate::Aggregate;
use crate::context::Context;
use crate::sync::{ContactRules, Current, Incoming, SyncRefusals, SyncVerdict, judge};

impl Contact {
    /// The events of a [`ContactCommand::Sync`](super::ContactCommand::Sync): each change judged in order against what the
    /// ones before it left.
    pub(super) fn sync(
        &self,
        changes: Vec<DetailChange>,
        provenance: &Provenance,
        rules: &ContactRules,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        check_provenance(provenance, ctx)?;
        let mut working = self.clone();
        let mut events = Vec::new();
        let mut refusals = Vec::new();
        for change in changes {
            let made = match change {
                DetailChange::Set(detail) => {
                    let detail = tidy(detail, ctx.now)?;
                    match working.judge(&detail, provenance, rules) {
                        SyncVerdict::Apply => working.apply_synced(detail, provenance, ctx.now)?,
                        SyncVerdict::Unchanged | SyncVerdict::Stale | SyncVerdict::EmptyIgnored => {
                            Vec::new()
                        }
                        SyncVerdict::Outranked { kept } => vec![ContactEvent::SyncOutranked {
                            detail,
                            provenance: provenance.clone(),
                            kept,
                            at: ctx.now,
                        }],
                        SyncVerdict::Review { current } => {
                            working.raise_conflict(detail, provenance, current, ctx.now)
                        }
                        SyncVerdict::Refused(refusal) => {
                            refusals.push(refusal);
                            Vec::new()
                        }
                    }
                }
                other => working.detail_change(other, provenance, ctx.now)?,
            };
            for event in made {
                working = working.evolve(&event);
                events.push(event);
            }
        }
        if !refusals.is_empty() {
            return Err(ContactError::SyncRefused(SyncRefusals(refusals)));
        }
        Ok(events)
    }

    /// What the rules say of `detail` from `provenance` against the current value.
    fn judge(&self, detail: &Detail, provenance: &Provenance, rules: &ContactRules) -> SyncVerdict {
        let field = detail.field();
        let current = self.details.entry(field).map(|entry| Current {
            empty: entry.value.is_empty(),
            provenance: &entry.provenance,
        });
        judge(
            rules.get(&field),
            current,
            Incoming {
                field,
                empty: detail.is_empty(),
                same: self.details.value(field) == *detail,
                provenance,
            },
        )
    }

    /// The events that set `detail` as decided (the primary email through its own rules, so
    /// a new address is added too).
    fn apply_synced(
        &self,
        detail: Detail,
        provenance: &Provenance,
        now: DateTime<Utc>,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        if let Detail::PrimaryEmail(email) = detail {
            return self.choose_primary_email(email, provenance, now);
        }
        Ok(vec![ContactEvent::DetailChanged {
            detail,
            provenance: provenance.clone(),
            at: now,
        }])
    }

    /// A conflict for review, unless the same proposal already waits.
    fn raise_conflict(
        &self,
        detail: Detail,
        provenance: &Provenance,
        current: Provenance,
        now: DateTime<Utc>,
    ) -> Vec<ContactEvent> {
        let waiting = self.conflicts.get(&detail.field());
        if waiting
            .is_some_and(|waiting| waiting.value == detail && waiting.provenance == *provenance)
        {
            return Vec::new();
        }
        vec![ContactEvent::FieldConflictRaised {
            detail,
            provenance: provenance.clone(),
            current,
            at: now,
        }]
    }

    /// The events of a
    /// [`ContactCommand::ResolveFieldConflict`](super::ContactCommand::ResolveFieldConflict).
    pub(super) fn resolve_field_conflict(
        &self,
        field: ContactField,
        accept: bool,
        ctx: &Context,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        self.require_active()?;
        let Some(waiting) = self.conflicts.get(&field) else {
            return Err(ContactError::NoConflict { field });
        };
        let mut events = Vec::new();
        if accept && self.details.value(field) != waiting.value {
            events = self.apply_synced(waiting.value.clone(), &waiting.provenance, ctx.now)?;
        }
        events.push(ContactEvent::FieldConflictResolved {
            field,
            accepted: accept,
            by: ctx.actor.clone(),
            at: ctx.now,
        });
        Ok(events)
    }
}
