//! Successful ceremonies: same tab across the cross-site hop, popup, same-origin frame.
use super::site::{SERVER_CHALLENGE, USER_ID_B64};
use super::support::{PAGE, fixture, outcome};
use super::verify::{attestation_entries, b64u, b64u_enc, bstr_content, parse_auth_data, verify_packed};
use keystation::ceremony::browser::BridgeEvent;
use sha2::{Digest, Sha256};

/// Everything a relying party would check, plus byte-exactness against the key.
fn check_registration(post: &super::site::PostBack, key: &super::soft_key::SoftKey, origin: &str, ev: &BridgeEvent) {
    assert_eq!(post.get("errorName"), "", "page error: {} {}", post.get("errorName"), post.get("errorMessage"));
    // clientDataJSON: exact bytes, as Chromium lays them out.
    let cdj = b64u(post.get("clientDataJson"));
    let expected = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
        b64u_enc(SERVER_CHALLENGE.as_bytes())
    );
    assert_eq!(String::from_utf8(cdj.clone()).unwrap(), expected);

    // attestationObject: text keys in Chromium's order; attStmt and authData exactly
    // what the key returned.
    let obj = b64u(post.get("attestationObject"));
    let entries = attestation_entries(&obj);
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["fmt", "attStmt", "authData"]);
    let responses = key.responses();
    let resp = responses.last().expect("the key answered");
    assert_eq!(entries[1].1, resp.att_stmt_cbor, "attStmt is not byte-identical to the key's");
    let auth_data = bstr_content(&entries[2].1);
    assert_eq!(auth_data, resp.auth_data, "authData is not byte-identical to the key's");
    let fmt: ciborium::value::Value = ciborium::de::from_reader(&entries[0].1[..]).unwrap();
    assert_eq!(fmt.as_text(), Some("packed"));

    // The signature verifies over authData ‖ SHA-256(clientDataJSON).
    verify_packed(&entries[1].1, &auth_data, &cdj);
    let ad = parse_auth_data(&auth_data);
    assert_eq!(ad.rp_id_hash.to_vec(), Sha256::digest(b"localhost").to_vec());
    assert_eq!(ad.flags & 0x45, 0x45, "UP, UV and AT set");
    assert_eq!(&ad.aaguid, &super::soft_key::AAGUID);
    assert_eq!(b64u(post.get("credentialId")), ad.credential_id);
    assert!(ad.extensions.is_some());

    // What reached the key.
    let req = key.requests().last().cloned().unwrap();
    assert_eq!(req.client_data_hash.to_vec(), Sha256::digest(&cdj).to_vec());
    assert_eq!(req.rp.id, "localhost");
    assert_eq!(req.user.id, b64u(USER_ID_B64));
    assert!(req.resident_key && req.user_verification && req.hmac_secret);
    assert_eq!(req.cred_protect, Some(2));

    // Microsoft's newfido fields and the page-side checks.
    assert_eq!(post.get("authenticator"), "cross-platform");
    assert_eq!(post.get("transports"), "usb");
    let ext: serde_json::Value = serde_json::from_slice(&b64u(post.get("clientExtensionResults"))).unwrap();
    assert_eq!(ext, serde_json::json!({"credProps": {"rk": true}, "hmacCreateSecret": true}));
    let c = post.checks();
    for flag in ["instanceofPKC", "instanceofAAR", "rawIdIsBuffer", "cdjIsBuffer", "aoIsBuffer", "idMatchesRawId", "spkiImportable", "jsonMatches"] {
        assert_eq!(c[flag], true, "page check {flag} failed: {c}");
    }
    assert_eq!(c["toStringTag"], "[object PublicKeyCredential]");
    assert_eq!(c["type"], "public-key");
    assert_eq!(c["attachment"], "cross-platform");
    assert_eq!(c["transports"], serde_json::json!(["usb"]));
    assert_eq!(c["alg"], -7);
    assert_eq!(c["spkiLength"], 91);
    assert_eq!(b64u(c["authData"].as_str().unwrap()), resp.auth_data);
    assert_eq!(c["ext"], serde_json::json!({"credProps": {"rk": true}, "hmacCreateSecret": true}));
    assert_eq!(c["jsonKeys"], serde_json::json!(["authenticatorAttachment", "clientExtensionResults", "id", "rawId", "response", "type"]));
    assert_eq!(
        c["jsonResponseKeys"],
        serde_json::json!(["attestationObject", "authenticatorData", "clientDataJSON", "publicKey", "publicKeyAlgorithm", "transports"])
    );
    assert_eq!(c["createName"], "create");
    assert_eq!(c["createLength"], 0);
    assert_eq!(c["leakedGlobals"], serde_json::json!([]));

    // And the Rust side saw the same credential.
    match ev {
        BridgeEvent::Registered(cred) => {
            assert_eq!(cred.client_data_json.as_bytes(), &cdj[..]);
            assert_eq!(cred.attestation_object, obj);
            assert_eq!(cred.origin.to_string(), origin);
        }
        other => panic!("expected Registered, got {other:?}"),
    }
}

#[tokio::test]
async fn same_tab_across_a_cross_site_form_post() {
    let Some(mut f) = fixture("same_tab_across_a_cross_site_form_post").await else { return };
    let t0 = std::time::Instant::now();
    f.ctx.navigate(&f.site.other_site("/start")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    eprintln!("figure: same-tab ceremony (navigate → result posted) took {:?}", t0.elapsed());
    let ev = outcome(&mut f.ctx).await;
    check_registration(&post, &f.key, &f.site.login_site(""), &ev);
    let png = f.ctx.screenshot_png().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    f.close().await;
}

#[tokio::test]
async fn popup() {
    let Some(mut f) = fixture("popup").await else { return };
    f.ctx.navigate(&f.site.other_site("/popup-host")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    assert_eq!(post.get("scenario"), "popup");
    let ev = outcome(&mut f.ctx).await;
    check_registration(&post, &f.key, &f.site.login_site(""), &ev);
    // The popup is a second top-level context of the same (private) user context.
    let tops = f.ctx.top_level_contexts().await.unwrap();
    assert_eq!(tops.len(), 2, "{tops:?}");
    assert!(tops.iter().any(|c| c.original_opener.as_deref() == Some(f.ctx.tab())));
    f.close().await;
}

#[tokio::test]
async fn same_origin_iframe() {
    let Some(mut f) = fixture("same_origin_iframe").await else { return };
    f.ctx.navigate(&f.site.login_site("/iframe-host?scenario=frame")).await.unwrap();
    let post = f.site.next_post(PAGE).await;
    let ev = outcome(&mut f.ctx).await;
    check_registration(&post, &f.key, &f.site.login_site(""), &ev);
    f.close().await;
}
