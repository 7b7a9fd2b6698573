//! Files a test makes: a temp dir removed on drop, and a certificate openssl makes in it.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A temp dir removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tcpgoon-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temp dir");
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> String {
        self.0
            .join(file)
            .to_str()
            .expect("UTF-8 temp path")
            .to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 and its key, made by openssl in
/// `dir`: (cert.pem, key.pem).
pub fn openssl_cert(dir: &TempDir) -> (String, String) {
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        // Not CN=localhost: Debian's ssl-cert puts a snakeoil certificate of that subject
        // among the system's roots, and webpki would try it as the issuer.
        .args(["-subj", "/CN=tcpgoon test"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // An end entity, as a server's certificate signed by a CA would be.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", &key, "-out", &cert])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success(), "openssl req: {status}");
    (cert, key)
}

/// nginx, from Debian, on 127.0.0.1:8443 with TLS (`cert`, `key`) and `location` as its
/// `location /` block's body; its config, pid and logs in `dir`; stopped on drop. One
/// process (`master_process off`): the guard's kill then stops all of it, where a killed
/// master would leave its worker running. Port 8443 is fixed: only in a private network
/// namespace.
pub fn nginx_tls(dir: &TempDir, cert: &str, key: &str, location: &str) -> super::Guard {
    let conf = dir.path("nginx.conf");
    let root = dir.path("");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {root}nginx.pid;\nerror_log {root}error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {root}body;\n\
             proxy_temp_path {root}proxy;\n  fastcgi_temp_path {root}fastcgi;\n\
             uwsgi_temp_path {root}uwsgi;\n  scgi_temp_path {root}scgi;\n\
             server {{\n    listen 127.0.0.1:8443 ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n\
             ssl_certificate {cert};\n\
             ssl_certificate_key {key};\n    location / {{ {location} }}\n  }}\n}}\n"
        ),
    )
    .expect("write nginx.conf");
    let guard = super::Guard(
        Command::new("nginx")
            .args(["-c", &conf, "-p", &root, "-e", &dir.path("error.log")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    super::wait_for("nginx to listen on 8443", || {
        std::net::TcpStream::connect("127.0.0.1:8443").is_ok()
    });
    guard
}
