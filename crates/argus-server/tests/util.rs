//! Test servers on real PostgreSQL (argus_server::testkit), with an HTTP
//! client and the JSON helpers the server's tests share.

#![allow(dead_code)] // each test module uses a different subset

use std::{ops::Deref, sync::Arc};

#[allow(unused_imports)]
pub use argus_server::testkit::{SECRET, TestDb, admin_url, sign};
use argus_server::Config;
use serde_json::{Value, json};

#[allow(unused_imports)]
pub use argus_server::testkit::TestResult;

pub use argus_server::ensure;

/// argus_server's test server, with an HTTP client that does not follow redirects.
pub struct TestServer {
    inner: argus_server::testkit::TestServer,
    pub http: reqwest::Client,
}

impl Deref for TestServer {
    type Target = argus_server::testkit::TestServer;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl TestServer {
    pub async fn start(configure: impl FnOnce(&mut Config)) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::wrap(argus_server::testkit::TestServer::start(configure).await?)
    }

    /// A server on an existing database (a second instance, for scale-out).
    pub async fn on(db: Arc<TestDb>, configure: impl FnOnce(&mut Config)) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::wrap(argus_server::testkit::TestServer::on(db, configure).await?)
    }

    fn wrap(inner: argus_server::testkit::TestServer) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        argus_server::testkit::install_tls_provider();
        Ok(Self { inner, http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()? })
    }

    pub async fn stop(self) {
        self.inner.stop().await
    }

    /// POST JSON; returns the status and the body (JSON, or null).
    pub async fn post(&self, url: &str, token: Option<&str>, body: Value) -> Result<(u16, Value), reqwest::Error> {
        let mut r = self.http.post(url).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    pub async fn send(&self, method: reqwest::Method, url: &str, token: Option<&str>, body: Option<Value>) -> Result<(u16, Value), reqwest::Error> {
        let mut r = self.http.request(method, url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> Result<(u16, Value), reqwest::Error> {
        self.send(reqwest::Method::GET, url, token, None).await
    }

    /// Signs up (auto-confirmed) and returns the session.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let (s, body) = self.post(&self.auth("/signup"), None, json!({"email": email, "password": password})).await?;
        ensure!(s == 200 && body["access_token"].is_string(), "sign-up of {email} gave {s}: {body}");
        Ok(body)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<(u16, Value), reqwest::Error> {
        self.post(&self.auth("/token?grant_type=password"), None, json!({"email": email, "password": password})).await
    }

}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn token_of(session: &Value) -> &str {
    session["access_token"].as_str().unwrap_or_default()
}

pub fn user_id(session: &Value) -> String {
    session["user"]["id"].as_str().unwrap_or_default().to_owned()
}
