//! The PostgreSQL test harness itself: a cluster that starts, takes password logins over
//! TCP, survives a stop and a restart with its data, and runs as an unprivileged user.
use crate::postgres;

#[test]
fn a_throw_away_cluster_starts_stops_and_keeps_its_data_across_a_restart() {
    let Some(mut cluster) = postgres::start() else { return };
    let url = cluster.create_database("harness");
    let db = url.rsplit('/').next().unwrap().to_string();
    cluster.psql(&db, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('before')");
    assert_eq!(cluster.psql(&db, "SELECT current_user"), postgres::USER);
    // The server process is not root.
    let pid = cluster.server_pid().expect("postmaster.pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    assert!(!uid_line.split_whitespace().nth(1).unwrap().eq("0"), "PostgreSQL runs as root: {uid_line}");

    cluster.stop_server();
    let refused = std::net::TcpStream::connect(("127.0.0.1", cluster.port()));
    assert!(refused.is_err(), "the server still accepts connections after stop");
    cluster.start_server();
    assert_eq!(cluster.psql(&db, "SELECT v FROM t"), "before");
    assert!(url.starts_with("postgres://keystation@127.0.0.1:"), "{url}");
}

#[test]
fn a_wrong_password_is_refused() {
    let Some(cluster) = postgres::shared() else { return };
    let out = std::process::Command::new(postgres::find_bin().unwrap().join("psql"))
        .env_clear()
        .env("PGPASSWORD", "not-the-password")
        .args(["-X", "-h", "127.0.0.1", "-p", &cluster.port().to_string(), "-U", postgres::USER, "-d", "postgres", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed"), "{}", String::from_utf8_lossy(&out.stderr));
}
