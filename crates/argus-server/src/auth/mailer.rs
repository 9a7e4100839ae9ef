//! Sending e-mail: confirmation, recovery, magic-link / OTP, e-mail change and
//! invitations. The log mailer is the default; a file mailer writes one JSON
//! line per message (what tests read); SMTP is configured with GoTrue's
//! `GOTRUE_SMTP_*` variables.

use std::{io::Write, path::PathBuf};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::config::{MailerConfig, SmtpConfig};

/// One message, with the one-time code and the link it carries.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub to: String,
    /// `confirmation`, `recovery`, `magiclink`, `email_change`, `invite`.
    pub kind: String,
    pub subject: String,
    /// The six-digit code the user may type instead of following the link.
    pub otp: String,
    pub token_hash: String,
    pub link: String,
}

impl Mail {
    pub fn body(&self) -> String {
        format!(
            "{}\n\nFollow this link:\n{}\n\nOr enter this code: {}\n\nIf you did not ask for this, ignore this message.\n",
            self.subject, self.link, self.otp
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sending e-mail failed: {0}")]
pub struct MailError(pub String);

#[derive(Debug, Clone)]
pub enum Mailer {
    Log,
    File(PathBuf),
    Smtp(SmtpConfig),
}

impl Mailer {
    pub fn from_config(c: &MailerConfig) -> Self {
        match c {
            MailerConfig::Log => Mailer::Log,
            MailerConfig::File(p) => Mailer::File(p.clone()),
            MailerConfig::Smtp(s) => Mailer::Smtp(s.clone()),
        }
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        match self {
            Mailer::Log => {
                tracing::info!(to = %mail.to, kind = %mail.kind, link = %mail.link, otp = %mail.otp, "mail (log mailer)");
                Ok(())
            }
            Mailer::File(path) => {
                let line = serde_json::to_string(mail).map_err(|e| MailError(e.to_string()))?;
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                    writeln!(f, "{line}")
                })
                .await
                .map_err(|e| MailError(e.to_string()))?
                .map_err(|e| MailError(format!("cannot write the mail file: {e}")))
            }
            Mailer::Smtp(cfg) => smtp_send(cfg, mail).await,
        }
    }
}

/// A plain SMTP submission (EHLO, optional AUTH PLAIN, MAIL, RCPT, DATA) to a
/// relay on a trusted network or a local MTA. STARTTLS relays need a local
/// relay in front (e.g. an MTA on the host).
async fn smtp_send(cfg: &SmtpConfig, mail: &Mail) -> Result<(), MailError> {
    let err = |what: &str, e: &dyn std::fmt::Display| MailError(format!("SMTP {what} ({}:{}): {e}", cfg.host, cfg.port));
    let stream = tokio::net::TcpStream::connect((cfg.host.as_str(), cfg.port)).await.map_err(|e| err("connect", &e))?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn expect(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str) -> Result<(), String> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
                return Err("connection closed".into());
            }
            if !line.starts_with(code) {
                return Err(format!("expected {code}, got {}", line.trim()));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }
    let from = cfg.admin_email.clone();
    let from_header = match &cfg.sender_name {
        Some(n) => format!("{n} <{from}>"),
        None => from.clone(),
    };
    let data = format!(
        "From: {from_header}\r\nTo: {}\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n.\r\n",
        mail.to,
        mail.subject,
        mail.body().replace("\n.", "\n..").replace('\n', "\r\n")
    );
    let mut steps: Vec<(String, &str)> = vec![("EHLO argus\r\n".into(), "250")];
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.pass) {
        use base64::Engine;
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{u}\0{p}"));
        steps.push((format!("AUTH PLAIN {plain}\r\n"), "235"));
    }
    steps.push((format!("MAIL FROM:<{from}>\r\n"), "250"));
    steps.push((format!("RCPT TO:<{}>\r\n", mail.to), "250"));
    steps.push(("DATA\r\n".into(), "354"));
    steps.push((data, "250"));
    steps.push(("QUIT\r\n".into(), "221"));
    expect(&mut r, "220").await.map_err(|e| err("greeting", &e))?;
    for (cmd, code) in steps {
        w.write_all(cmd.as_bytes()).await.map_err(|e| err("write", &e))?;
        expect(&mut r, code).await.map_err(|e| err(cmd.split_whitespace().next().unwrap_or("command"), &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-connection SMTP server on loopback that records what it got.
    #[tokio::test]
    async fn smtp_mailer_speaks_smtp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.expect("accept");
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let mut got = String::new();
            w.write_all(b"220 test\r\n").await.expect("w");
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.expect("read") == 0 {
                    break;
                }
                got.push_str(&line);
                let reply: &[u8] = if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        b"250 queued\r\n"
                    } else {
                        continue;
                    }
                } else if line.starts_with("EHLO") {
                    b"250-test\r\n250 AUTH PLAIN\r\n"
                } else if line.starts_with("AUTH") {
                    b"235 ok\r\n"
                } else if line.starts_with("DATA") {
                    in_data = true;
                    b"354 go\r\n"
                } else if line.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").await.expect("w");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                w.write_all(reply).await.expect("w");
            }
            got
        });
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            user: Some("u".into()),
            pass: Some("p".into()),
            admin_email: "noreply@argus.test".into(),
            sender_name: Some("Argus".into()),
        };
        let mail = Mail {
            to: "ann@example.com".into(),
            kind: "recovery".into(),
            subject: "Reset your password".into(),
            otp: "123456".into(),
            token_hash: "h".into(),
            link: "http://x/verify".into(),
        };
        Mailer::Smtp(cfg).send(&mail).await.expect("sent");
        let got = server.await.expect("server");
        assert!(got.contains("RCPT TO:<ann@example.com>"), "{got}");
        assert!(got.contains("Subject: Reset your password"), "{got}");
        assert!(got.contains("123456"), "{got}");
    }
}
