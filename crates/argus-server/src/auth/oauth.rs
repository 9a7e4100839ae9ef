//! Sign-in with an external OAuth 2.0 / OpenID Connect provider through
//! GoTrue's flow: `GET /authorize?provider=..&code_challenge=..` sends the
//! browser to the provider; the provider returns to `GET /callback`; with
//! PKCE the app then gets `?code=` on its redirect URL and exchanges it with
//! `POST /token?grant_type=pkce` (the desktop does this through the system
//! browser and a loopback redirect, RFC 8252). Without a code challenge the
//! session comes back in the redirect's fragment (the implicit flow).
//!
//! OpenID Connect providers are found by discovery from their issuer URL;
//! GitHub, which has none, is a preset of plain OAuth 2.0 endpoints.

use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    audit, session,
    users::{self, NewUser},
};
use crate::{
    config::ProviderConfig,
    error::AuthError,
    state::{AppState, ClientIp},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/authorize", get(authorize)).route("/callback", get(callback))
}

/// How long a started sign-in may take, and an issued code may wait.
const FLOW_TTL_SECS: i64 = 600;

#[derive(Debug)]
struct Endpoints {
    authorize: String,
    token: String,
    userinfo: Option<String>,
    emails: Option<String>,
}

/// A blocking HTTP call on the blocking pool (sign-ins are rare; ureq keeps
/// the server's TLS stack the one the workspace already builds).
async fn http_json(req: impl FnOnce(&ureq::Agent) -> Result<Value, ureq::Error> + Send + 'static) -> Result<Value, AuthError> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(15)))
            .http_status_as_error(true)
            .build()
            .into();
        req(&agent)
    })
    .await
    .map_err(|_| AuthError::internal())?
    .map_err(|e| {
        tracing::warn!(error = %e, "OAuth provider call failed");
        AuthError::bad_request("oauth_provider_error", format!("The sign-in provider could not be reached or refused: {e}"))
    })
}

async fn endpoints(p: &ProviderConfig) -> Result<Endpoints, AuthError> {
    if let (Some(a), Some(t)) = (&p.authorize_url, &p.token_url) {
        return Ok(Endpoints { authorize: a.clone(), token: t.clone(), userinfo: p.userinfo_url.clone(), emails: p.emails_url.clone() });
    }
    let issuer = p.issuer.clone().ok_or_else(|| AuthError::validation("the provider has neither an issuer URL nor endpoints"))?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let doc = http_json(move |a| a.get(&url).call()?.body_mut().read_json::<Value>()).await?;
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Endpoints {
        authorize: s("authorization_endpoint").ok_or_else(|| AuthError::bad_request("oauth_provider_error", "discovery has no authorization_endpoint"))?,
        token: s("token_endpoint").ok_or_else(|| AuthError::bad_request("oauth_provider_error", "discovery has no token_endpoint"))?,
        userinfo: s("userinfo_endpoint"),
        emails: None,
    })
}

fn provider<'a>(state: &'a AppState, name: &str) -> Result<&'a ProviderConfig, AuthError> {
    state
        .config
        .auth
        .providers
        .get(name)
        .filter(|p| p.enabled)
        .ok_or_else(|| AuthError::validation(format!("Unsupported provider: provider {name:?} is not enabled")))
}

