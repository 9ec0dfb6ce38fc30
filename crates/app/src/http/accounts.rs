//! `POST /v1/accounts/{id}/commands`: companies, their domains, addresses, owner and the
//! contacts' roles there, and their place in the tenant's account hierarchy.
//!
//! A parent is set on the tenant's one hierarchy stream
//! ([`AccountHierarchy`](crm_domain::account::AccountHierarchy)), so two crossing moves cannot
//! both succeed: the second is decided again on the first and refused as a cycle.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use crm_domain::account::matching::CompanyEvidence;
use crm_domain::account::{
    Account, AccountAddress, AccountCommand, AccountHierarchy, AccountHierarchyCommand,
    AddressKind, ContactRole,
};
use crm_domain::contact::StreetAddress;
use crm_domain::custom_fields::EntityKind;
use crm_domain::identity::{CompanyDomain, CompanyName, CountryCode};
use crm_domain::identity::{EmailAddress, IdentityRecord, MatchConfig};
use crm_domain::{CompanyId, ContactId, UserId};
use crm_projections::DocumentStore as _;
use crm_projections::account360::{
    Account360Query, AccountCandidates, AccountReviewCursor, AccountReviewQueue,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::body::Body;
use super::commands::{execute, execute_with_custom};
use super::problem::{Problem, ProblemKind};
use super::reads::{Id, Params, answered, cut_page, found_or_not_found, limit, page_params};
use super::{App, Principal};
use crate::backend::Backend;

/// A postal address of an account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountAddressBody {
    /// `headquarters`, `billing` or `shipping` (one address of each kind).
    #[schema(value_type = String)]
    pub kind: AddressKind,
    /// The street number.
    #[serde(default)]
    pub street_number: Option<String>,
    /// The street.
    #[serde(default)]
    pub street: Option<String>,
    /// The town or city.
    #[serde(default)]
    pub locality: Option<String>,
    /// The postcode.
    #[serde(default)]
    pub postcode: Option<String>,
    /// The region or state.
    #[serde(default)]
    pub region: Option<String>,
    /// The country, ISO 3166 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
}

/// A command to an account (the path's id is the account's).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum AccountRequest {
    /// Opens the account.
    Open {
        /// The company's name.
        name: String,
        /// Who owns the relationship.
        owner: Uuid,
        /// Its web domains (`acme.com`; a URL is read for its host).
        #[serde(default)]
        domains: Vec<String>,
        /// Its industry.
        #[serde(default)]
        industry: Option<String>,
        /// Its size, in employees.
        #[serde(default)]
        employees: Option<u32>,
        /// Its addresses.
        #[serde(default)]
        addresses: Vec<AccountAddressBody>,
        /// Custom field values to set with it, checked against the account's validation
        /// rules (which it meets even when it sends none).
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        custom_fields: Option<Map<String, Value>>,
    },
    /// Renames it (needs `If-Match`).
    Rename {
        /// The new name.
        name: String,
    },
    /// Adds a web domain.
    AddDomain {
        /// The domain.
        domain: String,
    },
    /// Removes a web domain.
    RemoveDomain {
        /// The domain.
        domain: String,
    },
    /// Sets or clears its industry.
    ChangeIndustry {
        /// The industry; absent clears it.
        #[serde(default)]
        industry: Option<String>,
    },
    /// Sets or clears its size.
    ChangeSize {
        /// Employees; absent clears it.
        #[serde(default)]
        employees: Option<u32>,
    },
    /// Sets the address of its kind.
    SetAddress {
        /// The address.
        address: AccountAddressBody,
    },
    /// Clears the address of a kind.
    ClearAddress {
        /// `headquarters`, `billing` or `shipping`.
        #[schema(value_type = String)]
        kind: AddressKind,
    },
    /// Gives it to another owner (needs `If-Match`).
    ChangeOwner {
        /// The new owner.
        owner: Uuid,
    },
    /// A contact takes a role at the account.
    AddContact {
        /// The contact.
        contact: Uuid,
        /// `decision_maker`, `economic_buyer`, `champion`, `influencer`,
        /// `technical_evaluator`, `user`, `billing` or `other`.
        #[schema(value_type = String)]
        role: ContactRole,
    },
    /// A contact's role changes.
    ChangeContactRole {
        /// The contact.
        contact: Uuid,
        /// The new role.
        #[schema(value_type = String)]
        role: ContactRole,
    },
    /// A contact no longer holds a role there.
    EndContactRole {
        /// The contact.
        contact: Uuid,
    },
    /// A contact identity resolution suggested does not work there: never suggested again.
    /// (To confirm a suggestion, `add_contact` them.)
    DismissSuggestion {
        /// The contact.
        contact: Uuid,
    },
    /// Closes the account (needs `If-Match`).
    Close {
        /// Why.
        reason: String,
    },
    /// Reopens a closed account.
    Reopen {},
    /// Archives it for good (needs `If-Match`).
    Archive {},
    /// Puts it under a parent account, or at the top with no parent; refused when that
    /// would make a cycle.
    SetParent {
        /// The parent; absent for none.
        #[serde(default)]
        parent: Option<Uuid>,
    },
    /// Sets or clears custom field values under the tenant's current schema.
    SetCustomFields {
        /// The values by field key (see [`CustomFieldValues`](super::commands::CustomFieldValues)).
        #[schema(value_type = Object)]
        values: Map<String, Value>,
    },
}

