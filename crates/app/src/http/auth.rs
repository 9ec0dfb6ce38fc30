//! Who calls: bearer API tokens, kept hashed, each mapped to one tenant and one role; what each
//! role may do; and each token's request budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crm_domain::{Actor, UserId};
use crm_eventstore::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

/// What a token may do. Every route names the one [`Permission`] it needs; a role holds a set
/// of them ([`Role::allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, the roster and operations included.
    Admin,
    /// Leads, contacts, opportunities and forecasts; reads the customer and the pipeline.
    Sales,
    /// Tickets and contacts; reads the customer and the SLA lists.
    Support,
    /// Reads everything, history included; changes nothing.
    Auditor,
    /// Lead intake and the synchronisation of contacts from another system; nothing else.
    Integration,
}

impl Role {
    /// Every role, for walking the permission matrix.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Sales,
        Role::Support,
        Role::Auditor,
        Role::Integration,
    ];

    /// Whether a token of this role may use a route needing `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            _ if permission == P::CheckConsent || permission == P::FindByExternalId => true,
            Role::Sales => matches!(
                permission,
                P::ReadCustomers
                    | P::ReadPipeline
                    | P::ReadRoster
                    | P::WriteLeads
                    | P::WriteContacts
                    | P::MergeContacts
                    | P::SendOutreach
                    | P::WriteDeals
                    | P::LogActivities
                    | P::WriteAccounts
                    | P::WriteTasks
                    | P::ReadCustomFields
                    | P::SetOwnAvailability
            ),
            Role::Support => matches!(
                permission,
                P::ReadCustomers
                    | P::ReadSla
                    | P::ReadRoster
                    | P::WriteContacts
                    | P::MergeContacts
                    | P::WriteTickets
                    | P::LogActivities
                    | P::WriteTasks
                    | P::ReadCustomFields
                    | P::SetOwnAvailability
            ),
            Role::Auditor => matches!(
                permission,
                P::ReadCustomers
                    | P::ReadPipeline
                    | P::ReadSla
                    | P::ReadRoster
                    | P::ReadOperations
                    | P::ReadHistory
                    | P::ReadCustomFields
            ),
            // Activities too: mailbox and calendar capture log them.
            Role::Integration => {
                matches!(
                    permission,
                    P::Intake
                        | P::WriteContacts
                        | P::SyncRecords
                        | P::LogActivities
                        | P::ReadCustomFields
                        | P::SendOutreach
                )
            }
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Customer 360, records, search, the duplicate review queue.
    ReadCustomers,
    /// Pipeline and forecast figures.
    ReadPipeline,
    /// SLA lists and attainment.
    ReadSla,
    /// Reps, teams and territories.
    ReadRoster,
    /// Inbox and outbox health.
    ReadOperations,
    /// Every event of a record, as stored.
    ReadHistory,
    /// Commands to leads.
    WriteLeads,
    /// Commands to contacts.
    WriteContacts,
    /// Merging contacts who are the same person, and undoing it (data stewards in sales and
    /// support, and admins; never an integration).
    MergeContacts,
    /// Sending a contact a message for a purpose, where consent allows (sales, the marketing
    /// tool's integration, admins).
    SendOutreach,
    /// Asking whether a person may be contacted for a purpose (every role: a marketing tool
    /// asks before it sends, support before it calls, an auditor checks).
    CheckConsent,
    /// Commands to opportunities and forecasts.
    WriteDeals,
    /// Commands to tickets.
    WriteTickets,
    /// Commands to reps, teams and territories.
    WriteRoster,
    /// A rep's own presence and time away (the handler checks the rep is the caller's user,
    /// unless an admin calls).
    SetOwnAvailability,
    /// Lead deliveries (webhooks).
    Intake,
    /// Erasing a person's personal data everywhere (the admin's alone).
    ErasePersons,
    /// Logging calls, emails, meetings and notes on records.
    LogActivities,
    /// Commands to accounts and the account hierarchy.
    WriteAccounts,
    /// Commands to tasks.
    WriteTasks,
    /// Exporting everything held about a person, for a subject access request (the admin's
    /// alone: it is all their personal data in clear).
    ExportPersons,
    /// Reading the custom field schemas (every role: forms and integrations need them).
    ReadCustomFields,
    /// Publishing custom field schemas (the admin's alone).
    ConfigureCustomFields,
    /// Finding contacts by their ids in connected systems (every role: ids only).
    FindByExternalId,
    /// A connected system's updates of records under the data dictionary (integrations, each
    /// speaking for its own system; admins).
    SyncRecords,
}

