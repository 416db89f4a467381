//! Client extension outputs (`getClientExtensionResults()`), computed by the client
//! from what it asked for and what the key put in authenticatorData, as Chromium does.
use super::options::ExtensionInputs;
use ciborium::value::Value;
use serde::Serialize;

/// `AuthenticationExtensionsClientOutputs` for a registration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientExtensionResults {
    /// `credProps`, present when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred_props: Option<CredProps>,
    /// `hmacCreateSecret`, present when requested: did the key enable hmac-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmac_create_secret: Option<bool>,
    /// `prf`, present when requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prf: Option<PrfOutput>,
    /// `largeBlob`, present when requested (keystation never enables it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<LargeBlobOutput>,
    /// `credBlob`, present when requested (keystation never stores one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cred_blob: Option<bool>,
}

/// `credProps` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredProps {
    /// Whether the credential is discoverable.
    pub rk: bool,
}

/// `prf` output at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrfOutput {
    /// Whether a PRF is available for the new credential.
    pub enabled: bool,
}

/// `largeBlob` output at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LargeBlobOutput {
    /// Whether the credential supports largeBlob.
    pub supported: bool,
}

/// Compute the outputs. `made_resident_key` is what keystation asked the key for;
/// `auth_data_extensions` is the CBOR extension map from authenticatorData.
pub fn client_extension_results(
    inputs: &ExtensionInputs,
    made_resident_key: bool,
    auth_data_extensions: Option<&[u8]>,
) -> ClientExtensionResults {
    let hmac_secret_created = auth_data_extensions
        .and_then(|b| ciborium::de::from_reader::<Value, _>(b).ok())
        .and_then(|v| v.into_map().ok())
        .is_some_and(|m| m.iter().any(|(k, v)| k.as_text() == Some("hmac-secret") && v.as_bool() == Some(true)));
    ClientExtensionResults {
        cred_props: inputs.cred_props.then_some(CredProps { rk: made_resident_key }),
        hmac_create_secret: inputs.hmac_create_secret.then_some(hmac_secret_created),
        prf: inputs.prf.then_some(PrfOutput { enabled: hmac_secret_created }),
        large_blob: inputs.large_blob_required.map(|_| LargeBlobOutput { supported: false }),
        cred_blob: inputs.cred_blob.then_some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext_map(entries: &[(&str, Value)]) -> Vec<u8> {
        let m = Value::Map(entries.iter().map(|(k, v)| (Value::Text(k.to_string()), v.clone())).collect());
        let mut out = Vec::new();
        ciborium::ser::into_writer(&m, &mut out).unwrap();
        out
    }

    #[test]
    fn outputs_only_for_requested_extensions() {
        let none = client_extension_results(&ExtensionInputs::default(), true, None);
        assert_eq!(serde_json::to_value(&none).unwrap(), serde_json::json!({}));
    }

    #[test]
    fn hmac_and_cred_props_follow_the_key() {
        let inputs = ExtensionInputs { cred_props: true, hmac_create_secret: true, ..Default::default() };
        let ad = ext_map(&[("credProtect", Value::Integer(2.into())), ("hmac-secret", Value::Bool(true))]);
        let out = client_extension_results(&inputs, true, Some(&ad));
        assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::json!({"credProps": {"rk": true}, "hmacCreateSecret": true}));
        let out = client_extension_results(&inputs, false, Some(&ext_map(&[("credProtect", Value::Integer(2.into()))])));
        assert_eq!(serde_json::to_value(&out).unwrap(), serde_json::json!({"credProps": {"rk": false}, "hmacCreateSecret": false}));
    }

    #[test]
    fn prf_large_blob_and_cred_blob() {
        let inputs = ExtensionInputs { prf: true, large_blob_required: Some(false), cred_blob: true, ..Default::default() };
        let out = client_extension_results(&inputs, true, Some(&ext_map(&[("hmac-secret", Value::Bool(true))])));
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            serde_json::json!({"prf": {"enabled": true}, "largeBlob": {"supported": false}, "credBlob": false})
        );
    }
}