impl AccountRequest {
    /// See [`ContactRequest::take_custom_fields`](super::commands::ContactRequest).
    fn take_custom_fields(&mut self) -> Option<Map<String, Value>> {
        match self {
            AccountRequest::SetCustomFields { values } => Some(std::mem::take(values)),
            AccountRequest::Open { custom_fields, .. } => {
                Some(custom_fields.take().unwrap_or_default())
            }
            _ => None,
        }
    }
}

fn name(raw: &str) -> Result<CompanyName, Problem> {
    CompanyName::new(raw).map_err(|error| Problem::invalid_body(format!("name: {error}")))
}

fn domain(raw: &str) -> Result<CompanyDomain, Problem> {
    CompanyDomain::parse(raw)
        .map_err(|error| Problem::invalid_body(format!("domain {raw:?}: {error}")))
}

fn address(body: AccountAddressBody) -> Result<AccountAddress, Problem> {
    Ok(AccountAddress {
        kind: body.kind,
        street_address: StreetAddress {
            street_number: body.street_number,
            street: body.street,
            locality: body.locality,
            postcode: body.postcode,
            region: body.region,
        },
        country: body
            .country
            .as_deref()
            .map(CountryCode::new)
            .transpose()
            .map_err(|error| Problem::invalid_body(format!("address: country: {error}")))?,
    })
}

