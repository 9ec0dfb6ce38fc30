//! Finding a person's candidates in the identity index, and ranking them.

use std::collections::BTreeSet;

use crm_domain::ContactId;
use crm_domain::identity::linkage::{
    IdentifierSketch, LinkageAssessment, LinkageModel, PersonRecord,
};
use uuid::Uuid;

use super::{COMPANY, IdentityDoc, IdentityIndexModel, IndexedPerson, block_key, person_key};
use crate::model::{Comparison, DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};

/// The live people sharing a blocking key with a record: two rounds, the record's blocks and
/// then their members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    blocks: Vec<Uuid>,
    exclude: Option<ContactId>,
    limit: usize,
}

impl Candidates {
    /// The candidates of `record` under the index's passes, at most `limit` of them (the
    /// people of the record's blocks in block order; a lookup never loads more).
    pub fn of(model: &IdentityIndexModel, record: &PersonRecord, limit: usize) -> Self {
        Self {
            blocks: model.block_ids(record),
            exclude: None,
            limit,
        }
    }

    /// Leaves out one contact (the one being checked against the others).
    #[must_use]
    pub fn excluding(mut self, contact: ContactId) -> Self {
        self.exclude = Some(contact);
        self
    }

    /// The distinct members of the found blocks, in contact id order: the first `limit` met
    /// in block order.
    fn members(&self, found: &Found<IdentityDoc>) -> Vec<ContactId> {
        let blocks = || {
            self.blocks
                .iter()
                .filter_map(|block| match found.get(&block_key(*block)) {
                    Some(IdentityDoc::Block(block)) => Some(&block.members),
                    _ => None,
                })
        };
        // Usually the blocks hold fewer members than the limit, duplicates and all: then
        // every one is kept, and sorting a vector is cheaper than building a tree.
        let held = blocks().map(Vec::len).sum::<usize>();
        if held <= self.limit {
            let mut members: Vec<ContactId> = Vec::with_capacity(held);
            members.extend(
                blocks()
                    .flatten()
                    .copied()
                    .filter(|member| Some(*member) != self.exclude),
            );
            members.sort_unstable();
            members.dedup();
            return members;
        }
        let mut members = BTreeSet::new();
        for block in &self.blocks {
            if let Some(IdentityDoc::Block(block)) = found.get(&block_key(*block)) {
                for member in &block.members {
                    if members.len() >= self.limit {
                        return members.into_iter().collect();
                    }
                    if Some(*member) != self.exclude {
                        members.insert(*member);
                    }
                }
            }
        }
        members.into_iter().collect()
    }

    /// The live people found among the members.
    fn live_people<'f>(
        &self,
        found: &'f Found<'_, IdentityDoc>,
    ) -> impl Iterator<Item = (ContactId, &'f IndexedPerson)> {
        self.members(found).into_iter().filter_map(|contact| {
            match found.get(&person_key(contact)) {
                Some(IdentityDoc::Person(person)) if person.is_live() => Some((contact, &**person)),
                _ => None,
            }
        })
    }
}

/// A candidate as found in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The contact.
    pub contact: ContactId,
    /// Their record.
    pub record: PersonRecord,
}

impl Lookup<IdentityDoc> for Candidates {
    type Answer = Vec<Candidate>;

    fn keys(&self, found: &Found<IdentityDoc>, keys: &mut Vec<DocKey>) {
        keys.extend(self.blocks.iter().copied().map(block_key));
        keys.extend(self.members(found).into_iter().map(person_key));
    }

    /// The blocks, then their members.
    fn rounds(&self) -> Option<usize> {
        Some(2)
    }

    fn answer(&self, found: &Found<IdentityDoc>) -> Vec<Candidate> {
        self.live_people(found)
            .map(|(contact, person)| Candidate {
                contact,
                record: person.record.clone(),
            })
            .collect()
    }
}

/// A candidate with its assessment.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedCandidate {
    /// The contact.
    pub contact: ContactId,
    /// How they compare with the record looked up, field by field.
    pub assessment: LinkageAssessment,
}

/// Scores each candidate against `record` and keeps the best `keep`, best first (ties by
/// contact id), each with its full explanation. Every candidate is weighed on the fast path
/// ([`LinkageModel::match_weight`]); only the kept ones are explained.
pub fn rank(
    model: &LinkageModel,
    record: &PersonRecord,
    candidates: &[Candidate],
    keep: usize,
) -> Vec<RankedCandidate> {
    rank_people(
        model,
        record,
        None,
        candidates.iter().map(|c| (c.contact, &c.record, None)),
        keep,
    )
}

