//! Which Graph permissions each kind of route accepts. Kept as data so tests and tenant
//! files can tighten or loosen a route (e.g. accept only the granular `UserAuthMethod-*`
//! permissions, or only `UserAuthenticationMethod.ReadWrite.All`).
use serde::{Deserialize, Serialize};

/// The permissions one route class accepts (any one of them is enough).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutePermissions {
    /// Delegated permissions (`scp` claim) that satisfy the route.
    pub delegated: Vec<String>,
    /// Application permissions (`roles` claim) that satisfy the route.
    pub application: Vec<String>,
}

fn rp(delegated: &[&str], application: &[&str]) -> RoutePermissions {
    RoutePermissions {
        delegated: delegated.iter().map(|s| s.to_string()).collect(),
        application: application.iter().map(|s| s.to_string()).collect(),
    }
}

/// The route classes of the simulated Graph subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `GET /users`, `GET /users/{id}`.
    UsersRead,
    /// `POST /users/{id}/checkMemberGroups`.
    GroupMembership,
    /// TAP list/get.
    TapRead,
    /// TAP create/delete.
    TapWrite,
    /// fido2Methods list/get.
    Fido2Read,
    /// creationOptions, fido2Methods POST/DELETE.
    Fido2Write,
    /// `authentication/methods` list.
    MethodsRead,
    /// Authentication-methods policy GET.
    PolicyRead,
    /// Authentication-methods policy PATCH.
    PolicyWrite,
}

impl RouteClass {
    /// 403 code Graph uses for this class: directory reads say
    /// `Authorization_RequestDenied`, authentication-method workloads say `accessDenied`.
    pub fn denied_code(self) -> &'static str {
        match self {
            RouteClass::UsersRead | RouteClass::GroupMembership => "Authorization_RequestDenied",
            _ => "accessDenied",
        }
    }
}

/// The whole table. Each field defaults to the documented least-privileged permission
/// plus every higher one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PermissionTable {
    /// See [`RouteClass::UsersRead`].
    pub users_read: RoutePermissions,
    /// See [`RouteClass::GroupMembership`].
    pub group_membership: RoutePermissions,
    /// See [`RouteClass::TapRead`].
    pub tap_read: RoutePermissions,
    /// See [`RouteClass::TapWrite`].
    pub tap_write: RoutePermissions,
    /// See [`RouteClass::Fido2Read`].
    pub fido2_read: RoutePermissions,
    /// See [`RouteClass::Fido2Write`].
    pub fido2_write: RoutePermissions,
    /// See [`RouteClass::MethodsRead`].
    pub methods_read: RoutePermissions,
    /// See [`RouteClass::PolicyRead`].
    pub policy_read: RoutePermissions,
    /// See [`RouteClass::PolicyWrite`].
    pub policy_write: RoutePermissions,
}

impl Default for PermissionTable {
    fn default() -> Self {
        let users = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
        let mut users_delegated = vec!["User.ReadBasic.All"];
        users_delegated.extend(users);
        let uam_rw = "UserAuthenticationMethod.ReadWrite.All";
        let uam_r = "UserAuthenticationMethod.Read.All";
        let tap_read = ["UserAuthMethod-TAP.Read.All", "UserAuthMethod-TAP.ReadWrite.All", uam_r, uam_rw];
        let tap_write = ["UserAuthMethod-TAP.ReadWrite.All", uam_rw];
        let pk_read = ["UserAuthMethod-Passkey.Read.All", "UserAuthMethod-Passkey.ReadWrite.All", uam_r, uam_rw];
        let pk_write = ["UserAuthMethod-Passkey.ReadWrite.All", uam_rw];
        let methods_read = [uam_r, uam_rw];
        let groups = ["GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"];
        let pol_read = ["Policy.Read.AuthenticationMethod", "Policy.ReadWrite.AuthenticationMethod", "Policy.Read.All"];
        let pol_write = ["Policy.ReadWrite.AuthenticationMethod"];
        PermissionTable {
            users_read: rp(&users_delegated, &users),
            group_membership: rp(&groups, &groups),
            tap_read: rp(&tap_read, &tap_read),
            tap_write: rp(&tap_write, &tap_write),
            fido2_read: rp(&pk_read, &pk_read),
            fido2_write: rp(&pk_write, &pk_write),
            methods_read: rp(&methods_read, &methods_read),
            policy_read: rp(&pol_read, &pol_read),
            policy_write: rp(&pol_write, &pol_write),
        }
    }
}

impl PermissionTable {
    /// The entry for one route class.
    pub fn get(&self, class: RouteClass) -> &RoutePermissions {
        match class {
            RouteClass::UsersRead => &self.users_read,
            RouteClass::GroupMembership => &self.group_membership,
            RouteClass::TapRead => &self.tap_read,
            RouteClass::TapWrite => &self.tap_write,
            RouteClass::Fido2Read => &self.fido2_read,
            RouteClass::Fido2Write => &self.fido2_write,
            RouteClass::MethodsRead => &self.methods_read,
            RouteClass::PolicyRead => &self.policy_read,
            RouteClass::PolicyWrite => &self.policy_write,
        }
    }
}