/// The domain's command (none for custom fields alone), and whether it needs `If-Match`.
fn account_command(
    id: Uuid,
    request: AccountRequest,
) -> Result<(Option<AccountCommand>, bool), Problem> {
    let (command, needs_if_match) = match request {
        AccountRequest::Open {
            name: raw,
            owner,
            domains,
            industry,
            employees,
            addresses,
            custom_fields: _,
        } => (
            AccountCommand::Open {
                account: CompanyId(id),
                name: name(&raw)?,
                owner: UserId(owner),
                domains: domains
                    .iter()
                    .map(|raw| domain(raw))
                    .collect::<Result<_, _>>()?,
                industry,
                employees,
                addresses: addresses
                    .into_iter()
                    .map(address)
                    .collect::<Result<_, _>>()?,
            },
            false,
        ),
        AccountRequest::Rename { name: raw } => {
            (AccountCommand::Rename { name: name(&raw)? }, true)
        }
        AccountRequest::AddDomain { domain: raw } => (
            AccountCommand::AddDomain {
                domain: domain(&raw)?,
            },
            false,
        ),
        AccountRequest::RemoveDomain { domain: raw } => (
            AccountCommand::RemoveDomain {
                domain: domain(&raw)?,
            },
            false,
        ),
        AccountRequest::ChangeIndustry { industry } => {
            (AccountCommand::ChangeIndustry { industry }, false)
        }
        AccountRequest::ChangeSize { employees } => {
            (AccountCommand::ChangeSize { employees }, false)
        }
        AccountRequest::SetAddress { address: body } => (
            AccountCommand::SetAddress {
                address: address(body)?,
            },
            false,
        ),
        AccountRequest::ClearAddress { kind } => (AccountCommand::ClearAddress { kind }, false),
        AccountRequest::ChangeOwner { owner } => (
            AccountCommand::ChangeOwner {
                owner: UserId(owner),
            },
            true,
        ),
        AccountRequest::AddContact { contact, role } => (
            AccountCommand::AddContact {
                contact: ContactId(contact),
                role,
            },
            false,
        ),
        AccountRequest::ChangeContactRole { contact, role } => (
            AccountCommand::ChangeContactRole {
                contact: ContactId(contact),
                role,
            },
            false,
        ),
        AccountRequest::EndContactRole { contact } => (
            AccountCommand::EndContactRole {
                contact: ContactId(contact),
            },
            false,
        ),
        AccountRequest::DismissSuggestion { contact } => (
            AccountCommand::DismissSuggestion {
                contact: ContactId(contact),
            },
            false,
        ),
        AccountRequest::Close { reason } => (AccountCommand::Close { reason }, true),
        AccountRequest::Reopen {} => (AccountCommand::Reopen, false),
        AccountRequest::Archive {} => (AccountCommand::Archive, true),
        AccountRequest::SetParent { .. } => {
            return Err(Problem::invalid_body(
                "set_parent goes to the hierarchy".to_owned(),
            ));
        }
        AccountRequest::SetCustomFields { .. } => return Ok((None, false)),
    };
    Ok((Some(command), needs_if_match))
}

/// Whether the account exists and is not archived (a parent or a child must be).
async fn open_account<B: Backend>(
    app: &App<B>,
    principal: &Principal,
    id: Uuid,
) -> Result<(), Problem> {
    let (account, _) = app
        .service
        .load::<Account>(&principal.tenant, id)
        .await
        .map_err(|error| Problem::of_command(&error))?;
    match account.status() {
        None => Err(Problem::new(
            ProblemKind::NotFound,
            format!("no such account: {id}"),
        )),
        Some(crm_domain::account::AccountStatus::Archived) => Err(Problem::new(
            ProblemKind::CommandRejected,
            format!("account {id} is archived"),
        )
        .with_code("archived")),
        Some(_) => Ok(()),
    }
}

pub(crate) async fn command<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
    headers: HeaderMap,
    Body(request): Body<AccountRequest>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    if let AccountRequest::SetParent { parent } = request {
        for account in std::iter::once(id).chain(parent) {
            if let Err(problem) = open_account(&app, &principal, account).await {
                return problem.into_response();
            }
        }
        // The hierarchy's own version is not the account's: an If-Match naming the account's
        // version does not apply to it (the move is decided on the hierarchy as it stands).
        let mut headers = headers;
        headers.remove(axum::http::header::IF_MATCH);
        let hierarchy = AccountHierarchy::id_for_tenant(principal.tenant.as_str());
        return execute::<AccountHierarchy>(
            &app,
            &principal,
            &headers,
            hierarchy,
            AccountHierarchyCommand::SetParent {
                account: CompanyId(id),
                parent: parent.map(CompanyId),
            },
            false,
        )
        .await;
    }
    let mut request = request;
    let custom = request.take_custom_fields();
    let planned = account_command(id, request).and_then(|(command, needs_if_match)| {
        let fields = command
            .as_ref()
            .map(AccountCommand::fields)
            .unwrap_or_default();
        super::sync::owns(
            &app,
            &principal,
            super::auth::Permission::WriteAccounts,
            &fields,
            custom.is_some(),
        )?;
        Ok((command, needs_if_match))
    });
    match planned {
        Ok((command, needs_if_match)) => {
            execute_with_custom::<Account>(
                &app,
                &principal,
                &headers,
                id,
                (command, custom),
                (EntityKind::Account, AccountCommand::SetCustomFields),
                needs_if_match,
                None,
            )
            .await
        }
        Err(problem) => problem.into_response(),
    }
}

