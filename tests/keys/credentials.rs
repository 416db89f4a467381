//! Credential management: metadata, list, delete.
use super::support::*;
use keystation::key::KeyError;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn list_metadata_and_delete() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    assert!(h.list_credentials(&pin("1234")).await.unwrap().is_empty(), "a blank key lists nothing");
    let a1 = h.make_credential(request("a.example", b"alice"), Some(&pin("1234"))).await.unwrap();
    let a2 = h.make_credential(request("a.example", b"bob"), Some(&pin("1234"))).await.unwrap();
    let mut req = request("b.example", b"carol");
    req.cred_protect = Some(3);
    let b1 = h.make_credential(req, Some(&pin("1234"))).await.unwrap();

    let meta = h.credentials_metadata(&pin("1234")).await.unwrap();
    assert_eq!(meta.existing, 3);
    assert_eq!(meta.remaining, 147);

    let mut creds = h.list_credentials(&pin("1234")).await.unwrap();
    creds.sort_by(|x, y| x.user.id.cmp(&y.user.id));
    assert_eq!(creds.len(), 3);
    assert_eq!(creds[0].user.id, b"alice");
    assert_eq!(creds[0].rp_id.as_deref(), Some("a.example"));
    assert_eq!(creds[0].rp_id_hash, Sha256::digest(b"a.example").to_vec());
    assert_eq!(creds[0].credential_id, a1.credential_id);
    assert_eq!(creds[0].user.name.as_deref(), Some("user@example.com"));
    assert_eq!(creds[1].credential_id, a2.credential_id);
    assert_eq!(creds[2].rp_id.as_deref(), Some("b.example"));
    assert_eq!(creds[2].credential_id, b1.credential_id);
    assert_eq!(creds[2].cred_protect, Some(3));

    h.delete_credential(&pin("1234"), &a2.credential_id).await.unwrap();
    let left = h.list_credentials(&pin("1234")).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|c| c.credential_id != a2.credential_id));
    assert_eq!(h.info().remaining_discoverable_credentials, Some(148), "info refreshed after delete");
    assert_eq!(h.delete_credential(&pin("1234"), &a2.credential_id).await, Err(KeyError::NoCredentials));
    assert_eq!(h.credentials_metadata(&pin("1234")).await.unwrap().existing, 2);
}

#[tokio::test]
async fn credential_management_needs_the_right_pin() {
    let k = key();
    let h = open(&k).await;
    h.set_pin(&pin("1234")).await.unwrap();
    assert_eq!(h.list_credentials(&pin("4321")).await, Err(KeyError::PinInvalid { retries_left: 7 }));
}
