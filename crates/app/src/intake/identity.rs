//! Identity resolution on intake: a captured lead's person looked up among the contacts in
//! the identity index, ranked by a linkage model, and the best match (auto-link or review)
//! recorded on the lead with its per-field evidence.

use std::fmt;
use std::sync::Arc;

use crm_domain::identity::linkage::{LinkageModel, PersonRecord};
use crm_eventstore::TenantId;
use crm_projections::identity::IdentityIndexModel;
use crm_projections::identity::query::{BestMatches, RankedCandidate};
use crm_projections::{DocumentStore, StorageError};
use futures_util::future::BoxFuture;

/// Where candidates come from: the identity index, or anything answering like it.
pub trait CandidateSource: Send + Sync + fmt::Debug {
    /// The best `keep` of the live contacts sharing a blocking key with `record` (at most
    /// `limit` of them weighed), ranked by `model`, best first, each explained.
    fn best_matches<'a>(
        &'a self,
        tenant: &'a TenantId,
        record: &'a PersonRecord,
        model: &'a LinkageModel,
        limit: usize,
        keep: usize,
    ) -> BoxFuture<'a, Result<Vec<RankedCandidate>, StorageError>>;
}

/// The identity index read model's documents as a [`CandidateSource`] (memory or
/// PostgreSQL: any [`DocumentStore`] of the model).
#[derive(Debug)]
pub struct IndexCandidates<D> {
    documents: D,
    model: IdentityIndexModel,
}

impl<D> IndexCandidates<D> {
    /// Candidates from `documents`, filed by `model`'s passes (the projector's model).
    pub fn new(documents: D, model: IdentityIndexModel) -> Self {
        Self { documents, model }
    }
}

impl<D> CandidateSource for IndexCandidates<D>
where
    D: DocumentStore<IdentityIndexModel> + fmt::Debug,
{
    fn best_matches<'a>(
        &'a self,
        tenant: &'a TenantId,
        record: &'a PersonRecord,
        model: &'a LinkageModel,
        limit: usize,
        keep: usize,
    ) -> BoxFuture<'a, Result<Vec<RankedCandidate>, StorageError>> {
        Box::pin(async move {
            let query = BestMatches::of(&self.model, record, limit, model, keep);
            self.documents.lookup(tenant, &query).await
        })
    }
}

/// How intake resolves identity: the candidates' source, the model that judges them, and
/// how many candidates a lookup loads at most.
#[derive(Debug, Clone)]
pub struct IdentityResolution {
    /// Where candidates come from.
    pub source: Arc<dyn CandidateSource>,
    /// The model that scores them (estimated or configured; see
    /// `crm_domain::identity::linkage`).
    pub model: LinkageModel,
    /// Candidates loaded per lookup at most.
    pub limit: usize,
}

impl IdentityResolution {
    /// Resolution against `source` with `model`, loading at most 500 candidates a lookup.
    pub fn new(source: Arc<dyn CandidateSource>, model: LinkageModel) -> Self {
        Self {
            source,
            model,
            limit: 500,
        }
    }
}
