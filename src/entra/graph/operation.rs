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
}