/// One token as the tokens file keeps it: its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A name for people (who or what holds the token); an integration's source system.
    pub name: String,
    /// The tenant the token acts for.
    pub tenant: String,
    /// What it may do.
    pub role: Role,
    /// The user the token acts as (recorded as the actor of its commands); an integration
    /// token acts as its source system instead.
    #[serde(default)]
    pub user: Option<Uuid>,
    /// The token's SHA-256, lowercase hex.
    pub sha256: String,
    /// Requests per second the token may make (sustained; bursts of twice as many).
    #[serde(default)]
    pub rate_per_second: Option<u32>,
}

impl TokenEntry {
    /// A new random token for `name`, with the entry that admits it. The token is shown once;
    /// only its hash is kept.
    pub fn generate(
        name: &str,
        tenant: &TenantId,
        role: Role,
    ) -> Result<(String, Self), AuthError> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| AuthError::Random(error.to_string()))?;
        let token = format!("crm_{}", hex(&bytes));
        let entry = TokenEntry {
            name: name.to_owned(),
            tenant: tenant.as_str().to_owned(),
            role,
            user: (role != Role::Integration).then(Uuid::now_v7),
            sha256: hash_token(&token),
            rate_per_second: None,
        };
        Ok((token, entry))
    }
}

/// The SHA-256 of a token, lowercase hex: what the tokens file keeps. Tokens are 256 random
/// bits, so a fast hash is enough (nothing to guess from).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// Who is calling, once their token is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// Its role.
    pub role: Role,
    /// Who its commands are recorded as.
    pub actor: Actor,
    /// Its hash (the key of its rate limit).
    pub(crate) key: String,
    /// Its sustained rate.
    pub(crate) rate_per_second: u32,
}

impl Principal {
    /// What scopes the principal's idempotency keys: part of its token's hash.
    pub(crate) fn key_prefix(&self) -> &str {
        self.key.get(..16).unwrap_or(&self.key)
    }
}

/// Why a tokens file was refused, or a token could not be made.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The file is not a list of token entries.
    #[error("the tokens file is not a JSON list of tokens: {0}")]
    Format(#[from] serde_json::Error),
    /// An entry is wrong.
    #[error("token {name:?}: {reason}")]
    Entry {
        /// The entry's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The system's random source failed.
    #[error("no randomness for a token: {0}")]
    Random(String),
}

/// The default sustained rate of a token, in requests per second.
pub const DEFAULT_RATE_PER_SECOND: u32 = 1_000;

/// The tokens a server admits, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<String, Principal>,
}

impl Tokens {
    /// Reads a tokens file: a JSON list of [`TokenEntry`].
    pub fn from_json(text: &str) -> Result<Self, AuthError> {
        let entries: Vec<TokenEntry> = serde_json::from_str(text)?;
        Self::from_entries(entries)
    }