/// `GET /v1/accounts/{id}`: the account 360 — the account, where it sits in its hierarchy,
/// its own figures and those of everything below it, as the account 360 read model holds them
/// (rolled up when read, so a move between parents shows at once).
pub(crate) async fn account_360<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    id: Result<Id, Problem>,
) -> Response {
    let Id(id) = match id {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let query = Account360Query {
        account: CompanyId(id),
    };
    let answer = app.reads.accounts.lookup(&principal.tenant, &query).await;
    found_or_not_found(answer, "account", id)
}

/// The account search's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AccountSearch {
    email: Option<String>,
    domain: Option<String>,
    company: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/accounts?email=&domain=&company=`: the accounts a person with this work address,
/// company web domain or company name may work for, assessed as identity resolution does
/// (link, review), best first.
pub(crate) async fn search<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    params: Result<Params<AccountSearch>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let query = match account_search(&params) {
        Ok(query) => query,
        Err(problem) => return problem.into_response(),
    };
    answered(app.reads.accounts.lookup(&principal.tenant, &query).await)
}

fn account_search(params: &AccountSearch) -> Result<AccountCandidates, Problem> {
    let invalid = |field: &'static str, error: &dyn std::fmt::Display| {
        Problem::new(ProblemKind::InvalidParameter, format!("{field}: {error}")).with_code(field)
    };
    let email = params
        .email
        .as_deref()
        .map(EmailAddress::parse)
        .transpose()
        .map_err(|error| invalid("email", &error))?;
    let domain = params
        .domain
        .as_deref()
        .map(CompanyDomain::parse)
        .transpose()
        .map_err(|error| invalid("domain", &error))?;
    let company = params
        .company
        .as_deref()
        .map(CompanyName::new)
        .transpose()
        .map_err(|error| invalid("company", &error))?;
    let evidence = CompanyEvidence::of(&IdentityRecord {
        emails: email.into_iter().collect(),
        company_domain: domain,
        company_name: company,
        ..IdentityRecord::default()
    });
    if evidence.is_empty() {
        return Err(Problem::new(
            ProblemKind::InvalidParameter,
            "give a work email, a company domain or a company name (free-mail addresses say nothing of a company)",
        )
        .with_code("evidence"));
    }
    Ok(AccountCandidates {
        evidence,
        config: MatchConfig::default(),
        limit: limit(params.limit, 10, 100)?,
    })
}

/// The review queue's query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A page of the account review queue.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct AccountReviewPage {
    /// The accounts waiting, the longest waiting first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<crm_projections::account360::AccountReview>,
    /// The cursor of the next page, absent on the last one.
    pub next: Option<String>,
}

/// `GET /v1/account-reviews`: the accounts with contacts identity resolution suggested,
/// waiting for a person to confirm (`add_contact`) or dismiss them, the longest waiting first.
pub(crate) async fn reviews<B: Backend>(
    State(app): State<Arc<App<B>>>,
    Extension(principal): Extension<Principal>,
    params: Result<Params<ReviewParams>, Problem>,
) -> Response {
    let Params(params) = match params {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let (limit, after) = match page_params(
        params.limit,
        params.cursor.as_deref(),
        AccountReviewCursor::parse,
    ) {
        Ok(page) => page,
        Err(problem) => return problem.into_response(),
    };
    let query = AccountReviewQueue {
        limit: limit.saturating_add(1),
        after,
    };
    answered(
        app.reads
            .accounts
            .scan(&principal.tenant, &query)
            .await
            .map(|items| {
                let (items, next) = cut_page(items, limit, |last| {
                    AccountReviewCursor::after(last).to_text()
                });
                AccountReviewPage { items, next }
            }),
    )
}