/// `302 Found`, as GoTrue answers `/authorize` and `/callback` (axum's
/// `Redirect::to` is a 303 See Other).
fn found(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn callback_url(state: &AppState, p: &ProviderConfig) -> String {
    p.redirect_uri.clone().unwrap_or_else(|| format!("{}/auth/v1/callback", state.config.external_url))
}

#[derive(Debug, Default, Deserialize)]
struct AuthorizeQuery {
    provider: Option<String>,
    redirect_to: Option<String>,
    scopes: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(State(state): State<AppState>, Query(q): Query<AuthorizeQuery>) -> Result<Response, AuthError> {
    if state.maintenance() {
        return Err(AuthError::maintenance());
    }
    let name = q.provider.clone().unwrap_or_default().to_lowercase();
    let p = provider(&state, &name)?;
    let method = match (q.code_challenge.as_deref(), q.code_challenge_method.as_deref().map(str::to_lowercase).as_deref()) {
        (None, _) => None,
        (Some(c), Some("s256") | None) if (43..=128).contains(&c.len()) => Some("s256"),
        (Some(c), Some("plain")) if (43..=128).contains(&c.len()) => Some("plain"),
        _ => return Err(AuthError::validation("code challenge must be 43 to 128 characters, method s256 or plain")),
    };
    let redirect = q.redirect_to.clone().filter(|r| state.config.redirect_allowed(r)).unwrap_or_else(|| state.config.site_url.clone());
    let ep = endpoints(p).await?;
    let flow = Uuid::now_v7();
    let nonce = session::random_token(24);
    sqlx::query(
        "insert into argus_auth.flow_state (id, provider, code_challenge, code_challenge_method, redirect_to, nonce)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(flow)
    .bind(&name)
    .bind(q.code_challenge.clone().unwrap_or_default())
    .bind(method.unwrap_or("none"))
    .bind(&redirect)
    .bind(&nonce)
    .execute(&state.pool)
    .await?;
    let now = Utc::now().timestamp();
    let state_token = state.keys.sign(&json!({"role": "oauth_state", "flow": flow, "iat": now, "exp": now + FLOW_TTL_SECS}));
    let scopes = match &q.scopes {
        Some(s) => s.replace(',', " "),
        None => p.scopes.join(" "),
    };
    let mut url = url::Url::parse(&ep.authorize)
        .map_err(|_| AuthError::bad_request("oauth_provider_error", "the provider's authorization endpoint is not a URL"))?;
    url.query_pairs_mut()
        .append_pair("client_id", &p.client_id)
        .append_pair("redirect_uri", &callback_url(&state, p))
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes)
        .append_pair("state", &state_token)
        .append_pair("nonce", &nonce);
    Ok(found(url.as_str()))
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct Flow {
    id: Uuid,
    provider: String,
    code_challenge_method: String,
    redirect_to: Option<String>,
}

fn redirect_error(to: &str, code: &str, description: &str) -> Response {
    let frag = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "access_denied")
        .append_pair("error_code", code)
        .append_pair("error_description", description)
        .finish();
    found(&format!("{to}#{frag}"))
}

async fn callback(State(state): State<AppState>, ClientIp(ip): ClientIp, headers: HeaderMap, Query(q): Query<CallbackQuery>) -> Response {
    let site = state.config.site_url.clone();
    let flow_id = q
        .state
        .as_deref()
        .and_then(|t| state.keys.verify(t).ok())
        .filter(|(c, _)| c.get("role").and_then(Value::as_str) == Some("oauth_state"))
        .and_then(|(c, _)| c.get("flow").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()));
    let Some(flow_id) = flow_id else {
        return redirect_error(&site, "bad_oauth_state", "OAuth state is missing or invalid");
    };
    let flow: Option<Flow> = match sqlx::query_as(
        "select id, provider, code_challenge_method, redirect_to from argus_auth.flow_state
         where id = $1 and auth_code is null and created_at > now() - make_interval(secs => $2)",
    )
    .bind(flow_id)
    .bind(FLOW_TTL_SECS as f64)
    .fetch_optional(&state.pool)
    .await
    {
        Ok(f) => f,
        Err(e) => return redirect_error(&site, "unexpected_failure", &AuthError::from(e).message),
    };
    let Some(flow) = flow else {
        return redirect_error(&site, "flow_state_not_found", "The sign-in took too long or was already used; start again");
    };
    let to = flow.redirect_to.clone().unwrap_or(site);
    if let Some(err) = q.error {
        return redirect_error(&to, &err, q.error_description.as_deref().unwrap_or("the provider refused the sign-in"));
    }
    match finish(&state, &flow, q.code.as_deref().unwrap_or(""), &ip, &headers).await {
        Ok(r) => r,
        Err(e) => redirect_error(&to, e.code, &e.message),
    }
}

/// Exchanges the provider's code, finds or creates the user, and answers the
/// app: a PKCE code on the redirect URL, or the session in its fragment.
async fn finish(state: &AppState, flow: &Flow, code: &str, ip: &str, headers: &HeaderMap) -> Result<Response, AuthError> {
    if code.is_empty() {
        return Err(AuthError::bad_request("bad_oauth_callback", "the provider sent no code"));
    }
    let p = provider(state, &flow.provider)?.clone();
    let ep = endpoints(&p).await?;
    let form = [
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("redirect_uri".to_owned(), callback_url(state, &p)),
        ("client_id".to_owned(), p.client_id.clone()),
        ("client_secret".to_owned(), p.secret.clone()),
    ];
    let token_url = ep.token.clone();
    let tokens = http_json(move |a| {
        a.post(&token_url).header("Accept", "application/json").send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())))?.body_mut().read_json::<Value>()
    })
    .await?;
    let access = tokens
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| AuthError::bad_request("oauth_provider_error", "the provider's token answer has no access_token"))?
        .to_owned();
    let info_url = ep.userinfo.clone().ok_or_else(|| AuthError::bad_request("oauth_provider_error", "the provider has no userinfo endpoint"))?;
    let bearer = format!("Bearer {access}");
    let b2 = bearer.clone();
    let info = http_json(move |a| a.get(&info_url).header("Authorization", &b2).header("Accept", "application/json").call()?.body_mut().read_json::<Value>()).await?;
    let sub = match info.get("sub").or(info.get("id")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(AuthError::bad_request("oauth_provider_error", "the provider's user has no id")),
    };
    let (mut email, mut verified) = (
        info.get("email").and_then(Value::as_str).map(str::to_lowercase),
        info.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
    );
    if let Some(emails_url) = ep.emails.clone() {
        // GitHub: the primary, verified address.
        let list = http_json(move |a| a.get(&emails_url).header("Authorization", &bearer).header("Accept", "application/json").call()?.body_mut().read_json::<Value>()).await?;
        if let Some(primary) = list.as_array().and_then(|l| l.iter().find(|e| e["primary"] == json!(true) && e["verified"] == json!(true))) {
            email = primary["email"].as_str().map(str::to_lowercase);
            verified = true;
        }
    }
    let mut data = info.clone();
    data["sub"] = json!(sub);
    let user_id = {
        let mut tx = state.pool.begin().await?;
        let existing: Option<Uuid> = sqlx::query_scalar("select user_id from argus_auth.identities where provider = $1 and provider_id = $2")
            .bind(&flow.provider)
            .bind(&sub)
            .fetch_optional(&mut *tx)
            .await?;
        let id = match existing {
            Some(id) => {
                users::add_identity(&mut *tx, id, &flow.provider, &sub, &data).await?;
                id
            }
            None => {
                // Link to an account with the same address only when the provider verified it.
                let same = match (&email, verified) {
                    (Some(e), true) => users::by_email(&mut *tx, e).await?,
                    _ => None,
                };
                match same {
                    Some(u) => {
                        users::add_identity(&mut *tx, u.id, &flow.provider, &sub, &data).await?;
                        sqlx::query(
                            "update argus_auth.users set raw_app_meta_data = jsonb_set(raw_app_meta_data, '{providers}',
                             (select coalesce(jsonb_agg(distinct provider), '[]') from argus_auth.identities where user_id = $1)) where id = $1",
                        )
                        .bind(u.id)
                        .execute(&mut *tx)
                        .await?;
                        u.id
                    }
                    None => {
                        if state.config.auth.disable_signup {
                            return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "signup_disabled", "Signups not allowed for this instance"));
                        }
                        let meta = json!({
                            "full_name": info.get("name"), "name": info.get("name"),
                            "avatar_url": info.get("picture").or(info.get("avatar_url")),
                            "email": email, "email_verified": verified, "provider_id": sub, "sub": sub,
                            "iss": state.config.auth.providers.get(&flow.provider).and_then(|p| p.issuer.clone()),
                        });
                        let email_taken = match &email {
                            Some(e) => users::by_email(&mut *tx, e).await?.is_some(),
                            None => false,
                        };
                        users::create(
                            &mut tx,
                            NewUser {
                                email: if email_taken { None } else { email.clone() },
                                confirmed: verified && !email_taken,
                                user_metadata: meta,
                                provider: flow.provider.clone(),
                                provider_id: Some(sub.clone()),
                                identity_data: data.clone(),
                                ..NewUser::default()
                            },
                        )
                        .await?
                        .id
                    }
                }
            }
        };
        tx.commit().await?;
        id
    };
    let user = users::by_id(&state.pool, user_id).await?.ok_or_else(AuthError::user_not_found)?;
    if user.is_banned() {
        return Err(AuthError::bad_request("user_banned", "User is banned"));
    }
    audit(state, Some(user.id), "login", json!({"provider": flow.provider}), Some(ip)).await;
    let to = flow.redirect_to.clone().unwrap_or_else(|| state.config.site_url.clone());
    if flow.code_challenge_method != "none" {
        let auth_code = Uuid::new_v4().to_string();
        sqlx::query("update argus_auth.flow_state set auth_code = $2, user_id = $3, provider_access_token = $4 where id = $1")
            .bind(flow.id)
            .bind(&auth_code)
            .bind(user.id)
            .bind(&access)
            .execute(&state.pool)
            .await?;
        let mut u = url::Url::parse(&to).map_err(|_| AuthError::validation("redirect_to is not a URL"))?;
        u.query_pairs_mut().append_pair("code", &auth_code);
        return Ok(found(u.as_str()));
    }
    sqlx::query("delete from argus_auth.flow_state where id = $1").bind(flow.id).execute(&state.pool).await?;
    let (i, _) = session::start(state, &user, "oauth", ip, headers.get("user-agent").and_then(|v| v.to_str().ok())).await?;
    let frag = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("access_token", &i.access_token)
        .append_pair("expires_at", &i.expires_at.to_string())
        .append_pair("expires_in", &i.expires_in.to_string())
        .append_pair("provider_token", &access)
        .append_pair("refresh_token", &i.refresh_token)
        .append_pair("token_type", "bearer")
        .finish();
    Ok(found(&format!("{to}#{frag}")))
}

