//! Many keys at once, each on its own worker thread.
use super::support::*;
use tokio::task::JoinSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_keys_set_pin_and_make_credentials_concurrently() {
    let keys: Vec<_> = (0..8).map(|_| key()).collect();
    let mut tasks = JoinSet::new();
    for (i, k) in keys.iter().enumerate() {
        let k = k.clone();
        tasks.spawn(async move {
            let h = open(&k).await;
            let p = pin(&format!("{:04}", 1000 + i));
            h.set_pin(&p).await.unwrap();
            let user = format!("user-{i}");
            let r = h.make_credential(request("example.com", user.as_bytes()), Some(&p)).await.unwrap();
            let listed = h.list_credentials(&p).await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].credential_id, r.credential_id);
            (k.path().to_string(), r.credential_id)
        });
    }
    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(r.unwrap());
    }
    assert_eq!(done.len(), 8);
    let mut ids: Vec<_> = done.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "every key made its own credential");
}
