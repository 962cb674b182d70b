//! A tiny SMTP server on loopback for tests: it accepts every message and keeps it, so a test
//! can read what affnet sent (a real SMTP conversation, no TLS, no authentication).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One received message: the envelope recipients and the raw data (headers and body).
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt: Vec<String>,
    pub data: String,
}

impl Received {
    /// The data with quoted-printable soft line breaks removed and `=3D` decoded, enough to
    /// read links and sentences.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }

    pub fn subject(&self) -> String {
        self.data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
    }

    /// The first link on this site that starts with `path_prefix`, as a path.
    pub fn link(&self, path_prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(path_prefix)?;
        let rest = &text[start + path_prefix.len()..];
        let token: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        Some(format!("{path_prefix}{token}"))
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        Self::start_slow(std::time::Duration::ZERO)
    }

    /// A sink that takes `delay` to accept each message (a slow mail server): the message is
    /// kept, and answered, only then.
    pub fn start_slow(delay: std::time::Duration) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let store = store.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &store, delay);
                });
            }
        });
        SmtpSink { port, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// The messages sent to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all().into_iter().filter(|m| m.rcpt.iter().any(|r| r == to)).collect()
    }

    /// The newest message to `to` once it has `count` of them (mail sent after the answer
    /// arrives a moment later); fails after 10 s.
    pub async fn wait_to(&self, to: &str, count: usize) -> Received {
        let started = std::time::Instant::now();
        while self.to(to).len() < count {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "no mail {count} to {to}: {:?}",
                self.all()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.last_to(to)
    }

    /// The newest message to `to`, which must exist.
    pub fn last_to(&self, to: &str) -> Received {
        self.to(to).pop().unwrap_or_else(|| panic!("no mail to {to}; received: {:?}", self.all()))
    }
}

fn serve(stream: TcpStream, store: &Mutex<Vec<Received>>, delay: std::time::Duration) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            out.write_all(b"250 sink.test\r\n")?;
        } else if cmd.starts_with("MAIL FROM") {
            rcpt.clear();
            out.write_all(b"250 OK\r\n")?;
        } else if cmd.starts_with("RCPT TO") {
            let addr = line.trim_end()[8..].trim().trim_start_matches('<').trim_end_matches('>').to_owned();
            rcpt.push(addr);
            out.write_all(b"250 OK\r\n")?;
        } else if cmd == "DATA" {
            out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            std::thread::sleep(delay);
            store.lock().unwrap().push(Received { rcpt: std::mem::take(&mut rcpt), data });
            out.write_all(b"250 OK queued\r\n")?;
        } else if cmd == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if cmd == "RSET" || cmd == "NOOP" {
            out.write_all(b"250 OK\r\n")?;
        } else {
            out.write_all(b"502 not implemented\r\n")?;
        }
    }
}
