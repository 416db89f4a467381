//! The Graph operations of the station, and the permissions and roles each one needs
//! (least privileged first), for error hints and the tenant set-up guide.
use super::ApiVersion;

/// One kind of Graph call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /users/{id|upn}`.
    GetUser,
    /// `GET /users?$filter=...`.
    FindUsers,
    /// `POST /users/{id}/checkMemberGroups`.
    CheckMemberGroups,
    /// `POST .../temporaryAccessPassMethods`.
    CreateTap,
    /// `GET .../temporaryAccessPassMethods`.
    ListTaps,
    /// `GET .../temporaryAccessPassMethods/{id}`.
    GetTap,
    /// `DELETE .../temporaryAccessPassMethods/{id}`.
    DeleteTap,
    /// `GET .../fido2Methods`.
    ListFido2Methods,
    /// `GET .../fido2Methods/{id}`.
    GetFido2Method,
    /// `DELETE .../fido2Methods/{id}`.
    DeleteFido2Method,
    /// `GET .../fido2Methods/creationOptions`.
    Fido2CreationOptions,
    /// `POST .../fido2Methods`.
    RegisterFido2Method,
    /// `GET /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/fido2`.
    ReadFido2Policy,
    /// `GET /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/temporaryAccessPass`.
    ReadTapPolicy,
}

/// The permissions (and, for delegated sign-ins, admin roles) an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredAccess {
    /// Least-privileged permission(s); all of them are needed.
    pub least: &'static [&'static str],
    /// Broader permissions that also work.
    pub alternatives: &'static [&'static str],
    /// Directory roles the signed-in admin needs for delegated calls.
    pub delegated_roles: &'static [&'static str],
}

impl RequiredAccess {
    /// Whether a token carrying `granted` (its `roles` or `scp` permissions) may make the
    /// call: every least-privileged permission, or any one broader alternative.
    pub fn is_met_by(&self, granted: &[String]) -> bool {
        let has = |p: &str| granted.iter().any(|g| g.trim().eq_ignore_ascii_case(p));
        self.least.iter().all(|p| has(p)) || self.alternatives.iter().any(|p| has(p))
    }

    /// "A (or B or C)" for messages.
    pub fn describe(&self) -> String {
        let mut text = self.least.join(" + ");
        if !self.alternatives.is_empty() {
            text.push_str(&format!(" (or {})", self.alternatives.join(" or ")));
        }
        text
    }
}

/// One Graph call a plan will make: the operation and the API version it is made with
/// (the permissions differ between v1.0 and beta for some calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedCall {
    /// The operation.
    pub operation: Operation,
    /// The API version it is sent to.
    pub api: ApiVersion,
}

/// An operation a token may not make, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingAccess {
    /// The call.
    pub call: PlannedCall,
    /// What it needs.
    pub needs: RequiredAccess,
}

/// The calls of `calls` that permissions `granted` (a token's `roles` or `scp`) do not
/// cover, in order, each once. Application and delegated permissions have the same
/// names; a delegated sign-in also needs the admin's directory role, which only Graph
/// can check (its 403 names it).
pub fn missing_access(calls: &[PlannedCall], granted: &[String]) -> Vec<MissingAccess> {
    let mut out: Vec<MissingAccess> = Vec::new();
    for call in calls {
        let needs = call.operation.required_access(call.api);
        if !needs.is_met_by(granted) && !out.iter().any(|m| m.call == *call) {
            out.push(MissingAccess { call: *call, needs });
        }
    }
    out
}

