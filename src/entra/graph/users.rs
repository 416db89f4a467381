//! Users: look-up by id, UPN or mail, and group membership checks.
use super::client::GraphClient;
use super::error::{GraphError, GraphErrorKind};
use super::operation::Operation;
use super::path::{odata_string, query, user_path};
use crate::entra::http::Replay;
use serde::{Deserialize, Serialize};

/// Properties we ask for (the default set lacks `userType` and `accountEnabled`).
const USER_SELECT: &str = "id,userPrincipalName,displayName,mail,givenName,surname,jobTitle,userType,accountEnabled";

/// `checkMemberGroups` takes at most this many group ids per call.
pub const MAX_GROUPS_PER_CHECK: usize = 20;

/// An Entra user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id (GUID).
    pub id: String,
    /// Sign-in name.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Primary SMTP address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Surname.
    #[serde(default)]
    pub surname: Option<String>,
    /// Job title.
    #[serde(default)]
    pub job_title: Option<String>,
    /// `Member` or `Guest` (guests cannot get a TAP or a passkey).
    #[serde(default)]
    pub user_type: Option<String>,
    /// Whether the account may sign in.
    #[serde(default)]
    pub account_enabled: Option<bool>,
}

impl User {
    /// True for B2B guests.
    pub fn is_guest(&self) -> bool {
        self.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("guest"))
    }
}

fn looks_like_guid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok() && text.len() == 36
}

impl GraphClient {
    /// `GET /users/{id|upn}`.
    pub async fn get_user(&self, id_or_upn: &str) -> Result<User, GraphError> {
        let user = id_or_upn.trim();
        if user.is_empty() {
            return Err(self.error(Operation::GetUser, GraphErrorKind::InvalidInput, "no user given (UPN, object id or mail)", None));
        }
        let url = self.url(&user_path(user), Some(&query(&[("$select", USER_SELECT)])));
        self.get_json(Operation::GetUser, url, Some(user)).await
    }

    /// `GET /users?$filter={property} eq '{value}'` for `mail` or `userPrincipalName`.
    pub async fn find_users_by(&self, property: UserProperty, value: &str) -> Result<Vec<User>, GraphError> {
        let filter = format!("{} eq {}", property.name(), odata_string(value.trim()));
        let url = self.url("users", Some(&query(&[("$filter", &filter), ("$select", USER_SELECT)])));
        self.get_collection(Operation::FindUsers, url, Some(value), vec![]).await
    }

    /// The one user whose mail is `mail`.
    pub async fn find_user_by_mail(&self, mail: &str) -> Result<User, GraphError> {
        let mut found = self.find_users_by(UserProperty::Mail, mail).await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let mut e = self.error(Operation::FindUsers, GraphErrorKind::UserNotFound, format!("no user has the mail address '{mail}'"), Some(mail));
                e.status = Some(404);
                Err(e)
            }
            n => Err(self.error(Operation::FindUsers, GraphErrorKind::AmbiguousUser { count: n }, format!("{n} users have the mail address '{mail}'"), Some(mail))),
        }
    }

    /// Resolve what an operator typed: an object id, a UPN, or (when no UPN matches) a
    /// mail address.
    pub async fn resolve_user(&self, text: &str) -> Result<User, GraphError> {
        let text = text.trim();
        match self.get_user(text).await {
            Ok(u) => Ok(u),
            Err(e) if e.kind == GraphErrorKind::UserNotFound && text.contains('@') && !looks_like_guid(text) => {
                self.find_user_by_mail(text).await.map_err(|mail_err| if mail_err.kind == GraphErrorKind::UserNotFound { e } else { mail_err })
            }
            Err(e) => Err(e),
        }
    }

    /// Which of `group_ids` the user is a member of (transitively). Lists longer than
    /// 20 ids are checked in chunks of 20.
    pub async fn check_member_groups(&self, user: &str, group_ids: &[String]) -> Result<Vec<String>, GraphError> {
        #[derive(Deserialize)]
        struct Answer {
            value: Vec<String>,
        }
        let mut member_of = Vec::new();
        for chunk in group_ids.chunks(MAX_GROUPS_PER_CHECK) {
            let url = self.url(&format!("{}/checkMemberGroups", user_path(user)), None);
            let body = serde_json::json!({ "groupIds": chunk });
            // A read-only POST: safe to repeat.
            let a: Answer = self.post_json(Operation::CheckMemberGroups, url, &body, Replay::Idempotent, Some(user)).await?;
            member_of.extend(a.value);
        }
        Ok(member_of)
    }
}

/// User properties that can be searched with `$filter ... eq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserProperty {
    /// `mail`.
    Mail,
    /// `userPrincipalName`.
    UserPrincipalName,
}

impl UserProperty {
    fn name(self) -> &'static str {
        match self {
            UserProperty::Mail => "mail",
            UserProperty::UserPrincipalName => "userPrincipalName",
        }
    }
}
