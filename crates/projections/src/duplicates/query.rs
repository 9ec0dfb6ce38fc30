//! Questions to the duplicate review queue.

use chrono::{DateTime, Utc};
use crm_domain::ContactId;
use crm_domain::identity::{MatchReason, Score};
use serde::Serialize;

use super::{DuplicateDoc, PAIR, PairDoc, pair_key, rank};
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

/// Where a page of the review queue ended: the last pair's score and contacts. Stable while
/// pairs are added or leave the queue (a page starts after this place in the queue's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReviewCursor {
    /// The last pair's score.
    pub score: Score,
    /// Its contact with the lower id.
    pub lower: ContactId,
    /// Its contact with the higher id.
    pub higher: ContactId,
}

impl ReviewCursor {
    /// The place just after `candidate`.
    pub fn after(candidate: &Candidate) -> Self {
        Self {
            score: candidate.score,
            lower: candidate.lower,
            higher: candidate.higher,
        }
    }

    /// The cursor as text: `<score in ten-thousandths>.<lower>.<higher>`.
    pub fn to_text(&self) -> String {
        format!(
            "{}.{}.{}",
            self.score.ten_thousandths(),
            self.lower.0.simple(),
            self.higher.0.simple()
        )
    }

    /// Reads [`to_text`](Self::to_text) back; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let score: u16 = parts.next()?.parse().ok()?;
        let lower = uuid::Uuid::try_parse(parts.next()?).ok()?;
        let higher = uuid::Uuid::try_parse(parts.next()?).ok()?;
        if parts.next().is_some() || score > 10_000 || lower >= higher {
            return None;
        }
        Some(Self {
            score: Score::from_ten_thousandths(score),
            lower: ContactId(lower),
            higher: ContactId(higher),
        })
    }
}

/// The pairs waiting for review, highest score first (then by pair), at most `limit`, after
/// `after` when given.
#[derive(Debug, Clone, Copy)]
pub struct ReviewQueue {
    /// The most pairs to return.
    pub limit: usize,
    /// Where the page before ended.
    pub after: Option<ReviewCursor>,
}

impl ReviewQueue {
    /// The first `limit` pairs of the queue.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }
}

impl Scan<DuplicateDoc> for ReviewQueue {
    type Answer = Vec<Candidate>;

    fn selection(&self) -> Selection {
        let selection = Selection::all(PAIR)
            .filter(Filter::eq("waiting", IndexValue::Bool(true)))
            .order_by("rank")
            .limit(self.limit);
        match self.after {
            Some(after) => selection.after(
                IndexValue::Int(rank(after.score)),
                pair_key(after.lower, after.higher),
            ),
            None => selection,
        }
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