fn rank_people<'r>(
    model: &LinkageModel,
    record: &PersonRecord,
    sketch: Option<&IdentifierSketch>,
    people: impl Iterator<Item = (ContactId, &'r PersonRecord, Option<&'r IdentifierSketch>)>,
    keep: usize,
) -> Vec<RankedCandidate> {
    model
        .strongest_sketched(record, sketch, people, keep)
        .into_iter()
        .map(|weighed| RankedCandidate {
            contact: weighed.key,
            assessment: model.assess(&weighed.vector),
        })
        .collect()
}

/// A record's best matches in the index, ranked where the candidates are found: the
/// [`Candidates`] lookup followed by [`rank`], without copying the candidates' records out
/// of the store (an in-memory index lends them, so a lookup allocates only its answer).
#[derive(Debug, Clone)]
pub struct BestMatches<'q> {
    candidates: Candidates,
    record: &'q PersonRecord,
    sketch: IdentifierSketch,
    model: &'q LinkageModel,
    keep: usize,
}

impl<'q> BestMatches<'q> {
    /// The best `keep` of `record`'s candidates under the index's passes (at most `limit`
    /// candidates weighed, as [`Candidates::of`]), by `model`.
    pub fn of(
        index: &IdentityIndexModel,
        record: &'q PersonRecord,
        limit: usize,
        model: &'q LinkageModel,
        keep: usize,
    ) -> Self {
        Self {
            candidates: Candidates::of(index, record, limit),
            record,
            sketch: IdentifierSketch::of(record),
            model,
            keep,
        }
    }

    /// Leaves out one contact (the one being checked against the others).
    #[must_use]
    pub fn excluding(mut self, contact: ContactId) -> Self {
        self.candidates = self.candidates.excluding(contact);
        self
    }
}

impl Lookup<IdentityDoc> for BestMatches<'_> {
    type Answer = Vec<RankedCandidate>;

    fn keys(&self, found: &Found<'_, IdentityDoc>, keys: &mut Vec<DocKey>) {
        self.candidates.keys(found, keys);
    }

    fn rounds(&self) -> Option<usize> {
        self.candidates.rounds()
    }

    fn answer(&self, found: &Found<'_, IdentityDoc>) -> Vec<RankedCandidate> {
        // Gathered first, in a loop of their own: each candidate's record is a few pointers
        // away, and a short loop lets the processor follow many of them at once.
        let people: Vec<(ContactId, &PersonRecord, Option<&IdentifierSketch>)> = self
            .candidates
            .live_people(found)
            .map(|(contact, person)| {
                let sketch = person.sketch.get();
                debug_assert!(
                    sketch.is_none_or(|sketch| *sketch == IdentifierSketch::of(&person.record)),
                    "a person's sketch stands for their record"
                );
                (contact, &person.record, sketch)
            })
            .collect();
        rank_people(
            self.model,
            self.record,
            Some(&self.sketch),
            people.into_iter(),
            self.keep,
        )
    }
}

/// The live contacts filed under one company key ([`company_key_id`](super::company_key_id)),
/// in contact id order, `limit` after `after` (from the first when `None`): a page of the
/// people an account's domain or name points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeopleAtCompany {
    /// The company key's id.
    pub company: Uuid,
    /// The last contact of the page before.
    pub after: Option<ContactId>,
    /// The most contacts to return (at least one).
    pub limit: usize,
}

impl Scan<IdentityDoc> for PeopleAtCompany {
    type Answer = Vec<ContactId>;

    fn selection(&self) -> Selection {
        let mut selection = Selection::all(COMPANY)
            .filter(Filter::eq("company", IndexValue::Uuid(self.company)))
            .order_by("contact")
            .limit(self.limit.max(1));
        if let Some(after) = self.after {
            selection = selection.filter(Filter {
                column: "contact",
                comparison: Comparison::Gt,
                value: IndexValue::Uuid(after.0),
            });
        }
        selection
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<ContactId>
    where
        I: Iterator<Item = (&'a DocKey, &'a IdentityDoc)>,
    {
        docs.filter_map(|(_, doc)| match doc {
            IdentityDoc::Company(member) => Some(member.contact),
            _ => None,
        })
        .collect()
    }
}
