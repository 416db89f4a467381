//! OAuth 2.0 against the Microsoft identity platform (v2.0 endpoints).
//!
//! * [`OAuthClient`]: one authority (host + tenant) and one client id; grants:
//!   device code ([`OAuthClient::sign_in_with_device_code`]), client credentials with a
//!   secret or certificate ([`OAuthClient::client_credentials`]), refresh
//!   ([`OAuthClient::refresh`]). Token-endpoint calls retry on 429/5xx like Graph calls.
//! * [`ClientCertificate`] + [`AssertionAlgorithm`]: signed client assertions (PS256 with
//!   `x5t#S256` by default, RS256 with `x5t` as an option).
//! * [`TokenCache`]: the 0600 file of cached sign-ins.
//! * [`TokenProvider`] and its implementations: what the Graph client draws tokens from.
//! * [`TokenClaims`]: unverified JWT claims for display (`whoami`).
//!
//! Every token, secret, assertion and device code is a [`crate::secret::SecretString`].
mod assertion;
mod authority;
pub mod cache;
mod certificate;
mod claims;
mod client;
mod credential;
mod device_code;
mod error;
pub mod provider;
mod scopes;
pub mod session;
mod token;

pub use assertion::{build_client_assertion, AssertionAlgorithm, MAX_ASSERTION_LIFETIME};
pub use authority::Authority;
pub use cache::{CacheFilter, CacheKey, CachedToken, GrantKind, TokenCache, APP_ONLY_ACCOUNT};
pub use certificate::ClientCertificate;
pub use claims::{directory_role_name, TokenClaims};
pub use client::{OAuthClient, OAuthOptions};
pub use credential::ClientCredential;
pub use device_code::{DeviceCode, DeviceCodeEvent};
pub use error::{OAuthError, OAuthErrorKind, TokenEndpointError};
pub use provider::{ensure_fresh, CachedSignIn, ClientCredentialsProvider, Freshness, StaticToken, TokenProvider};
pub use scopes::{Scopes, DELEGATED_GRAPH_PERMISSIONS};
pub use session::{login, logout, whoami, LoginMethod, LoginRequest, SignInSummary, WhoamiEntry};
pub use token::TokenSet;
