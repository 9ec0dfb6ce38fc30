//! Custom fields in the application: a tenant's published schemas, and commands to records
//! decided under the current one.
//!
//! An administrator publishes an entity's schema as a command to its
//! [`CustomFieldSettings`] stream ([`publish_schema`]): versioned, audited, checked to evolve
//! the version before it, and in force from the next command on. No code change, no rebuild
//! of history. Commands that set values read the current schema ([`current_schema`]) and
//! carry it into the aggregate's decision ([`CustomFieldsUpdate`]); the event names the
//! version. Read models show the values ([`crm_projections::custom_fields`]) and queries
//! filter on them, validated against the same schema.

use std::sync::Arc;

use crm_domain::custom_fields::{
    CustomFieldSchema, CustomFieldSettings, CustomFieldSettingsCommand, CustomFieldSettingsEvent,
    CustomFieldsUpdate, EntityKind, SchemaDraft,
};
use crm_eventstore::TenantId;
use serde_json::{Map, Value};

use crate::command::{CommandMeta, CommandService, Executed};
use crate::error::CommandError;
use crate::uow::UnitOfWork;

/// Why a schema could not be read or published.
pub type SchemaError = CommandError<crm_domain::custom_fields::CustomFieldSettingsError>;

/// `entity`'s schema as published in `tenant` now, with its settings stream's version (0 and
/// the empty schema when none was ever published).
pub async fn current_schema<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    entity: EntityKind,
) -> Result<(Arc<CustomFieldSchema>, u64), SchemaError> {
    let (settings, version) = service
        .load::<CustomFieldSettings>(tenant, CustomFieldSettings::id_of(entity))
        .await?;
    Ok((settings.schema_or_empty(entity), version))
}

/// Publishes `draft` as its entity's schema in `tenant`: the first version, or one that
/// evolves the current version. Publishing the current version again records nothing.
pub async fn publish_schema<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    draft: SchemaDraft,
    meta: &CommandMeta,
) -> Result<Executed<CustomFieldSettingsEvent>, SchemaError> {
    let entity = draft.entity;
    service
        .execute::<CustomFieldSettings>(
            tenant,
            CustomFieldSettings::id_of(entity),
            CustomFieldSettingsCommand::Publish { schema: draft },
            meta,
        )
        .await
}

/// `changes` (field key → JSON as a client sends it) to a record of kind `entity`, decided
/// under the tenant's current schema.
pub async fn update_under_current<U: UnitOfWork>(
    service: &CommandService<U>,
    tenant: &TenantId,
    entity: EntityKind,
    changes: Map<String, Value>,
) -> Result<CustomFieldsUpdate, SchemaError> {
    let (schema, _) = current_schema(service, tenant, entity).await?;
    Ok(CustomFieldsUpdate::new(schema, changes))
}