/// `POST /token?grant_type=pkce`: the app's code and its verifier. As in
/// GoTrue, a wrong verifier leaves the code usable; the right one consumes it.
pub async fn exchange_code(state: &AppState, code: &str, verifier: &str, ip: &str, ua: Option<&str>) -> Result<Response, AuthError> {
    let not_found = || AuthError::new(StatusCode::NOT_FOUND, "flow_state_not_found", "invalid flow state, no valid flow state found");
    let row: Option<(Uuid, String, String, Uuid, Option<String>)> = sqlx::query_as(
        "select id, code_challenge, code_challenge_method, user_id, provider_access_token from argus_auth.flow_state
         where auth_code = $1 and created_at > now() - make_interval(secs => $2)",
    )
    .bind(code)
    .bind(FLOW_TTL_SECS as f64)
    .fetch_optional(&state.pool)
    .await?;
    let (flow_id, challenge, method, user_id, provider_token) = row.ok_or_else(not_found)?;
    let computed = match method.as_str() {
        "s256" => B64.encode(Sha256::digest(verifier.as_bytes())),
        _ => verifier.to_owned(),
    };
    if computed != challenge {
        return Err(AuthError::bad_request("bad_code_verifier", "code challenge does not match previously saved code verifier"));
    }
    // One exchange per code: of two at once, only the one that deletes the row goes on.
    let consumed = sqlx::query("delete from argus_auth.flow_state where id = $1 and auth_code = $2")
        .bind(flow_id)
        .bind(code)
        .execute(&state.pool)
        .await?
        .rows_affected();
    if consumed == 0 {
        return Err(not_found());
    }
    let user = users::by_id(&state.pool, user_id).await?.ok_or_else(AuthError::user_not_found)?;
    let (i, user) = session::start(state, &user, "oauth", ip, ua).await?;
    let mut v = i.to_json(users::json_of(&state.pool, &user).await?);
    if let Some(t) = provider_token {
        v["provider_token"] = json!(t);
    }
    Ok(axum::Json(v).into_response())
}

/// The S256 challenge of a verifier (for clients and tests).
pub fn s256_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}