/// "the Microsoft Graph permission X (or Y) to register the FIDO2 security key; …" for
/// every distinct requirement, the operations that need it together.
pub fn describe_missing(missing: &[MissingAccess]) -> String {
    let mut groups: Vec<(RequiredAccess, Vec<&'static str>)> = Vec::new();
    for m in missing {
        match groups.iter_mut().find(|(n, _)| *n == m.needs) {
            Some((_, ops)) => {
                if !ops.contains(&m.call.operation.describe()) {
                    ops.push(m.call.operation.describe());
                }
            }
            None => groups.push((m.needs, vec![m.call.operation.describe()])),
        }
    }
    groups.iter().map(|(needs, ops)| format!("{} to {}", needs.describe(), ops.join(", "))).collect::<Vec<_>>().join("; ")
}

const AUTH_ADMIN_ROLES: &[&str] = &["Authentication Administrator (non-admin users)", "Privileged Authentication Administrator (any user)"];

impl Operation {
    /// What the call does, for messages ("create a Temporary Access Pass").
    pub fn describe(self) -> &'static str {
        match self {
            Operation::GetUser => "look up the user",
            Operation::FindUsers => "search for the user",
            Operation::CheckMemberGroups => "check the user's group memberships",
            Operation::CreateTap => "create a Temporary Access Pass",
            Operation::ListTaps => "list Temporary Access Passes",
            Operation::GetTap => "read a Temporary Access Pass",
            Operation::DeleteTap => "delete a Temporary Access Pass",
            Operation::ListFido2Methods => "list FIDO2 security keys",
            Operation::GetFido2Method => "read a FIDO2 security key",
            Operation::DeleteFido2Method => "delete a FIDO2 security key",
            Operation::Fido2CreationOptions => "get FIDO2 creation options",
            Operation::RegisterFido2Method => "register the FIDO2 security key",
            Operation::ReadFido2Policy => "read the FIDO2 (passkey) policy",
            Operation::ReadTapPolicy => "read the Temporary Access Pass policy",
        }
    }

    /// Stable name used in logs (`graph.tap.create`).
    pub fn log_name(self) -> &'static str {
        match self {
            Operation::GetUser => "graph.user.get",
            Operation::FindUsers => "graph.user.find",
            Operation::CheckMemberGroups => "graph.user.check_member_groups",
            Operation::CreateTap => "graph.tap.create",
            Operation::ListTaps => "graph.tap.list",
            Operation::GetTap => "graph.tap.get",
            Operation::DeleteTap => "graph.tap.delete",
            Operation::ListFido2Methods => "graph.fido2.list",
            Operation::GetFido2Method => "graph.fido2.get",
            Operation::DeleteFido2Method => "graph.fido2.delete",
            Operation::Fido2CreationOptions => "graph.fido2.creation_options",
            Operation::RegisterFido2Method => "graph.fido2.register",
            Operation::ReadFido2Policy => "graph.policy.fido2",
            Operation::ReadTapPolicy => "graph.policy.tap",
        }
    }

    /// True for operations on a TAP.
    pub fn is_tap(self) -> bool {
        matches!(self, Operation::CreateTap | Operation::ListTaps | Operation::GetTap | Operation::DeleteTap)
    }

    /// True for operations on FIDO2 methods.
    pub fn is_fido2(self) -> bool {
        matches!(
            self,
            Operation::ListFido2Methods | Operation::GetFido2Method | Operation::DeleteFido2Method | Operation::Fido2CreationOptions | Operation::RegisterFido2Method
        )
    }

    /// True when the call addresses one method of a user by id (a 404 may mean the
    /// method, not the user, is missing).
    pub fn addresses_a_method(self) -> bool {
        matches!(self, Operation::GetTap | Operation::DeleteTap | Operation::GetFido2Method | Operation::DeleteFido2Method)
    }

    /// Permissions and roles, per Microsoft's permission tables.
    pub fn required_access(self, api: ApiVersion) -> RequiredAccess {
        let (least, alternatives, delegated_roles): (&'static [&'static str], &'static [&'static str], &'static [&'static str]) = match self {
            Operation::GetUser | Operation::FindUsers => (&["User.Read.All"], &["Directory.Read.All", "User.ReadWrite.All"], &[]),
            Operation::CheckMemberGroups => (&["User.Read.All", "GroupMember.Read.All"], &["Directory.Read.All"], &[]),
            Operation::CreateTap | Operation::DeleteTap => {
                (&["UserAuthMethod-TAP.ReadWrite.All"], &["UserAuthenticationMethod.ReadWrite.All"], AUTH_ADMIN_ROLES)
            }
            Operation::ListTaps | Operation::GetTap => (
                &["UserAuthMethod-TAP.Read.All"],
                &["UserAuthMethod-TAP.ReadWrite.All", "UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"],
                AUTH_ADMIN_ROLES,
            ),
            Operation::ListFido2Methods | Operation::GetFido2Method => (
                &["UserAuthMethod-Passkey.Read.All"],
                &["UserAuthMethod-Passkey.ReadWrite.All", "UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"],
                AUTH_ADMIN_ROLES,
            ),
            Operation::DeleteFido2Method => (&["UserAuthMethod-Passkey.ReadWrite.All"], &["UserAuthenticationMethod.ReadWrite.All"], AUTH_ADMIN_ROLES),
            // The beta provisioning pages list only the broad permission.
            Operation::Fido2CreationOptions | Operation::RegisterFido2Method => match api {
                ApiVersion::V1 => (&["UserAuthMethod-Passkey.ReadWrite.All"], &["UserAuthenticationMethod.ReadWrite.All"], AUTH_ADMIN_ROLES),
                ApiVersion::Beta => (&["UserAuthenticationMethod.ReadWrite.All"], &[], AUTH_ADMIN_ROLES),
            },
            Operation::ReadFido2Policy | Operation::ReadTapPolicy => (
                &["Policy.Read.AuthenticationMethod"],
                &["Policy.ReadWrite.AuthenticationMethod", "Policy.Read.All"],
                &["Authentication Policy Administrator", "Global Reader"],
            ),
        };
        RequiredAccess { least, alternatives, delegated_roles }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_needs_the_passkey_permission_on_v1_and_the_broad_one_on_beta() {
        let v1 = Operation::RegisterFido2Method.required_access(ApiVersion::V1);
        assert_eq!(v1.least, ["UserAuthMethod-Passkey.ReadWrite.All"]);
        let beta = Operation::Fido2CreationOptions.required_access(ApiVersion::Beta);
        assert_eq!(beta.least, ["UserAuthenticationMethod.ReadWrite.All"]);
        assert_eq!(Operation::CreateTap.required_access(ApiVersion::V1).least, ["UserAuthMethod-TAP.ReadWrite.All"]);
        assert!(Operation::CreateTap.is_tap() && !Operation::CreateTap.is_fido2());
    }

    fn granted(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn access_is_met_by_every_least_permission_or_one_alternative() {
        let groups = Operation::CheckMemberGroups.required_access(ApiVersion::V1);
        assert!(!groups.is_met_by(&granted(&["User.Read.All"])), "both least permissions are needed");
        assert!(groups.is_met_by(&granted(&["user.read.all", "GroupMember.Read.All"])), "case does not matter");
        assert!(groups.is_met_by(&granted(&["Directory.Read.All"])));
        let register = Operation::RegisterFido2Method.required_access(ApiVersion::V1);
        assert!(register.is_met_by(&granted(&["UserAuthenticationMethod.ReadWrite.All"])));
        assert!(!register.is_met_by(&granted(&["UserAuthenticationMethod.Read.All", "UserAuthMethod-Passkey.Read.All"])));
    }

    #[test]
    fn missing_access_names_each_requirement_once() {
        let v1 = |operation| PlannedCall { operation, api: ApiVersion::V1 };
        let calls = [v1(Operation::GetUser), v1(Operation::ListFido2Methods), v1(Operation::Fido2CreationOptions), v1(Operation::RegisterFido2Method), v1(Operation::RegisterFido2Method)];
        let reader = granted(&["User.Read.All", "UserAuthenticationMethod.Read.All"]);
        let missing = missing_access(&calls, &reader);
        assert_eq!(missing.iter().map(|m| m.call.operation).collect::<Vec<_>>(), [Operation::Fido2CreationOptions, Operation::RegisterFido2Method]);
        assert_eq!(
            describe_missing(&missing),
            "UserAuthMethod-Passkey.ReadWrite.All (or UserAuthenticationMethod.ReadWrite.All) to get FIDO2 creation options, register the FIDO2 security key"
        );
        assert!(missing_access(&calls, &granted(&["User.Read.All", "UserAuthenticationMethod.ReadWrite.All"])).is_empty());
    }
}
