//! Questions to the duplicate review queue.

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_domain::identity::{MatchReason, Score};
use serde::Serialize;

use super::{DuplicateDoc, PAIR, PairDoc, pair_key};
use crate::model::{DocKey, Filter, Found, IndexValue, Lookup, Scan, Selection};

/// A pair waiting for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The contact with the lower id.
    pub lower: ContactId,
    /// The contact with the higher id.
    pub higher: ContactId,
    /// The match score.
    pub score: Score,
    /// Why they may be the same person.
    pub reasons: Vec<MatchReason>,
    /// When they were last scored.
    pub suspected_at: Option<DateTime<Utc>>,
}

impl Candidate {
    fn of(pair: &PairDoc) -> Option<Self> {
        let assessment = pair.assessment.as_ref()?;
        Some(Self {
            lower: pair.lower,
            higher: pair.higher,
            score: assessment.score,
            reasons: assessment.reasons.clone(),
            suspected_at: pair.suspected_at,
        })
    }
}

/// The pairs waiting for review, highest score first (then by pair), at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct ReviewQueue {
    /// The most pairs to return.
    pub limit: usize,
}

impl Scan<DuplicateDoc> for ReviewQueue {
    type Answer = Vec<Candidate>;

    fn selection(&self) -> Selection {
        Selection::all(PAIR)
            .filter(Filter::eq("waiting", IndexValue::Bool(true)))
            .order_by("rank")
            .limit(self.limit)
    }

    fn answer<'a, I>(&self, docs: I) -> Vec<Candidate>
    where
        I: Iterator<Item = (&'a DocKey, &'a DuplicateDoc)>,
    {
        docs.filter_map(|(_, doc)| match doc {
            DuplicateDoc::Pair(pair) if pair.is_waiting() => Candidate::of(pair),
            _ => None,
        })
        .collect()
    }
}

/// Where the pair of two contacts stands; `None` when the pair was never suspected nor
/// declared.
#[derive(Debug, Clone, Copy)]
pub struct PairQuery {
    /// One contact.
    pub a: ContactId,
    /// The other.
    pub b: ContactId,
}

impl Lookup<DuplicateDoc> for PairQuery {
    type Answer = Option<PairDoc>;

    fn keys(&self, _found: &Found<DuplicateDoc>, keys: &mut Vec<DocKey>) {
        keys.push(pair_key(self.a, self.b));
    }

    fn answer(&self, found: &Found<DuplicateDoc>) -> Option<PairDoc> {
        match found.get(&pair_key(self.a, self.b))? {
            DuplicateDoc::Pair(pair) => Some(pair.clone()),
            DuplicateDoc::Contact(_) => None,
        }
    }
}
