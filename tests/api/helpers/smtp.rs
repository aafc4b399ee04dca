//! A real SMTP server for the outbox's tests: Python's aiosmtpd (installed by
//! `scripts/test` under tests/smtp/pydeps) with the sink of tests/smtp/sink.py, which
//! writes each accepted message to a folder, refuses recipients `refuse…@` for good (550)
//! and `later…@` for now (451).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sink; killed at drop.
pub struct SmtpSink {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `smtp://127.0.0.1:PORT`.
pub fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

impl SmtpSink {
    /// Starts a sink on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a sink on `port` and waits until it accepts connections.
    pub fn start_on(port: u16) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp");
        let deps = root.join("pydeps");
        assert!(
            deps.join("aiosmtpd").is_dir(),
            "aiosmtpd is missing: run scripts/test (it installs it under tests/smtp/pydeps)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "sink.Sink"])
            .arg(dir.path().join("mail"))
            .env(
                "PYTHONPATH",
                format!("{}:{}", deps.display(), root.display()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            port,
            dir,
            child: Some(child),
        }
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        smtp_url(self.port)
    }

    /// Every message accepted so far, raw, in order.
    pub fn messages(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read message"))
            .collect()
    }

    /// Waits up to 30 s for at least `n` messages; all of them.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (the port stays free for a restart with [`SmtpSink::start_on`]).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}
