//! Directory roles the simulator knows, with their well-known role template ids (the
//! values Entra puts in the `wids` token claim), and what each lets a delegated caller do.

/// A built-in Entra directory role relevant to provisioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryRole {
    /// Everything, on everyone except themselves for TAP.
    GlobalAdministrator,
    /// Authentication methods of any user (admins included), not their own TAP.
    PrivilegedAuthenticationAdministrator,
    /// Authentication methods of non-administrators, not their own TAP.
    AuthenticationAdministrator,
    /// Reads the authentication-methods policy and changes it.
    AuthenticationPolicyAdministrator,
    /// Reads everything, writes nothing (sees TAP metadata, never the pass).
    GlobalReader,
    /// Manages users; no authentication methods.
    UserAdministrator,
}

impl DirectoryRole {
    /// Every role, in documentation order.
    pub const ALL: [DirectoryRole; 6] = [
        DirectoryRole::GlobalAdministrator,
        DirectoryRole::PrivilegedAuthenticationAdministrator,
        DirectoryRole::AuthenticationAdministrator,
        DirectoryRole::AuthenticationPolicyAdministrator,
        DirectoryRole::GlobalReader,
        DirectoryRole::UserAdministrator,
    ];

    /// Display name, as used in the tenant seed.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdministrator => "Global Administrator",
            DirectoryRole::PrivilegedAuthenticationAdministrator => "Privileged Authentication Administrator",
            DirectoryRole::AuthenticationAdministrator => "Authentication Administrator",
            DirectoryRole::AuthenticationPolicyAdministrator => "Authentication Policy Administrator",
            DirectoryRole::GlobalReader => "Global Reader",
            DirectoryRole::UserAdministrator => "User Administrator",
        }
    }

    /// The role template id (the same in every tenant).
    pub fn template_id(self) -> &'static str {
        match self {
            DirectoryRole::GlobalAdministrator => "62e90394-69f5-4237-9190-012177145e10",
            DirectoryRole::PrivilegedAuthenticationAdministrator => "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
            DirectoryRole::AuthenticationAdministrator => "c4e39bd9-1100-46d3-8c65-fb160da0071f",
            DirectoryRole::AuthenticationPolicyAdministrator => "0526716b-113d-4c15-b2c8-68e3c22b9f80",
            DirectoryRole::GlobalReader => "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
            DirectoryRole::UserAdministrator => "fe930be7-5e62-47db-91af-98c3a49a38b1",
        }
    }

    /// Look a role up by display name (case-insensitive) or template id.
    pub fn from_name(s: &str) -> Option<DirectoryRole> {
        DirectoryRole::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s.trim()) || r.template_id().eq_ignore_ascii_case(s.trim()))
    }
}

/// What a delegated caller wants to do to a target user's authentication methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodAccess {
    /// List/get methods.
    Read,
    /// Create/delete methods, creation options.
    Write,
}

/// Whether a signed-in administrator with `roles` may touch `target`'s authentication
/// methods. `tap` marks TAP operations (nobody may manage their own TAP).
pub fn may_manage_methods(roles: &[DirectoryRole], caller_is_target: bool, target_is_admin: bool, access: MethodAccess, tap: bool) -> bool {
    if access == MethodAccess::Write && tap && caller_is_target {
        return false;
    }
    roles.iter().any(|r| match r {
        DirectoryRole::GlobalAdministrator | DirectoryRole::PrivilegedAuthenticationAdministrator => true,
        DirectoryRole::AuthenticationAdministrator => !target_is_admin,
        DirectoryRole::GlobalReader => access == MethodAccess::Read,
        _ => false,
    })
}

/// Whether a delegated caller may read (or, with `write`, change) the methods policy.
pub fn may_access_policy(roles: &[DirectoryRole], write: bool) -> bool {
    roles.iter().any(|r| match r {
        DirectoryRole::GlobalAdministrator | DirectoryRole::AuthenticationPolicyAdministrator => true,
        DirectoryRole::GlobalReader => !write,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_administrator_cannot_touch_admins_or_own_tap() {
        let r = [DirectoryRole::AuthenticationAdministrator];
        assert!(may_manage_methods(&r, false, false, MethodAccess::Write, true));
        assert!(!may_manage_methods(&r, false, true, MethodAccess::Write, true));
        assert!(!may_manage_methods(&r, true, false, MethodAccess::Write, true));
        assert!(may_manage_methods(&[DirectoryRole::PrivilegedAuthenticationAdministrator], false, true, MethodAccess::Write, false));
        assert!(!may_manage_methods(&[DirectoryRole::GlobalReader], false, false, MethodAccess::Write, false));
        assert!(may_manage_methods(&[DirectoryRole::GlobalReader], false, false, MethodAccess::Read, true));
    }
}
