//! Confirm a browser registration through Microsoft Graph: the user's fido2Methods
//! must show a method that was not there before, with the key's AAGUID and the
//! requested display name.
//!
//! The pages saying "You're all set" is not proof (the automation could be on a wrong
//! page, the operator could have closed the window); Graph is what the rest of the
//! station relies on, so it decides.
use crate::entra::graph::{Fido2Method, GraphClient, GraphError};
use std::collections::HashSet;

/// Method ids the user had before this registration.
#[derive(Debug, Clone, Default)]
pub struct Before(HashSet<String>);

/// Read the user's methods now.
pub async fn snapshot(graph: &GraphClient, user: &str) -> Result<Before, GraphError> {
    Ok(Before(graph.list_fido2_methods(user).await?.into_iter().map(|m| m.id).collect()))
}

/// What the new method must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The AAGUID of the credential keystation made, when it is known (a key with
    /// `attestation: none` would report zeros; then any AAGUID is accepted).
    pub aaguid: Option<[u8; 16]>,
    /// The display name the station chose.
    pub display_name: String,
}

/// What Graph shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A new method with the AAGUID and the display name.
    Exact(Fido2Method),
    /// A new method with the AAGUID but another name (not named yet, or named by hand).
    OtherName(Fido2Method),
    /// Nothing new yet.
    Nothing,
}

/// One look at the user's methods.
pub async fn look(graph: &GraphClient, user: &str, before: &Before, wanted: &Wanted) -> Result<Found, GraphError> {
    let methods = graph.list_fido2_methods(user).await?;
    Ok(classify(methods, before, wanted))
}

fn classify(methods: Vec<Fido2Method>, before: &Before, wanted: &Wanted) -> Found {
    let mut other = None;
    for m in methods {
        if before.0.contains(&m.id) || !aaguid_matches(m.aa_guid.as_deref(), wanted.aaguid) {
            continue;
        }
        if m.display_name.as_deref() == Some(wanted.display_name.as_str()) {
            return Found::Exact(m);
        }
        other.get_or_insert(m);
    }
    other.map(Found::OtherName).unwrap_or(Found::Nothing)
}

fn aaguid_matches(graph: Option<&str>, wanted: Option<[u8; 16]>) -> bool {
    match wanted {
        None => true,
        Some(w) if w == [0; 16] => true,
        Some(w) => graph.and_then(|g| uuid::Uuid::parse_str(g.trim()).ok()).is_some_and(|g| *g.as_bytes() == w),
    }
}

/// Parse a Graph AAGUID, zeros when absent or malformed.
pub fn parse_aaguid(text: Option<&str>) -> [u8; 16] {
    text.and_then(|g| uuid::Uuid::parse_str(g.trim()).ok()).map(|u| *u.as_bytes()).unwrap_or([0; 16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, name: &str, aaguid: &str) -> Fido2Method {
        Fido2Method {
            id: id.into(),
            display_name: Some(name.into()),
            created_date_time: None,
            aa_guid: Some(aaguid.into()),
            model: None,
            attestation_certificates: vec![],
            attestation_level: None,
            passkey_type: None,
        }
    }

    #[test]
    fn only_new_methods_of_this_key_model_count() {
        let key = "d5a92987-df19-484f-890d-2d49daf54f29";
        let wanted = Wanted { aaguid: Some(*uuid::Uuid::parse_str(key).unwrap().as_bytes()), display_name: "Alice key".into() };
        let before = Before(["old".to_string()].into_iter().collect());
        assert_eq!(classify(vec![m("old", "Alice key", key)], &before, &wanted), Found::Nothing);
        assert_eq!(classify(vec![m("n", "Alice key", "2fc0579f-8113-47ea-b116-bb5a8db9202a")], &before, &wanted), Found::Nothing);
        assert!(matches!(classify(vec![m("n", "Security key", key)], &before, &wanted), Found::OtherName(_)));
        assert!(matches!(classify(vec![m("n", "Security key", key), m("n2", "Alice key", &key.to_uppercase())], &before, &wanted), Found::Exact(x) if x.id == "n2"));
    }
}