    /// The tokens of `entries`, each checked.
    pub fn from_entries(entries: Vec<TokenEntry>) -> Result<Self, AuthError> {
        let mut by_hash = HashMap::with_capacity(entries.len());
        for entry in entries {
            let wrong = |reason: &str| AuthError::Entry {
                name: entry.name.clone(),
                reason: reason.to_owned(),
            };
            let tenant = TenantId::new(&entry.tenant).map_err(|error| wrong(&error.to_string()))?;
            let sha256 = entry.sha256.to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(wrong("sha256 must be 64 hex digits"));
            }
            let actor = match (entry.role, entry.user) {
                (Role::Integration, _) => Actor::Integration {
                    source: entry.name.clone(),
                },
                (_, Some(user)) => Actor::User { id: UserId(user) },
                (_, None) => {
                    return Err(wrong("a token other than an integration's names its user"));
                }
            };
            let rate = entry.rate_per_second.unwrap_or(DEFAULT_RATE_PER_SECOND);
            if rate == 0 {
                return Err(wrong("rate_per_second must be at least 1"));
            }
            let principal = Principal {
                name: entry.name.clone(),
                tenant,
                role: entry.role,
                actor,
                key: sha256.clone(),
                rate_per_second: rate,
            };
            if by_hash.insert(sha256, principal).is_some() {
                return Err(wrong("the same token is listed twice"));
            }
        }
        Ok(Self { by_hash })
    }

    /// The principal a bearer token stands for.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        self.by_hash.get(&hash_token(token))
    }

    /// Every tenant some token acts for, once each.
    pub fn tenants(&self) -> Vec<TenantId> {
        let mut tenants: Vec<TenantId> = self
            .by_hash
            .values()
            .map(|principal| principal.tenant.clone())
            .collect();
        tenants.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        tenants.dedup();
        tenants
    }
}

/// Each token's request budget: a token bucket refilled at the token's rate, holding at most
/// two seconds' worth.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Takes one request from `principal`'s budget at `now`; when it is spent, how long until
    /// the next request is allowed.
    pub fn take(&self, principal: &Principal, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(principal.rate_per_second);
        let capacity = rate * 2.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(principal.key.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(rate: u32) -> Principal {
        Principal {
            name: "t".into(),
            tenant: TenantId::new("acme").expect("a tenant"),
            role: Role::Sales,
            actor: Actor::User {
                id: UserId(Uuid::nil()),
            },
            key: "k".into(),
            rate_per_second: rate,
        }
    }

    #[test]
    fn a_token_is_known_by_its_hash_only() {
        let tenant = TenantId::new("acme").expect("a tenant");
        let (token, entry) = TokenEntry::generate("ada", &tenant, Role::Sales).expect("a token");
        assert!(!entry.sha256.contains(&token));
        let tokens = Tokens::from_entries(vec![entry]).expect("valid");
        let principal = tokens.authenticate(&token).expect("admitted");
        assert_eq!(principal.role, Role::Sales);
        assert!(tokens.authenticate("crm_guess").is_none());
        assert!(tokens.authenticate(&entry_hash_as_token(&token)).is_none());
    }

    fn entry_hash_as_token(token: &str) -> String {
        hash_token(token)
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_name() {
        let text = r#"[{"name":"x","tenant":"acme","role":"sales","sha256":"zz"}]"#;
        assert!(
            matches!(Tokens::from_json(text), Err(AuthError::Entry { name, .. }) if name == "x")
        );
        let unknown = r#"[{"name":"x","tenant":"acme","role":"root","sha256":"00"}]"#;
        assert!(matches!(
            Tokens::from_json(unknown),
            Err(AuthError::Format(_))
        ));
    }

    #[test]
    fn a_spent_budget_says_when_to_come_back() {
        let limiter = RateLimiter::default();
        let principal = principal(5);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(limiter.take(&principal, start).is_ok());
        }
        let wait = limiter.take(&principal, start).expect_err("spent");
        assert!(wait <= Duration::from_millis(200) && wait > Duration::ZERO);
        assert!(
            limiter
                .take(&principal, start + Duration::from_millis(200))
                .is_ok()
        );
    }

    #[test]
    fn the_auditor_changes_nothing_and_the_integration_reads_nothing() {
        for permission in [
            Permission::WriteLeads,
            Permission::WriteContacts,
            Permission::WriteDeals,
            Permission::WriteTickets,
            Permission::WriteRoster,
            Permission::Intake,
            Permission::ErasePersons,
        ] {
            assert!(!Role::Auditor.allows(permission));
        }
        for role in [Role::Sales, Role::Support, Role::Integration, Role::Auditor] {
            assert!(!role.allows(Permission::ErasePersons), "{role:?}");
            assert!(!role.allows(Permission::ExportPersons), "{role:?}");
        }
        for permission in [
            Permission::ReadCustomers,
            Permission::ReadHistory,
            Permission::ReadPipeline,
        ] {
            assert!(!Role::Integration.allows(permission));
        }
    }
}
