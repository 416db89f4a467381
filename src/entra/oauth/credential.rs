//! Client credentials grant (app-only sign-in) with a client secret or a certificate.
use super::assertion::{build_client_assertion, AssertionAlgorithm};
use super::certificate::ClientCertificate;
use super::client::{FormField, OAuthClient};
use super::token::TokenSet;
use super::{OAuthError, Scopes};
use crate::entra::http::Replay;
use crate::secret::SecretString;
use std::fmt;
use std::sync::Arc;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a confidential client proves who it is.
#[derive(Clone)]
pub enum ClientCredential {
    /// A client secret (the secret's *Value* from Certificates & secrets).
    Secret(SecretString),
    /// A certificate uploaded to the app registration, used to sign assertions.
    Certificate {
        /// Certificate and private key.
        certificate: Arc<ClientCertificate>,
        /// Signature algorithm of the assertion.
        algorithm: AssertionAlgorithm,
    },
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ClientCredential {
    /// A certificate credential with the default algorithm (PS256).
    pub fn certificate(certificate: ClientCertificate) -> ClientCredential {
        ClientCredential::Certificate { certificate: Arc::new(certificate), algorithm: AssertionAlgorithm::default() }
    }

    /// A human description without any secret ("client secret", "certificate ABC… (PS256)").
    pub fn describe(&self) -> String {
        match self {
            ClientCredential::Secret(_) => "client secret".into(),
            ClientCredential::Certificate { certificate, algorithm } => {
                format!("certificate {} ({})", certificate.thumbprint_sha1_hex(), algorithm.name())
            }
        }
    }

    /// The form fields that authenticate the client; assertions are signed afresh.
    pub(crate) fn form_fields(&self, client: &OAuthClient) -> Result<Vec<FormField>, OAuthError> {
        Ok(match self {
            ClientCredential::Secret(secret) => vec![("client_secret", secret.clone())],
            ClientCredential::Certificate { certificate, algorithm } => {
                let audience = client.authority().token_endpoint().to_string();
                let assertion = build_client_assertion(certificate, *algorithm, client.client_id(), &audience, client.assertion_lifetime())?;
                vec![("client_assertion_type", SecretString::new(ASSERTION_TYPE)), ("client_assertion", assertion)]
            }
        })
    }
}

impl OAuthClient {
    /// App-only sign-in. `scopes` must be `.default` scopes, e.g.
    /// [`Scopes::graph_default`]. No refresh token comes back: ask again when the token
    /// expires.
    pub async fn client_credentials(&self, credential: &ClientCredential, scopes: &Scopes) -> Result<TokenSet, OAuthError> {
        if !scopes.all_default() {
            return Err(OAuthError::Config(format!(
                "app-only sign-in asks for the application permissions granted to the app, so the scope must be the resource's .default (e.g. https://graph.microsoft.com/.default), not '{}'",
                scopes.to_param()
            )));
        }
        let scope = scopes.to_param();
        let client_id = self.client_id().to_string();
        self.request_token("oauth.client_credentials", Replay::Idempotent, || {
            let mut fields = vec![
                ("grant_type", SecretString::new("client_credentials")),
                ("client_id", SecretString::new(client_id.clone())),
                ("scope", SecretString::new(scope.clone())),
            ];
            fields.extend(credential.form_fields(self)?);
            Ok(fields)
        })
        .await
    }

    /// Trade a refresh token for new tokens. The answer's refresh token replaces the
    /// old one; when the service sends none, the old one is kept.
    ///
    /// `credential` is needed only for confidential clients.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scopes: Option<&Scopes>,
        credential: Option<&ClientCredential>,
    ) -> Result<TokenSet, OAuthError> {
        let client_id = self.client_id().to_string();
        let scope = scopes.map(|s| s.to_param()).filter(|s| !s.is_empty());
        // A refresh that reached the service may have rotated the token: never replay it
        // after a dropped connection, only after 429/503.
        let mut tokens = self
            .request_token("oauth.refresh", Replay::NotIfProcessed, || {
                let mut fields = vec![
                    ("grant_type", SecretString::new("refresh_token")),
                    ("client_id", SecretString::new(client_id.clone())),
                    ("refresh_token", refresh_token.clone()),
                ];
                if let Some(scope) = &scope {
                    fields.push(("scope", SecretString::new(scope.clone())));
                }
                if let Some(c) = credential {
                    fields.extend(c.form_fields(self)?);
                }
                Ok(fields)
            })
            .await?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = ClientCredential::Secret(SecretString::new("s3cr3t-value"));
        assert_eq!(format!("{c:?}"), "client secret");
    }
}
