//! A typed Microsoft Graph client for what the station does: find users, check group
//! membership, manage Temporary Access Passes, provision FIDO2 security keys, and read
//! the authentication-methods policy.
//!
//! Every call: a bearer token from a [`crate::entra::oauth::TokenProvider`] (renewed
//! once on a 401), a fresh `client-request-id` GUID kept across retries, retries on
//! 429/503/504 and connection errors honouring `Retry-After` exactly (see
//! [`crate::entra::http::RetryPolicy`]), and on failure a [`GraphError`] with status,
//! Graph code, request ids, a [`GraphErrorKind`] and an operator hint.
mod base64_tolerant;
mod client;
mod config;
mod creation_options;
mod error;
mod fido2;
mod operation;
mod path;
mod policy;
mod tap;
mod users;
mod wire;

pub use base64_tolerant::{decode_credential_id, Base64Error, DecodedId};
pub use client::{GraphClient, ServerDate};
pub use config::{ApiVersion, GraphConfig};
pub use creation_options::{
    parse_creation_options, AuthenticatorSelection, CreationOptions, CredentialDescriptor, CredentialParameter, PublicKeyOptions, RelyingParty,
    UserEntity, CHALLENGE_TIMEOUT_MINUTES,
};
pub use error::{GraphError, GraphErrorKind};
pub use fido2::{Fido2Method, Fido2Registration, MAX_DISPLAY_NAME_CHARS};
pub use operation::{describe_missing, missing_access, MissingAccess, Operation, PlannedCall, RequiredAccess};
pub use path::odata_string;
pub use policy::{is_targeted, EnforcementType, Fido2Policy, KeyRestrictions, MethodTarget, PasskeyProfile, PolicyState, TapPolicy, DEFAULT_TAP_BOUNDS};
pub use tap::{TapRequest, TemporaryAccessPass, TAP_LIFETIME_MINUTES};
pub use users::{User, UserProperty, MAX_GROUPS_PER_CHECK};
