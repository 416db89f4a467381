//! Deleting a user's FIDO2 methods from the desk (`methods delete`, a batch row that
//! replaces the user's keys), as journal operations: the plan is recorded, then each
//! DELETE has its intent first ([`super::operation`]).
use super::operation::OperationOutcome;
use super::users::MethodRow;
use crate::station::journal::{FailureKind, KeyFacts, NewOperation, OperationKind, OperationPlan, PlannedDeletion};
use crate::station::pipeline::{CancelToken, OutcomeError, Station, StationEvents, Step};
use std::sync::Arc;

/// A method found for deletion: whose, which, and what it looks like.
#[derive(Debug, Clone)]
pub struct MethodToDelete {
    /// The user's UPN.
    pub upn: String,
    /// The deletion as the plan records it.
    pub deletion: PlannedDeletion,
    /// The method as Graph lists it.
    pub method: MethodRow,
}

impl Station {
    /// Find `method_id` among `user`'s FIDO2 methods (reads only). A method the user does
    /// not have is a clear error listing the ones they do.
    pub async fn find_method(&self, user: &str, method_id: &str) -> Result<MethodToDelete, OutcomeError> {
        let graph = &self.setup().graph;
        let u = graph.resolve_user(user).await.map_err(|e| OutcomeError::graph(Step::Reconcile, &e))?;
        let upn = u.user_principal_name.clone().unwrap_or_else(|| user.to_string());
        let methods = graph.list_fido2_methods(&u.id).await.map_err(|e| OutcomeError::graph(Step::Reconcile, &e))?;
        let Some(m) = methods.iter().find(|m| m.id == method_id.trim()) else {
            let have: Vec<String> = methods.iter().map(|m| format!("{} \"{}\"", m.id, m.display_name.as_deref().unwrap_or(""))).collect();
            let listing = if have.is_empty() { "they have no security key".to_string() } else { format!("their security keys: {}", have.join(", ")) };
            return Err(OutcomeError::new(FailureKind::UserInput, Step::Reconcile, format!("{upn} has no FIDO2 method with id {}; {listing}", crate::text::echo(method_id)))
                .next(format!("run `keystation methods list --user {upn}` and copy the id")));
        };
        let method = MethodRow::from_method(m, &self.setup().models);
        let deletion = PlannedDeletion { user_upn: Some(upn.clone()), user_id: u.id.clone(), method_id: m.id.clone(), display_name: m.display_name.clone(), found_by: "user".into() };
        Ok(MethodToDelete { upn, deletion, method })
    }

    /// Delete methods as one journal operation (intent before every DELETE).
    pub async fn delete_methods(&self, user_upn: Option<String>, deletions: Vec<PlannedDeletion>, note: Option<String>, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Result<OperationOutcome, OutcomeError> {
        let tenant = self.config().use_tenant.clone();
        let op = NewOperation { kind: OperationKind::DeleteMethods, tenant: Some(tenant), user_upn, key: KeyFacts::default(), plan: OperationPlan { deletions, reset_key: false, note } };
        self.run_operation(op, None, events, cancel).await
    }

    /// Replace a user's keys: delete every FIDO2 method of the user except `keep` (the
    /// one just registered). Nothing to delete: `Ok(None)`.
    pub async fn replace_user_keys(&self, user_id: &str, upn: &str, keep: &str, note: String, events: Arc<dyn StationEvents>, cancel: CancelToken) -> Result<Option<OperationOutcome>, OutcomeError> {
        let methods = self.setup().graph.list_fido2_methods(user_id).await.map_err(|e| OutcomeError::graph(Step::Reconcile, &e))?;
        let deletions: Vec<PlannedDeletion> = methods
            .iter()
            .filter(|m| m.id != keep)
            .map(|m| PlannedDeletion { user_upn: Some(upn.to_string()), user_id: user_id.to_string(), method_id: m.id.clone(), display_name: m.display_name.clone(), found_by: "replace".into() })
            .collect();
        if deletions.is_empty() {
            return Ok(None);
        }
        self.delete_methods(Some(upn.to_string()), deletions, Some(note), events, cancel).await.map(Some)
    }
}
