//! argus-server against a real PostgreSQL, over real HTTP.
//!
//! Modules: `auth` (the GoTrue contract), `tokens` (JWT refusals, external
//! issuers, ES256), `limits` (rate limits), `scale` (two instances on one
//! database), `maintenance`, `api` (teams, projects, roles), `rls` (isolation
//! through the API and with direct SQL), `ops`.
//!
//! Without `DATABASE_URL` every test is reported ignored with the reason
//! (under `CI=true` that is a failure instead).

mod util;

use serde_json::{Value, json};
use util::*;

fn main() {
    argus_server::testkit::run(argus_server::tests![
        auth::signup_returns_a_session_shaped_as_gotrue,
        auth::signup_without_autoconfirm_confirms_by_code_and_by_link,
        auth::password_sign_in_errors_in_both_shapes,
        auth::refresh_rotates_and_reuse_revokes_the_family,
        auth::user_get_and_update,
        auth::logout_scopes,
        auth::recovery_and_magic_links,
        auth::otp_sign_in_creates_users_unless_told_not_to,
        auth::admin_endpoints_need_the_service_role,
        auth::anonymous_sign_in_and_linking_an_email,
        auth::settings_and_health,
        auth::disabled_signup,
        tokens::bad_tokens_are_refused,
        tokens::es256_keys_are_published_and_verify,
        tokens::external_supabase_tokens_when_trusted,
        limits::sign_in_limit_per_ip_and_per_email,
        limits::refresh_and_email_limits,
        scale::two_instances_share_sessions_and_reuse_detection,
        scale::two_instances_share_rate_limits,
        maintenance::reads_work_writes_wait_nobody_is_signed_out,
        api::teams_projects_and_the_role_matrix,
        api::invitations_by_email,
        api::audit_log_records_membership_changes,
        api::bad_input_is_a_typed_error,
        rls::teams_are_isolated_through_the_api,
        rls::teams_are_isolated_in_sql_as_the_runtime_role,
        rls::sql_role_matrix_is_argus_cores,
        rls::db_setup_is_idempotent_and_concurrent,
        rls::claims_with_quotes_and_backslashes_reach_the_policies_intact,
        ops::health_ready_metrics_request_ids_cors,
        ops::openapi_lists_every_route_it_serves,
        ops::dev_mode_runs_on_a_private_postgres,
        ops::dev_mode_as_root_says_when_postgres_cannot_reach_its_folder,
        storage::presigned_put_get_and_range_on_the_embedded_store,
        storage::presigned_urls_are_refused_for_another_key_method_or_when_expired,
        storage::multipart_upload_list_complete_abort_and_delete,
        storage::multipart_parts_out_of_order_resent_and_across_a_restart,
        storage::copy_between_stores_verifies_and_resumes,
        videos::single_put_upload_is_processed_by_a_worker,
        videos::multipart_upload_resumes_with_the_parts_the_store_holds,
        videos::size_mismatch_and_quotas_are_refused,
        videos::jobs_retry_back_off_die_and_are_never_taken_twice,
        videos::videos_follow_roles_and_team_isolation,
        videos::events_stream_each_change_of_state,
    ]);
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

// ====================================================================== auth
mod auth {
    use super::*;

    pub async fn signup_returns_a_session_shaped_as_gotrue() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let (status, body) =
            s.post(&s.auth("/signup"), None, json!({"email": "Ann@Example.com", "password": "secret-1", "data": {"team": "red"}})).await?;
        ensure!(status == 200, "{status} {body}");
        for k in ["access_token", "refresh_token", "expires_in", "expires_at", "token_type", "user"] {
            ensure!(!body[k].is_null(), "session lacks {k}: {body}");
        }
        ensure!(body["token_type"] == "bearer" && body["expires_in"] == 3600, "{body}");
        let u = &body["user"];
        for k in ["id", "aud", "role", "email", "email_confirmed_at", "app_metadata", "user_metadata", "identities", "created_at", "is_anonymous"] {
            ensure!(!u[k].is_null(), "user lacks {k}: {u}");
        }
        ensure!(u["email"] == "ann@example.com" && u["user_metadata"]["team"] == "red", "{u}");
        ensure!(u["app_metadata"] == json!({"provider": "email", "providers": ["email"]}), "{u}");
        ensure!(u["identities"][0]["provider"] == "email", "{u}");
        // the access token carries GoTrue's claims
        let claims = s.state.keys.verify(token_of(&body)).map_err(|e| e.to_string())?.0;
        for k in ["iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata", "role", "aal", "amr", "session_id", "is_anonymous"] {
            ensure!(!claims[k].is_null(), "claims lack {k}: {claims}");
        }
        ensure!(claims["iss"] == format!("{}/auth/v1", s.url) && claims["amr"][0]["method"] == "password", "{claims}");
        // the same address again
        let (status, body) = s.post(&s.auth("/signup"), None, json!({"email": "ann@example.com", "password": "secret-1"})).await?;
        ensure!(status == 422 && body["error_code"] == "user_already_exists", "{status} {body}");
        // weak password
        let (status, body) = s.post(&s.auth("/signup"), None, json!({"email": "bob@example.com", "password": "123"})).await?;
        ensure!(status == 422 && body["error_code"] == "weak_password" && body["weak_password"]["reasons"][0] == "length", "{status} {body}");
        let (status, body) = s.post(&s.auth("/signup"), None, json!({"email": "not-an-email", "password": "secret-1"})).await?;
        ensure!(status == 400 && body["error_code"] == "validation_failed", "{status} {body}");
        // the hash is GoTrue's form
        let hash: String = sqlx::query_scalar("select encrypted_password from argus_auth.users where email = 'ann@example.com'")
            .fetch_one(&s.state.pool)
            .await?;
        ensure!(hash.starts_with("$2a$"), "{hash}");
        s.stop().await;
        Ok(())
    }

    pub async fn signup_without_autoconfirm_confirms_by_code_and_by_link() -> TestResult {
        let s = TestServer::start(|c| c.auth.mailer_autoconfirm = false).await?;
        let (status, body) = s.post(&s.auth("/signup"), None, json!({"email": "cat@example.com", "password": "secret-1"})).await?;
        ensure!(status == 200 && body["access_token"].is_null() && body["email"] == "cat@example.com", "{status} {body}");
        let (status, body) = s.sign_in("cat@example.com", "secret-1").await?;
        ensure!(status == 400 && body["error_code"] == "email_not_confirmed", "{status} {body}");
        let mail = s.last_mail_to("cat@example.com").ok_or("no confirmation mail")?;
        ensure!(mail["kind"] == "confirmation", "{mail}");
        // a wrong code, then the right one
        let (status, body) = s.post(&s.auth("/verify"), None, json!({"type": "signup", "email": "cat@example.com", "token": "000000x"})).await?;
        ensure!(status == 403 && body["error_code"] == "otp_expired", "{status} {body}");
        let (status, body) =
            s.post(&s.auth("/verify"), None, json!({"type": "signup", "email": "cat@example.com", "token": mail["otp"]})).await?;
        ensure!(status == 200 && body["access_token"].is_string() && !body["user"]["email_confirmed_at"].is_null(), "{status} {body}");
        // a code works once
        let (status, _) = s.post(&s.auth("/verify"), None, json!({"type": "signup", "email": "cat@example.com", "token": mail["otp"]})).await?;
        ensure!(status == 403, "a used code was accepted again");
        let (status, _) = s.sign_in("cat@example.com", "secret-1").await?;
        ensure!(status == 200, "sign-in after confirming: {status}");
        // resend: a new confirmation replaces the old one; confirmed addresses get none
        s.post(&s.auth("/signup"), None, json!({"email": "cy@example.com", "password": "secret-1"})).await?;
        let first = s.last_mail_to("cy@example.com").ok_or("no mail")?;
        let (st, v) = s.post(&s.auth("/resend"), None, json!({"type": "signup", "email": "cy@example.com"})).await?;
        ensure!(st == 200, "resend: {st} {v}");
        let second = s.last_mail_to("cy@example.com").ok_or("no mail")?;
        ensure!(second["token_hash"] != first["token_hash"], "resend sent the same token");
        let (st, _) = s.post(&s.auth("/verify"), None, json!({"type": "signup", "token_hash": first["token_hash"]})).await?;
        ensure!(st == 403, "the replaced token still works");
        let n = s.mails().len();
        s.post(&s.auth("/resend"), None, json!({"type": "signup", "email": "cat@example.com"})).await?;
        ensure!(s.mails().len() == n, "a confirmed address got a confirmation mail");
        let (st, v) = s.post(&s.auth("/resend"), None, json!({"type": "sms", "email": "cy@example.com"})).await?;
        ensure!(st == 400 && v["error_code"] == "validation_failed", "{st} {v}");

        // by link: the e-mailed URL redirects with the session in the fragment
        s.post(&s.auth("/signup"), None, json!({"email": "dan@example.com", "password": "secret-1"})).await?;
        let mail = s.last_mail_to("dan@example.com").ok_or("no mail")?;
        let link = mail["link"].as_str().ok_or("no link")?;
        ensure!(link.starts_with(&s.auth("/verify?token=")), "{link}");
        let resp = s.http.get(link).send().await?;
        ensure!(resp.status().as_u16() == 303, "link answered {}", resp.status());
        let loc = resp.headers()["location"].to_str()?.to_owned();
        ensure!(loc.starts_with("http://app.test#access_token="), "{loc}");
        let resp = s.http.get(link).send().await?;
        let loc = resp.headers()["location"].to_str()?.to_owned();
        ensure!(loc.contains("error_code=otp_expired"), "a used link: {loc}");
        s.stop().await;
        Ok(())
    }

    pub async fn password_sign_in_errors_in_both_shapes() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        s.sign_up("eve@example.com", "secret-1").await?;
        // legacy shape
        let (status, body) = s.sign_in("eve@example.com", "wrong").await?;
        ensure!(status == 400 && body == json!({"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}), "{body}");
        // the 2024-01-01 shape, with the header both clients send
        let resp = s
            .http
            .post(s.auth("/token?grant_type=password"))
            .header("x-supabase-api-version", "2024-01-01")
            .json(&json!({"email": "eve@example.com", "password": "wrong"}))
            .send()
            .await?;
        ensure!(resp.headers().get("x-supabase-api-version").is_some_and(|v| v == "2024-01-01"), "no version header");
        ensure!(resp.headers().get("x-sb-error-code").is_some_and(|v| v == "invalid_credentials"), "no error code header");
        let body: Value = resp.json().await?;
        ensure!(body == json!({"code": "invalid_credentials", "message": "Invalid login credentials"}), "{body}");
        // an unknown address is the same error
        let (status, body) = s.sign_in("nobody@example.com", "secret-1").await?;
        ensure!(status == 400 && body["error_code"] == "invalid_credentials", "{body}");
        let (status, body) = s.post(&s.auth("/token?grant_type=magic"), None, json!({})).await?;
        ensure!(status == 400 && body["error_code"] == "validation_failed", "{status} {body}");
        let resp = s.http.post(s.auth("/token?grant_type=password")).body("{not json").send().await?;
        ensure!(resp.status().as_u16() == 400, "bad JSON: {}", resp.status());
        let (status, _) = s.sign_in("eve@example.com", "secret-1").await?;
        ensure!(status == 200, "right password: {status}");
        s.stop().await;
        Ok(())
    }

    pub async fn refresh_rotates_and_reuse_revokes_the_family() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let session = s.sign_up("fay@example.com", "secret-1").await?;
        let t0 = str_of(&session, "refresh_token");
        ensure!(t0.len() == 12, "GoTrue's refresh tokens are 12 characters: {t0}");
        let refresh = |t: String| {
            let s = &s;
            async move { s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t})).await }
        };
        let (st, r1) = refresh(t0.clone()).await?;
        ensure!(st == 200, "{st} {r1}");
        let t1 = str_of(&r1, "refresh_token");
        ensure!(t1 != t0 && r1["user"]["email"] == "fay@example.com", "{r1}");
        // same session id in both access tokens
        let sid = |v: &Value| s.state.keys.verify(token_of(v)).map(|c| c.0["session_id"].clone()).unwrap_or_default();
        ensure!(sid(&session) == sid(&r1), "refresh changed the session");
        // t0 again: it is the parent of the active token, so the active one comes back
        let (st, again) = refresh(t0.clone()).await?;
        ensure!(st == 200 && str_of(&again, "refresh_token") == t1, "{st} {again}");
        let (st, r2) = refresh(t1.clone()).await?;
        ensure!(st == 200, "{st} {r2}");
        let t2 = str_of(&r2, "refresh_token");
        // t0 now: not the parent of t2, outside the reuse interval (0 here): the family ends
        let (st, body) = refresh(t0.clone()).await?;
        ensure!(st == 400 && body["error_code"] == "refresh_token_already_used", "{st} {body}");
        let (st, body) = refresh(t2.clone()).await?;
        ensure!(st == 400 && body["error_code"] == "refresh_token_not_found", "the family's active token still works: {st} {body}");
        let (st, body) = s.get(&s.auth("/user"), Some(token_of(&r2))).await?;
        ensure!(st == 403 && body["error_code"] == "session_not_found", "{st} {body}");
        let (st, body) = refresh("nonexistent1".into()).await?;
        ensure!(st == 400 && body["error_code"] == "refresh_token_not_found", "{st} {body}");
        s.stop().await;

        // within a reuse interval a revoked token still gets a new one
        let s = TestServer::start(|c| c.auth.refresh_token_reuse_interval = std::time::Duration::from_secs(30)).await?;
        let session = s.sign_up("gus@example.com", "secret-1").await?;
        let t0 = str_of(&session, "refresh_token");
        let r = |t: String| {
            let s = &s;
            async move { s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t})).await }
        };
        let (_, r1) = r(t0.clone()).await?;
        let (_, _r2) = r(str_of(&r1, "refresh_token")).await?;
        let (st, body) = r(t0).await?;
        ensure!(st == 200, "reuse within the interval was refused: {st} {body}");
        s.stop().await;
        Ok(())
    }

    pub async fn user_get_and_update() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let session = s.sign_up("hal@example.com", "secret-1").await?;
        let t = token_of(&session).to_owned();
        let (st, u) = s.get(&s.auth("/user"), Some(&t)).await?;
        ensure!(st == 200 && u["email"] == "hal@example.com", "{st} {u}");
        let user_url = s.auth("/user");
        let put = |b: Value| s.send(reqwest::Method::PUT, &user_url, Some(&t), Some(b));
        let (st, u) = put(json!({"data": {"a": 1, "b": 2}})).await?;
        ensure!(st == 200 && u["user_metadata"] == json!({"a": 1, "b": 2}), "{st} {u}");
        let (st, u) = put(json!({"data": {"a": null, "c": 3}})).await?;
        ensure!(st == 200 && u["user_metadata"] == json!({"b": 2, "c": 3}), "merge and delete: {u}");
        let (st, u) = put(json!({"password": "secret-2"})).await?;
        ensure!(st == 200, "{st} {u}");
        ensure!(s.sign_in("hal@example.com", "secret-1").await?.0 == 400, "the old password still works");
        ensure!(s.sign_in("hal@example.com", "secret-2").await?.0 == 200, "the new password fails");
        let (st, body) = put(json!({"password": "x"})).await?;
        ensure!(st == 422 && body["error_code"] == "weak_password", "{st} {body}");
        // e-mail change (auto-confirmed here)
        s.sign_up("ida@example.com", "secret-1").await?;
        let (st, body) = put(json!({"email": "ida@example.com"})).await?;
        ensure!(st == 422 && body["error_code"] == "email_exists", "{st} {body}");
        let (st, u) = put(json!({"email": "hal2@example.com"})).await?;
        ensure!(st == 200 && u["email"] == "hal2@example.com", "{st} {u}");
        let (st, body) = s.get(&s.auth("/user"), None).await?;
        ensure!(st == 401 && body["error_code"] == "no_authorization", "{st} {body}");
        s.stop().await;
        Ok(())
    }

    pub async fn logout_scopes() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        s.sign_up("ivy@example.com", "secret-1").await?;
        let mut sessions = Vec::new();
        for _ in 0..4 {
            let (st, v) = s.sign_in("ivy@example.com", "secret-1").await?;
            ensure!(st == 200, "{st}");
            sessions.push(v);
        }
        let refresh_ok = |v: &Value| {
            let t = str_of(v, "refresh_token");
            let s = &s;
            async move {
                let (st, _) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t})).await?;
                Ok::<bool, reqwest::Error>(st == 200)
            }
        };
        let (st, _) = s.post(&s.auth("/logout?scope=local"), Some(token_of(&sessions[0])), json!({})).await?;
        ensure!(st == 204, "local logout: {st}");
        ensure!(!refresh_ok(&sessions[0]).await?, "session 0 still refreshes");
        ensure!(refresh_ok(&sessions[1]).await?, "session 1 was ended by a local logout");
        let (st, body) = s.get(&s.auth("/user"), Some(token_of(&sessions[0]))).await?;
        ensure!(st == 403 && body["error_code"] == "session_not_found", "{st} {body}");
        // others: keeps this one (2), ends 3 (1 was refreshed, its tokens are in its family)
        let (st, _) = s.post(&s.auth("/logout?scope=others"), Some(token_of(&sessions[2])), json!({})).await?;
        ensure!(st == 204, "others: {st}");
        ensure!(!refresh_ok(&sessions[3]).await?, "session 3 survived scope=others");
        let (st, _) = s.get(&s.auth("/user"), Some(token_of(&sessions[2]))).await?;
        ensure!(st == 200, "scope=others ended the caller's own session");
        let (st, _) = s.post(&s.auth("/logout"), Some(token_of(&sessions[2])), json!({})).await?;
        ensure!(st == 204, "global: {st}");
        ensure!(!refresh_ok(&sessions[2]).await?, "global logout left a session");
        let (st, body) = s.post(&s.auth("/logout?scope=everything"), Some(token_of(&sessions[1])), json!({})).await?;
        ensure!(st == 403 || (st == 400 && body["error_code"] == "validation_failed"), "{st} {body}");
        s.stop().await;
        Ok(())
    }

    pub async fn recovery_and_magic_links() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        s.sign_up("jon@example.com", "secret-1").await?;
        let (st, body) = s.post(&s.auth("/recover"), None, json!({"email": "jon@example.com"})).await?;
        ensure!(st == 200 && body == json!({}), "{st} {body}");
        // an unknown address answers the same and sends nothing
        let (st, _) = s.post(&s.auth("/recover"), None, json!({"email": "nobody@example.com"})).await?;
        ensure!(st == 200 && s.last_mail_to("nobody@example.com").is_none(), "recover leaks or mails an unknown address");
        let mail = s.last_mail_to("jon@example.com").ok_or("no recovery mail")?;
        ensure!(mail["kind"] == "recovery", "{mail}");
        let (st, sess) = s.post(&s.auth("/verify"), None, json!({"type": "recovery", "token_hash": mail["token_hash"]})).await?;
        ensure!(st == 200, "{st} {sess}");
        let claims = s.state.keys.verify(token_of(&sess)).map_err(|e| e.to_string())?.0;
        ensure!(claims["amr"][0]["method"] == "recovery", "{claims}");
        let (st, _) = s.send(reqwest::Method::PUT, &s.auth("/user"), Some(token_of(&sess)), Some(json!({"password": "new-secret"}))).await?;
        ensure!(st == 200 && s.sign_in("jon@example.com", "new-secret").await?.0 == 200, "password reset failed");
        // magic link
        let (st, _) = s.post(&s.auth("/magiclink"), None, json!({"email": "jon@example.com"})).await?;
        ensure!(st == 200, "{st}");
        let mail = s.last_mail_to("jon@example.com").ok_or("no magic link")?;
        ensure!(mail["kind"] == "magiclink", "{mail}");
        let mut link = url::Url::parse(mail["link"].as_str().unwrap_or(""))?;
        let pairs: Vec<(String, String)> = link.query_pairs().filter(|(k, _)| k != "redirect_to").map(|(k, v)| (k.into(), v.into())).collect();
        link.query_pairs_mut().clear().extend_pairs(pairs).append_pair("redirect_to", "http://evil.example/");
        let resp = s.http.get(link).send().await?;
        ensure!(resp.status().as_u16() == 303, "magic link: {}", resp.status());
        let loc = resp.headers()["location"].to_str()?.to_owned();
        ensure!(!loc.contains("evil.example"), "redirected to a URL outside the allow list: {loc}");
        ensure!(loc.contains("access_token="), "{loc}");
        s.stop().await;
        Ok(())
    }

    pub async fn otp_sign_in_creates_users_unless_told_not_to() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let (st, body) = s.post(&s.auth("/otp"), None, json!({"email": "kim@example.com", "create_user": false})).await?;
        ensure!(st == 422 && body["error_code"] == "otp_disabled", "{st} {body}");
        let (st, _) = s.post(&s.auth("/otp"), None, json!({"email": "kim@example.com", "data": {"x": 1}})).await?;
        ensure!(st == 200, "{st}");
        let mail = s.last_mail_to("kim@example.com").ok_or("no OTP mail")?;
        let otp = mail["otp"].as_str().unwrap_or("");
        ensure!(otp.len() == 6 && otp.chars().all(|c| c.is_ascii_digit()), "{otp}");
        let (st, sess) = s.post(&s.auth("/verify"), None, json!({"type": "email", "email": "kim@example.com", "token": otp})).await?;
        ensure!(st == 200 && sess["user"]["user_metadata"]["x"] == 1 && !sess["user"]["email_confirmed_at"].is_null(), "{st} {sess}");
        let claims = s.state.keys.verify(token_of(&sess)).map_err(|e| e.to_string())?.0;
        ensure!(claims["amr"][0]["method"] == "otp", "{claims}");
        // another address cannot use this code
        let (st, _) = s.post(&s.auth("/otp"), None, json!({"email": "kim@example.com"})).await?;
        ensure!(st == 200, "{st}");
        let otp = s.last_mail_to("kim@example.com").ok_or("no mail")?["otp"].as_str().unwrap_or("").to_owned();
        let (st, _) = s.post(&s.auth("/verify"), None, json!({"type": "email", "email": "lou@example.com", "token": otp})).await?;
        ensure!(st == 403, "a code was accepted for another address");
        s.stop().await;
        Ok(())
    }

    pub async fn admin_endpoints_need_the_service_role() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let user = s.sign_up("max@example.com", "secret-1").await?;
        let admin = s.key("service_role");
        for t in [Some(token_of(&user).to_owned()), Some(s.key("anon")), None] {
            let (st, body) = s.get(&s.auth("/admin/users"), t.as_deref()).await?;
            ensure!((st == 403 && body["error_code"] == "not_admin") || (st == 401 && t.is_none()), "{st} {body}");
        }
        let (st, created) = s
            .post(&s.auth("/admin/users"), Some(&admin), json!({"email": "ned@example.com", "password": "secret-1", "email_confirm": true, "user_metadata": {"n": 1}}))
            .await?;
        ensure!(st == 200 && created["email"] == "ned@example.com" && !created["email_confirmed_at"].is_null(), "{st} {created}");
        ensure!(s.sign_in("ned@example.com", "secret-1").await?.0 == 200, "admin-created user cannot sign in");
        let (st, body) = s.post(&s.auth("/admin/users"), Some(&admin), json!({"email": "ned@example.com"})).await?;
        ensure!(st == 422 && body["error_code"] == "email_exists", "{st} {body}");
        for i in 0..3 {
            s.post(&s.auth("/admin/users"), Some(&admin), json!({"email": format!("u{i}@example.com")})).await?;
        }
        let resp = s.http.get(s.auth("/admin/users?page=2&per_page=2")).bearer_auth(&admin).send().await?;
        ensure!(resp.headers()["x-total-count"] == "5", "{:?}", resp.headers());
        ensure!(resp.headers()["link"].to_str()?.contains("rel=\"next\""), "{:?}", resp.headers());
        let page: Value = resp.json().await?;
        ensure!(page["users"].as_array().map(Vec::len) == Some(2) && page["aud"] == "authenticated", "{page}");
        let id = str_of(&created, "id");
        let (st, got) = s.get(&s.auth(&format!("/admin/users/{id}")), Some(&admin)).await?;
        ensure!(st == 200 && got["id"] == id.as_str(), "{st} {got}");
        let (st, upd) = s
            .send(reqwest::Method::PUT, &s.auth(&format!("/admin/users/{id}")), Some(&admin), Some(json!({"app_metadata": {"plan": "pro"}, "ban_duration": "24h"})))
            .await?;
        ensure!(st == 200 && upd["app_metadata"]["plan"] == "pro" && upd["app_metadata"]["provider"] == "email", "{st} {upd}");
        let (st, body) = s.sign_in("ned@example.com", "secret-1").await?;
        ensure!(st == 400 && body["error_code"] == "user_banned", "a banned user signed in: {st} {body}");
        let (st, link) = s.post(&s.auth("/admin/generate_link"), Some(&admin), json!({"type": "recovery", "email": "max@example.com"})).await?;
        ensure!(st == 200 && link["action_link"].is_string() && link["verification_type"] == "recovery" && link["email"] == "max@example.com", "{st} {link}");
        let (st, _) = s.post(&s.auth("/verify"), None, json!({"type": "recovery", "token_hash": link["hashed_token"]})).await?;
        ensure!(st == 200, "a generated link's hash did not verify: {st}");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.auth(&format!("/admin/users/{id}")), Some(&admin), None).await?;
        ensure!(st == 200, "{st}");
        let (st, body) = s.get(&s.auth(&format!("/admin/users/{id}")), Some(&admin)).await?;
        ensure!(st == 404 && body["error_code"] == "user_not_found", "{st} {body}");
        s.stop().await;
        Ok(())
    }

    pub async fn anonymous_sign_in_and_linking_an_email() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let (st, body) = s.post(&s.auth("/signup"), None, json!({})).await?;
        ensure!(st == 422 && body["error_code"] == "anonymous_provider_disabled", "{st} {body}");
        s.stop().await;
        let s = TestServer::start(|c| c.auth.anonymous_users = true).await?;
        let (st, sess) = s.post(&s.auth("/signup"), None, json!({"data": {"nick": "anon"}})).await?;
        ensure!(st == 200 && sess["user"]["is_anonymous"] == true, "{st} {sess}");
        let claims = s.state.keys.verify(token_of(&sess)).map_err(|e| e.to_string())?.0;
        ensure!(claims["is_anonymous"] == true && claims["role"] == "authenticated", "{claims}");
        let (st, u) = s
            .send(reqwest::Method::PUT, &s.auth("/user"), Some(token_of(&sess)), Some(json!({"email": "ola@example.com", "password": "secret-1"})))
            .await?;
        ensure!(st == 200 && u["is_anonymous"] == false && u["email"] == "ola@example.com" && u["id"] == sess["user"]["id"], "{st} {u}");
        ensure!(s.sign_in("ola@example.com", "secret-1").await?.0 == 200, "the linked account cannot sign in");
        s.stop().await;
        Ok(())
    }

    pub async fn settings_and_health() -> TestResult {
        let s = TestServer::start(|c| {
            c.auth.providers.insert("github".into(), argus_server::config::ProviderConfig { enabled: true, ..argus_server::config::preset("github") });
        })
        .await?;
        let (st, v) = s.get(&s.auth("/settings"), None).await?;
        ensure!(st == 200 && v["external"]["email"] == true && v["external"]["github"] == true && v["external"]["google"] == false, "{v}");
        ensure!(v["mailer_autoconfirm"] == true && v["disable_signup"] == false, "{v}");
        let (st, v) = s.get(&s.auth("/health"), None).await?;
        ensure!(st == 200 && v["name"] == "GoTrue", "{v}");
        let (st, v) = s.get(&s.auth("/authorize?provider=gitlab"), None).await?;
        ensure!(st == 400 && v["error_code"] == "validation_failed", "an unconfigured provider: {st} {v}");
        s.stop().await;
        Ok(())
    }

    pub async fn disabled_signup() -> TestResult {
        let s = TestServer::start(|c| c.auth.disable_signup = true).await?;
        let (st, v) = s.post(&s.auth("/signup"), None, json!({"email": "pat@example.com", "password": "secret-1"})).await?;
        ensure!(st == 422 && v["error_code"] == "signup_disabled", "{st} {v}");
        let (st, v) = s.post(&s.auth("/otp"), None, json!({"email": "pat@example.com"})).await?;
        ensure!(st == 422 && v["error_code"] == "signup_disabled", "{st} {v}");
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== tokens
mod tokens {
    use super::*;

    pub async fn bad_tokens_are_refused() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let sess = s.sign_up("quin@example.com", "secret-1").await?;
        let good = s.state.keys.verify(token_of(&sess)).map_err(|e| e.to_string())?.0;
        let mut expired = good.clone();
        expired["exp"] = json!(now() - 10);
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = json!("someone-else");
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &good,
            &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-0123456789-0123456789"),
        )?;
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), b64.encode(good.to_string()));
        for (what, t) in [("expired", sign(&expired)), ("wrong audience", sign(&wrong_aud)), ("forged", forged), ("alg none", none), ("garbage", "a.b.c".into())] {
            let (st, body) = s.get(&s.auth("/user"), Some(&t)).await?;
            ensure!(st == 403 && body["error_code"] == "bad_jwt", "{what} token on /auth/v1/user: {st} {body}");
            let (st, _) = s.get(&s.api("/teams"), Some(&t)).await?;
            ensure!(st == 401, "{what} token on /api/v1/teams: {st}");
        }
        let (st, _) = s.get(&s.api("/teams"), Some(&s.key("anon"))).await?;
        ensure!(st == 403, "an API key used as a user: {st}");
        let (st, _) = s.get(&s.api("/teams"), Some(token_of(&sess))).await?;
        ensure!(st == 200, "the good token: {st}");
        s.stop().await;
        Ok(())
    }

    pub async fn es256_keys_are_published_and_verify() -> TestResult {
        let jwk = argus_server::auth::jwt::generate_es256_jwk();
        let set = json!({"keys": [jwk.clone()]}).to_string();
        let s = TestServer::start(move |c| {
            c.auth.jwt_secret = None;
            c.auth.jwt_keys = Some(set);
        })
        .await?;
        let sess = s.sign_up("rae@example.com", "secret-1").await?;
        let t = token_of(&sess);
        let header = jsonwebtoken::decode_header(t)?;
        ensure!(header.alg == jsonwebtoken::Algorithm::ES256 && header.kid.as_deref() == jwk["kid"].as_str(), "{header:?}");
        let (st, jwks) = s.get(&s.auth("/.well-known/jwks.json"), None).await?;
        let k = &jwks["keys"][0];
        ensure!(st == 200 && k["kid"] == jwk["kid"] && k.get("d").is_none(), "{jwks}");
        // an independent verifier with only the published key
        let key = jsonwebtoken::DecodingKey::from_ec_components(k["x"].as_str().unwrap_or(""), k["y"].as_str().unwrap_or(""))?;
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["authenticated"]);
        let data = jsonwebtoken::decode::<Value>(t, &key, &v)?;
        ensure!(data.claims["email"] == "rae@example.com", "{:?}", data.claims);
        let (st, _) = s.get(&s.api("/teams"), Some(t)).await?;
        ensure!(st == 200, "{st}");
        s.stop().await;
        Ok(())
    }

    pub async fn external_supabase_tokens_when_trusted() -> TestResult {
        const PROJECT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
        let iss = "https://abcdefghijklmnop.supabase.co/auth/v1";
        let sub = uuid::Uuid::new_v4().to_string();
        // as a Supabase project mints a user's token
        let claims = json!({"iss": iss, "sub": sub, "aud": "authenticated", "exp": now() + 600, "iat": now(),
            "email": "sam@example.com", "phone": "", "role": "authenticated", "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now()}], "session_id": uuid::Uuid::new_v4(), "is_anonymous": false,
            "app_metadata": {"provider": "email"}, "user_metadata": {}});
        let t = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(PROJECT_SECRET.as_bytes()))?;
        let untrusted = TestServer::start(|_| {}).await?;
        let (st, _) = untrusted.get(&untrusted.api("/me"), Some(&t)).await?;
        ensure!(st == 401, "an untrusted issuer's token was accepted: {st}");
        untrusted.stop().await;
        let s = TestServer::start(|c| {
            c.auth.external_issuer = Some(argus_server::config::ExternalIssuer { issuer: iss.into(), jwt_secret: Some(PROJECT_SECRET.into()), jwks: None });
        })
        .await?;
        let (st, me) = s.get(&s.api("/me"), Some(&t)).await?;
        ensure!(st == 200, "{st} {me}");
        let local = str_of(&me, "user_id");
        ensure!(local != sub, "the external sub should map to a local user id");
        let (st, me2) = s.get(&s.api("/me"), Some(&t)).await?;
        ensure!(st == 200 && me2["user_id"] == local.as_str(), "the mapping is not stable: {me2}");
        let (st, u) = s.get(&s.auth("/user"), Some(&t)).await?;
        ensure!(st == 200 && u["email"] == "sam@example.com", "{st} {u}");
        // the mapped user can create a team through RLS
        let (st, team) = s.post(&s.api("/teams"), Some(&t), json!({"name": "Imported"})).await?;
        ensure!(st == 201 && team["created_by"] == local.as_str(), "{st} {team}");
        // the same issuer's asymmetric keys, by JWKS URL (served here by a loopback server)
        let jwk = argus_server::auth::jwt::generate_es256_jwk();
        let mut public = jwk.clone();
        public.as_object_mut().ok_or("jwk")?.remove("d");
        let jwks_body = json!({"keys": [public]}).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let jwks_url = format!("http://{}/auth/v1/.well-known/jwks.json", listener.local_addr()?);
        let jwks_app = axum::Router::new().route("/auth/v1/.well-known/jwks.json", axum::routing::get(move || async move { jwks_body.clone() }));
        tokio::spawn(async move { axum::serve(listener, jwks_app).await });
        let mut env: std::collections::BTreeMap<String, String> = [
            ("DATABASE_URL", s.db.url.as_str()),
            ("GOTRUE_JWT_SECRET", SECRET),
            ("ARGUS_EXTERNAL_JWKS", jwks_url.as_str()),
            ("ARGUS_EXTERNAL_JWT_ISSUER", iss),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let cfg = tokio::task::spawn_blocking(move || argus_server::config::Config::from_sources(Default::default(), &env)).await??;
        let keys = argus_server::auth::jwt::Keys::from_config(&cfg.auth)?;
        let es_key = argus_server::auth::jwt::Keys::from_config(&argus_server::config::AuthConfig {
            jwt_keys: Some(json!({"keys": [jwk]}).to_string()),
            ..Default::default()
        })?;
        let es_token = es_key.sign(&claims);
        ensure!(keys.verify(&es_token).is_ok_and(|c| c.1 == argus_server::auth::jwt::Source::External), "an ES256 token of the JWKS URL's key");
        env = std::collections::BTreeMap::new();
        env.insert("DATABASE_URL".into(), s.db.url.clone());
        env.insert("GOTRUE_JWT_SECRET".into(), SECRET.into());
        env.insert("ARGUS_EXTERNAL_JWKS".into(), "http://127.0.0.1:1/jwks.json".into());
        let err = tokio::task::spawn_blocking(move || argus_server::config::Config::from_sources(Default::default(), &env)).await?;
        ensure!(err.as_ref().is_err_and(|e| e.to_string().contains("cannot fetch the JWK set")), "{err:?}");
        // a token of another issuer signed with the same secret is refused
        let mut other = claims.clone();
        other["iss"] = json!("https://someone-else.supabase.co/auth/v1");
        let t2 = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &other, &jsonwebtoken::EncodingKey::from_secret(PROJECT_SECRET.as_bytes()))?;
        let (st, _) = s.get(&s.api("/me"), Some(&t2)).await?;
        ensure!(st == 401, "a token of another issuer was accepted: {st}");
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== rate limits
mod limits {
    use super::*;

    pub async fn sign_in_limit_per_ip_and_per_email() -> TestResult {
        let s = TestServer::start(|c| {
            c.rate_limits.sign_in_sign_ups = 3;
            c.trust_proxy = true;
        })
        .await?;
        s.admin_user("tia@example.com").await?;
        s.admin_user("uma@example.com").await?;
        let attempt = |ip: &'static str, email: &'static str| {
            let s = &s;
            async move {
                let r = s
                    .http
                    .post(s.auth("/token?grant_type=password"))
                    .header("x-forwarded-for", ip)
                    .header("x-supabase-api-version", "2024-01-01")
                    .json(&json!({"email": email, "password": "secret-1"}))
                    .send()
                    .await?;
                let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let st = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                Ok::<_, reqwest::Error>((st, body, retry))
            }
        };
        for i in 0..3 {
            let (st, _, _) = attempt("10.0.0.1", "tia@example.com").await?;
            ensure!(st == 200, "attempt {i}: {st}");
        }
        let (st, body, retry) = attempt("10.0.0.1", "tia@example.com").await?;
        ensure!(st == 429 && body["code"] == "over_request_rate_limit" && retry.is_some(), "{st} {body} {retry:?}");
        // the same address from another IP: limited per e-mail too
        let (st, _, _) = attempt("10.0.0.2", "tia@example.com").await?;
        ensure!(st == 429, "the per-e-mail limit did not hold: {st}");
        // another address from another IP is fine
        let (st, _, _) = attempt("10.0.0.3", "uma@example.com").await?;
        ensure!(st == 200, "{st}");
        let rows: i64 = sqlx::query_scalar("select count(*) from argus_auth.rate_limits").fetch_one(&s.state.pool).await?;
        ensure!(rows >= 4, "counters are not in PostgreSQL ({rows} rows)");
        s.stop().await;
        Ok(())
    }

    pub async fn refresh_and_email_limits() -> TestResult {
        let s = TestServer::start(|c| {
            c.rate_limits.token_refresh = 2;
            c.rate_limits.email_sent = 2;
            c.rate_limits.otp = 100;
        })
        .await?;
        let sess = s.sign_up("vic@example.com", "secret-1").await?;
        let mut t = str_of(&sess, "refresh_token");
        for i in 0..3 {
            let (st, v) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t})).await?;
            if i < 2 {
                ensure!(st == 200, "refresh {i}: {st} {v}");
                t = str_of(&v, "refresh_token");
            } else {
                ensure!(st == 429 && v["error_code"] == "over_request_rate_limit", "refresh {i}: {st} {v}");
            }
        }
        for i in 0..3 {
            let (st, v) = s.post(&s.auth("/otp"), None, json!({"email": format!("w{i}@example.com")})).await?;
            if i < 2 {
                ensure!(st == 200, "mail {i}: {st} {v}");
            } else {
                ensure!(st == 429 && v["error_code"] == "over_email_send_rate_limit", "mail {i}: {st} {v}");
            }
        }
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== scale-out
mod scale {
    use super::*;

    pub async fn two_instances_share_sessions_and_reuse_detection() -> TestResult {
        let a = TestServer::start(|_| {}).await?;
        let b = TestServer::on(a.db.clone(), |_| {}).await?;
        let sess = a.sign_up("xia@example.com", "secret-1").await?;
        let t0 = str_of(&sess, "refresh_token");
        let (st, r1) = b.post(&b.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t0})).await?;
        ensure!(st == 200, "B refreshed A's token: {st} {r1}");
        let (st, _) = a.get(&a.auth("/user"), Some(token_of(&r1))).await?;
        ensure!(st == 200, "A accepts B's access token: {st}");
        let (st, r2) = a.post(&a.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": str_of(&r1, "refresh_token")})).await?;
        ensure!(st == 200, "{st} {r2}");
        // the rotated t0 replayed on B ends the family, as seen on A
        let (st, v) = b.post(&b.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": t0})).await?;
        ensure!(st == 400 && v["error_code"] == "refresh_token_already_used", "{st} {v}");
        let (st, _) = a.post(&a.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": str_of(&r2, "refresh_token")})).await?;
        ensure!(st == 400, "A still refreshes a revoked family: {st}");
        // concurrent refreshes of one token on both: both answer, with one child between them
        let sess = a.sign_up("yan@example.com", "secret-1").await?;
        let t = str_of(&sess, "refresh_token");
        let body = json!({"refresh_token": t});
        let (ua, ub) = (a.auth("/token?grant_type=refresh_token"), b.auth("/token?grant_type=refresh_token"));
        let (ra, rb) = tokio::join!(a.post(&ua, None, body.clone()), b.post(&ub, None, body.clone()));
        let (ra, rb) = (ra?, rb?);
        ensure!(ra.0 == 200 && rb.0 == 200, "{ra:?} {rb:?}");
        ensure!(ra.1["refresh_token"] == rb.1["refresh_token"], "two children for one parent: {} vs {}", ra.1["refresh_token"], rb.1["refresh_token"]);
        b.stop().await;
        a.stop().await;
        Ok(())
    }

    pub async fn two_instances_share_rate_limits() -> TestResult {
        let a = TestServer::start(|c| c.rate_limits.sign_in_sign_ups = 4).await?;
        let b = TestServer::on(a.db.clone(), |c| c.rate_limits.sign_in_sign_ups = 4).await?;
        a.admin_user("zed@example.com").await?;
        let mut codes = Vec::new();
        for i in 0..6 {
            let s = if i % 2 == 0 { &a } else { &b };
            codes.push(s.sign_in("zed@example.com", "secret-1").await?.0);
        }
        ensure!(codes == [200, 200, 200, 200, 429, 429], "one limit across instances: {codes:?}");
        b.stop().await;
        a.stop().await;
        Ok(())
    }
}

// ====================================================================== maintenance
mod maintenance {
    use super::*;

    pub async fn reads_work_writes_wait_nobody_is_signed_out() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let sess = s.sign_up("abe@example.com", "secret-1").await?;
        let t = token_of(&sess).to_owned();
        let (st, team) = s.post(&s.api("/teams"), Some(&t), json!({"name": "Before"})).await?;
        ensure!(st == 201, "{st} {team}");
        let admin = s.key("service_role");
        let (st, _) = s.send(reqwest::Method::PUT, &s.auth("/admin/maintenance"), Some(&admin), Some(json!({"enabled": true}))).await?;
        ensure!(st == 200, "{st}");
        let (st, v) = s.get(&s.auth("/admin/maintenance"), Some(&admin)).await?;
        ensure!(st == 200 && v["enabled"] == true, "{st} {v}");
        let (st, _) = s.send(reqwest::Method::PUT, &s.auth("/admin/maintenance"), Some(&t), Some(json!({"enabled": false}))).await?;
        ensure!(st == 403, "a user switched maintenance: {st}");
        let text = s.http.get(format!("{}/metrics", s.url)).send().await?.text().await?;
        ensure!(text.contains("argus_maintenance 1"), "metrics do not show maintenance");
        let (st, v) = s.get(&format!("{}/readyz", s.url), None).await?;
        ensure!(st == 200 && v["maintenance"] == true, "{st} {v}");
        let sessions_before: i64 = sqlx::query_scalar("select count(*) from argus_auth.sessions").fetch_one(&s.state.pool).await?;
        // reads work, writes answer 503 with Retry-After
        let (st, teams) = s.get(&s.api("/teams"), Some(&t)).await?;
        ensure!(st == 200 && teams.as_array().map(Vec::len) == Some(1), "{st} {teams}");
        let r = s.http.post(s.api("/teams")).bearer_auth(&t).json(&json!({"name": "During"})).send().await?;
        ensure!(r.status().as_u16() == 503 && r.headers().contains_key("retry-after"), "write in maintenance: {}", r.status());
        // a refresh answers the same refresh token and a new access token
        let rt = str_of(&sess, "refresh_token");
        let (st, r1) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": rt})).await?;
        ensure!(st == 200 && r1["refresh_token"] == rt.as_str() && r1["access_token"].is_string(), "{st} {r1}");
        // sign-in works, without writing
        let (st, m) = s.sign_in("abe@example.com", "secret-1").await?;
        ensure!(st == 200, "sign-in in maintenance: {st} {m}");
        let mrt = str_of(&m, "refresh_token");
        let (st, m2) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": mrt})).await?;
        ensure!(st == 200 && m2["refresh_token"] == mrt.as_str(), "{st} {m2}");
        let (st, _) = s.get(&s.auth("/user"), Some(token_of(&m))).await?;
        ensure!(st == 200, "GET /user in maintenance: {st}");
        let sessions_during: i64 = sqlx::query_scalar("select count(*) from argus_auth.sessions").fetch_one(&s.state.pool).await?;
        ensure!(sessions_during == sessions_before, "maintenance wrote sessions");
        let (st, body) = s.post(&s.auth("/signup"), None, json!({"email": "new@example.com", "password": "secret-1"})).await?;
        ensure!(st == 503, "sign-up in maintenance: {st} {body}");
        // after maintenance the maintenance-time session becomes a stored one
        s.send(reqwest::Method::PUT, &s.auth("/admin/maintenance"), Some(&admin), Some(json!({"enabled": false}))).await?;
        let (st, m3) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": mrt})).await?;
        ensure!(st == 200 && str_of(&m3, "refresh_token").len() == 12, "{st} {m3}");
        let (st, _) = s.get(&s.auth("/user"), Some(token_of(&m))).await?;
        ensure!(st == 200, "the maintenance access token's session exists now: {st}");
        let (st, v) = s.post(&s.auth("/token?grant_type=refresh_token"), None, json!({"refresh_token": mrt})).await?;
        ensure!(st == 400, "the stateless token was converted twice: {st} {v}");
        let (st, _) = s.post(&s.api("/teams"), Some(&t), json!({"name": "After"})).await?;
        ensure!(st == 201, "{st}");
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== api
mod api {
    use super::*;

    pub struct Team {
        pub id: String,
        pub project: String,
        pub owner: String,
    }

    /// An owner with a team and one project.
    pub async fn team_with_project(s: &TestServer, email: &str) -> Result<Team, Box<dyn std::error::Error + Send + Sync>> {
        let owner = s.sign_up(email, "secret-1").await?;
        let t = token_of(&owner).to_owned();
        let (st, team) = s.post(&s.api("/teams"), Some(&t), json!({"name": format!("team of {email}")})).await?;
        ensure!(st == 201 && team["role"] == "owner", "{st} {team}");
        let id = str_of(&team, "id");
        let schema = json!({"labels": [{"id": uuid::Uuid::now_v7(), "name": "car", "colour": "#ff0000", "kinds": ["mask", "bbox"]}]});
        let (st, p) = s.post(&s.api(&format!("/teams/{id}/projects")), Some(&t), json!({"name": "Street", "label_schema": schema})).await?;
        ensure!(st == 201 && p["role"] == "lead" && p["label_schema"]["version"] == 1, "{st} {p}");
        Ok(Team { id, project: str_of(&p, "id"), owner: t })
    }

    pub async fn teams_projects_and_the_role_matrix() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = team_with_project(&s, "own@example.com").await?;
        let p = &team.project;
        let rev = s.sign_up("rev@example.com", "secret-1").await?;
        let ann = s.sign_up("ann@example.com", "secret-1").await?;
        let lead = s.sign_up("lead@example.com", "secret-1").await?;
        let out = s.sign_up("out@example.com", "secret-1").await?;
        let put = |path: String, tok: String, body: Value| {
            let s = &s;
            async move { s.send(reqwest::Method::PUT, &s.api(&path), Some(&tok), Some(body)).await }
        };
        for (who, role) in [(&rev, "reviewer"), (&ann, "annotator")] {
            let (st, v) = put(format!("/projects/{p}/members/{}", user_id(who)), team.owner.clone(), json!({"role": role})).await?;
            ensure!(st == 200, "{st} {v}");
        }
        // by e-mail address
        let (st, v) = put(format!("/projects/{p}/members/lead@example.com"), team.owner.clone(), json!({"role": "lead"})).await?;
        ensure!(st == 200 && v["user_id"] == user_id(&lead).as_str(), "{st} {v}");
        // every member sees the project with their role; members joined the team
        for (who, role) in [(&rev, "reviewer"), (&ann, "annotator"), (&lead, "lead")] {
            let (st, list) = s.get(&s.api("/projects"), Some(token_of(who))).await?;
            ensure!(st == 200 && list.as_array().map(Vec::len) == Some(1) && list[0]["role"] == role, "{role}: {st} {list}");
            let (st, members) = s.get(&s.api(&format!("/projects/{p}/members")), Some(token_of(who))).await?;
            ensure!(st == 200 && members.as_array().map(Vec::len) == Some(3), "{role} lists members: {st} {members}");
        }
        let (st, list) = s.get(&s.api("/projects"), Some(token_of(&out))).await?;
        ensure!(st == 200 && list == json!([]), "an outsider sees projects: {list}");
        let schema = json!({"label_schema": {"labels": [{"id": uuid::Uuid::now_v7(), "name": "bus", "colour": "#00ff00", "kinds": ["mask"]}]}});
        // the matrix: reviewers cannot change the schema, annotators cannot manage members
        let (st, v) = s.send(reqwest::Method::PATCH, &s.api(&format!("/projects/{p}")), Some(token_of(&rev)), Some(schema.clone())).await?;
        ensure!(st == 403 && v["code"] == "forbidden", "reviewer edits the schema: {st} {v}");
        let (st, _) = put(format!("/projects/{p}/members/{}", user_id(&out)), token_of(&ann).into(), json!({"role": "annotator"})).await?;
        ensure!(st == 403, "annotator manages members: {st}");
        let (st, _) = put(format!("/projects/{p}/members/{}", user_id(&out)), token_of(&rev).into(), json!({"role": "annotator"})).await?;
        ensure!(st == 403, "reviewer manages members: {st}");
        let (st, v) = s.send(reqwest::Method::PATCH, &s.api(&format!("/projects/{p}")), Some(token_of(&lead)), Some(schema)).await?;
        ensure!(st == 200 && v["label_schema"]["version"] == 2 && v["label_schema"]["labels"][0]["name"] == "bus", "lead edits the schema: {st} {v}");
        let (st, _) = put(format!("/projects/{p}/members/{}", user_id(&out)), token_of(&lead).into(), json!({"role": "annotator"})).await?;
        ensure!(st == 200, "lead manages members: {st}");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/projects/{p}")), Some(token_of(&rev)), None).await?;
        ensure!(st == 403, "reviewer deletes the project: {st}");
        // only team owners create projects
        let (st, v) = s.post(&s.api(&format!("/teams/{}/projects", team.id)), Some(token_of(&lead)), json!({"name": "Other"})).await?;
        ensure!(st == 403, "a team member created a project: {st} {v}");
        // removing a member ends their access
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/projects/{p}/members/{}", user_id(&ann))), Some(token_of(&lead)), None).await?;
        ensure!(st == 204, "{st}");
        let (st, _) = s.get(&s.api(&format!("/projects/{p}")), Some(token_of(&ann))).await?;
        ensure!(st == 404, "a removed member still sees the project: {st}");
        // a team keeps an owner
        let me: Value = s.get(&s.api("/me"), Some(&team.owner)).await?.1;
        let (st, v) = s.send(reqwest::Method::DELETE, &s.api(&format!("/teams/{}/members/{}", team.id, str_of(&me, "user_id"))), Some(&team.owner), None).await?;
        ensure!(st == 409, "the last owner left: {st} {v}");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/projects/{p}")), Some(token_of(&lead)), None).await?;
        ensure!(st == 204, "lead deletes the project: {st}");
        s.stop().await;
        Ok(())
    }

    pub async fn invitations_by_email() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = team_with_project(&s, "boss@example.com").await?;
        let (st, inv) = s.post(&s.api(&format!("/projects/{}/invitations", team.project)), Some(&team.owner), json!({"email": "New@Example.com", "role": "reviewer"})).await?;
        ensure!(st == 201 && inv["email"] == "new@example.com", "{st} {inv}");
        let mail = s.last_mail_to("new@example.com").ok_or("no invitation mail")?;
        ensure!(mail["link"].as_str().is_some_and(|l| l.contains(inv["id"].as_str().unwrap_or("?"))), "{mail}");
        let (st, _) = s.post(&s.api(&format!("/projects/{}/invitations", team.project)), Some(&team.owner), json!({"email": "new@example.com", "role": "reviewer"})).await?;
        ensure!(st == 409, "a second open invitation: {st}");
        let other = s.sign_up("other@example.com", "secret-1").await?;
        let (st, _) = s.post(&s.api(&format!("/invitations/{}/accept", inv["id"].as_str().unwrap_or(""))), Some(token_of(&other)), json!({})).await?;
        ensure!(st == 404, "another user accepted: {st}");
        let new = s.sign_up("new@example.com", "secret-1").await?;
        let (st, mine) = s.get(&s.api("/invitations"), Some(token_of(&new))).await?;
        ensure!(st == 200 && mine.as_array().map(Vec::len) == Some(1), "{st} {mine}");
        // The invitee is not a member yet, so the listing names the team, the project and who invited them.
        let (_, project) = s.get(&s.api(&format!("/projects/{}", team.project)), Some(&team.owner)).await?;
        ensure!(
            mine[0]["project_name"] == project["name"] && mine[0]["team_name"].as_str().is_some_and(|n| !n.is_empty()) && mine[0]["invited_by_email"] == "boss@example.com",
            "{mine}"
        );
        let (st, acc) = s.post(&s.api(&format!("/invitations/{}/accept", inv["id"].as_str().unwrap_or(""))), Some(token_of(&new)), json!({})).await?;
        ensure!(st == 200 && !acc["accepted_at"].is_null(), "{st} {acc}");
        let (st, p) = s.get(&s.api(&format!("/projects/{}", team.project)), Some(token_of(&new))).await?;
        ensure!(st == 200 && p["role"] == "reviewer", "{st} {p}");
        let (st, _) = s.post(&s.api(&format!("/invitations/{}/accept", inv["id"].as_str().unwrap_or(""))), Some(token_of(&new)), json!({})).await?;
        ensure!(st == 409, "accepted twice: {st}");
        // team invitations: owners only
        let (st, _) = s.post(&s.api(&format!("/teams/{}/invitations", team.id)), Some(token_of(&new)), json!({"email": "x@example.com", "role": "owner"})).await?;
        ensure!(st == 403, "a member invited to the team: {st}");
        let (st, ti) = s.post(&s.api(&format!("/teams/{}/invitations", team.id)), Some(&team.owner), json!({"email": "x@example.com", "role": "member"})).await?;
        ensure!(st == 201, "{st} {ti}");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/invitations/{}", ti["id"].as_str().unwrap_or(""))), Some(&team.owner), None).await?;
        ensure!(st == 204, "revoke: {st}");
        s.stop().await;
        Ok(())
    }

    pub async fn audit_log_records_membership_changes() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = team_with_project(&s, "aud@example.com").await?;
        let m = s.sign_up("mem@example.com", "secret-1").await?;
        let mid = user_id(&m);
        s.send(reqwest::Method::PUT, &s.api(&format!("/projects/{}/members/{mid}", team.project)), Some(&team.owner), Some(json!({"role": "annotator"}))).await?;
        s.send(reqwest::Method::DELETE, &s.api(&format!("/projects/{}/members/{mid}", team.project)), Some(&team.owner), None).await?;
        let (st, log) = s.get(&s.api(&format!("/teams/{}/audit", team.id)), Some(&team.owner)).await?;
        ensure!(st == 200, "{st} {log}");
        let actions: Vec<&str> = log.as_array().ok_or("not a list")?.iter().filter_map(|e| e["action"].as_str()).collect();
        for a in ["team.created", "project.created", "project.member_set", "project.member_removed"] {
            ensure!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        let (st, _) = s.get(&s.api(&format!("/teams/{}/audit", team.id)), Some(token_of(&m))).await?;
        ensure!(st == 403 || st == 404, "a member read the team's audit log: {st}");
        // auth events
        let n: i64 = sqlx::query_scalar("select count(*) from argus_auth.audit_log_entries where action in ('user_signedup', 'login')")
            .fetch_one(&s.state.pool)
            .await?;
        ensure!(n >= 4, "auth events not audited ({n})");
        s.stop().await;
        Ok(())
    }

    pub async fn bad_input_is_a_typed_error() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = team_with_project(&s, "bad@example.com").await?;
        let t = &team.owner;
        for (method, path, body, want) in [
            (reqwest::Method::POST, "/teams".to_owned(), json!({"name": "  "}), 422),
            (reqwest::Method::POST, "/teams".to_owned(), json!({"name": "x".repeat(201)}), 422),
            (reqwest::Method::GET, "/projects/not-a-uuid".to_owned(), Value::Null, 400),
            (reqwest::Method::GET, format!("/projects/{}", uuid::Uuid::new_v4()), Value::Null, 404),
            (reqwest::Method::PUT, format!("/projects/{}/members/{}", team.project, uuid::Uuid::new_v4()), json!({"role": "admin"}), 422),
            (reqwest::Method::PATCH, format!("/projects/{}", team.project), json!({"label_schema": {"labels": [
                {"id": uuid::Uuid::now_v7(), "name": "car", "colour": "#ff0000", "kinds": ["mask"]},
                {"id": uuid::Uuid::now_v7(), "name": "car", "colour": "#00ff00", "kinds": ["mask"]}]}}), 422),
            (reqwest::Method::PATCH, format!("/projects/{}", team.project), json!({"settings": [1, 2]}), 422),
            (reqwest::Method::POST, format!("/projects/{}/invitations", team.project), json!({"email": "nope", "role": "annotator"}), 422),
        ] {
            let body = if body.is_null() { None } else { Some(body) };
            let (st, v) = s.send(method.clone(), &s.api(&path), Some(t), body).await?;
            ensure!(st == want && v["code"].is_string() && v["message"].is_string(), "{method} {path}: {st} {v}");
        }
        let r = s.http.post(s.api("/teams")).bearer_auth(t).header("content-type", "application/json").body("{broken").send().await?;
        ensure!(r.status().as_u16() == 422, "broken JSON: {}", r.status());
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== row-level security
mod rls {
    use super::*;

    pub async fn teams_are_isolated_through_the_api() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let a = api::team_with_project(&s, "alpha@example.com").await?;
        let b = api::team_with_project(&s, "beta@example.com").await?;
        let (st, list) = s.get(&s.api("/projects"), Some(&b.owner)).await?;
        ensure!(st == 200 && list.as_array().map(Vec::len) == Some(1) && list[0]["id"] == b.project.as_str(), "{list}");
        for (m, path, body) in [
            (reqwest::Method::GET, format!("/projects/{}", a.project), None),
            (reqwest::Method::PATCH, format!("/projects/{}", a.project), Some(json!({"name": "mine now"}))),
            (reqwest::Method::DELETE, format!("/projects/{}", a.project), None),
            (reqwest::Method::GET, format!("/projects/{}/members", a.project), None),
            (reqwest::Method::GET, format!("/teams/{}", a.id), None),
            (reqwest::Method::GET, format!("/teams/{}/projects", a.id), None),
            (reqwest::Method::POST, format!("/teams/{}/projects", a.id), Some(json!({"name": "intruder"}))),
        ] {
            let (st, v) = s.send(m.clone(), &s.api(&path), Some(&b.owner), body).await?;
            ensure!(st == 404, "team B's owner: {m} {path}: {st} {v}");
        }
        let (st, teams) = s.get(&s.api("/teams"), Some(&b.owner)).await?;
        ensure!(st == 200 && teams.as_array().map(Vec::len) == Some(1), "{teams}");
        let (st, p) = s.get(&s.api(&format!("/projects/{}", a.project)), Some(&a.owner)).await?;
        ensure!(st == 200 && p["name"] == "Street", "A's project changed: {p}");
        s.stop().await;
        Ok(())
    }

    /// Direct SQL as the server's runtime role: without a role and claims it
    /// may read nothing; as `authenticated` with one user's claims, a query
    /// without any WHERE clause sees only that user's team.
    pub async fn teams_are_isolated_in_sql_as_the_runtime_role() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let a = api::team_with_project(&s, "sqa@example.com").await?;
        let b = api::team_with_project(&s, "sqb@example.com").await?;
        let pool = &s.state.pool; // argus_api
        let who: String = sqlx::query_scalar("select current_user::text").fetch_one(pool).await?;
        ensure!(who == "argus_api", "the runtime connection is {who}");
        let e = sqlx::query("select * from argus.projects").fetch_all(pool).await;
        ensure!(matches!(&e, Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42501")), "the runtime role read projects directly: {e:?}");
        let b_claims = s.state.keys.verify(&b.owner).map_err(|e| e.to_string())?.0;
        let mut tx = argus_server::db::begin_as(pool, &b_claims).await?;
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("select id from argus.projects").fetch_all(&mut *tx).await?;
        ensure!(ids.len() == 1 && ids[0].to_string() == b.project, "B sees {ids:?}");
        let n: i64 = sqlx::query_scalar("select count(*) from argus.teams").fetch_one(&mut *tx).await?;
        ensure!(n == 1, "B sees {n} teams");
        let upd = sqlx::query("update argus.projects set name = 'pwned'").execute(&mut *tx).await?.rows_affected();
        ensure!(upd == 1, "B's unqualified update touched {upd} rows");
        let ins = sqlx::query("insert into argus.project_members (project_id, user_id, role) values ($1, $2, 'lead')")
            .bind(uuid::Uuid::parse_str(&a.project)?)
            .bind(uuid::Uuid::parse_str(b_claims["sub"].as_str().unwrap_or(""))?)
            .execute(&mut *tx)
            .await;
        ensure!(matches!(&ins, Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42501")), "B made itself a lead of A's project: {ins:?}");
        tx.rollback().await?;
        // anonymous claims see nothing
        let mut tx = argus_server::db::begin_as(pool, &json!({"role": "authenticated"})).await?;
        let n: i64 = sqlx::query_scalar("select count(*) from argus.projects").fetch_one(&mut *tx).await?;
        ensure!(n == 0, "no claims saw {n} projects");
        tx.rollback().await?;
        // the auth tables are not reachable as `authenticated`
        let mut tx = argus_server::db::begin_as(pool, &b_claims).await?;
        let e = sqlx::query("select * from argus_auth.users").fetch_all(&mut *tx).await;
        ensure!(e.is_err(), "authenticated read the auth tables");
        tx.rollback().await?;
        s.stop().await;
        Ok(())
    }

    pub async fn sql_role_matrix_is_argus_cores() -> TestResult {
        use argus_core::model::{Permission, Role};
        let s = TestServer::start(|_| {}).await?;
        let owner = sqlx::PgPool::connect(&s.db.url).await?;
        let rows: Vec<(String, i32)> = sqlx::query_as("select permission, min_rank from argus.role_matrix").fetch_all(&owner).await?;
        ensure!(rows.len() == Permission::ALL.len(), "{rows:?}");
        for p in Permission::ALL {
            let want = Role::minimum_for(p).rank();
            let got = rows.iter().find(|r| r.0 == p.as_str()).map(|r| r.1);
            ensure!(got == Some(want), "{p:?}: SQL {got:?}, Rust {want}");
            ensure!(serde_json::to_value(p)? == json!(p.as_str()), "{p:?}'s SQL name differs from its serde name");
        }
        s.stop().await;
        Ok(())
    }

    /// The claims travel as a SQL literal (one round trip for BEGIN and
    /// set_config): user metadata full of quotes and backslashes must arrive
    /// as it was, and must not escape the literal.
    pub async fn claims_with_quotes_and_backslashes_reach_the_policies_intact() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let hostile = "it's \\' ); drop table argus.teams; -- $$ \\\\ E'\\x00' \u{1F600}";
        let (st, sess) = s.post(&s.auth("/signup"), None, json!({"email": "q@example.com", "password": "secret-1", "data": {"name": hostile, "k'ey": "v\\'"}})).await?;
        ensure!(st == 200, "{st} {sess}");
        let t = token_of(&sess).to_owned();
        let (st, team) = s.post(&s.api("/teams"), Some(&t), json!({"name": "Quotes"})).await?;
        ensure!(st == 201, "{st} {team}");
        let (st, teams) = s.get(&s.api("/teams"), Some(&t)).await?;
        ensure!(st == 200 && teams.as_array().map(Vec::len) == Some(1), "{st} {teams}");
        // what the policies saw is the token's claims, byte for byte
        let claims = s.state.keys.verify(&t).map_err(|e| e.to_string())?.0;
        let mut tx = argus_server::db::begin_as(&s.state.pool, &claims).await?;
        let seen: String = sqlx::query_scalar("select current_setting('request.jwt.claims')").fetch_one(&mut *tx).await?;
        tx.rollback().await?;
        let seen: Value = serde_json::from_str(&seen)?;
        ensure!(seen == claims && seen["user_metadata"]["name"] == hostile, "{seen}");
        s.stop().await;
        Ok(())
    }

    pub async fn db_setup_is_idempotent_and_concurrent() -> TestResult {
        let db = TestDb::new().await?;
        let pool = sqlx::PgPool::connect(&db.url).await?;
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { argus_server::db::setup_roles(&pool, "argus_api", None).await })
            })
            .collect();
        for r in runs {
            r.await??;
        }
        argus_server::db::migrate(&pool, "argus_api").await?;
        argus_server::db::migrate(&pool, "argus_api").await?;
        pool.close().await;
        Ok(())
    }
}

// ====================================================================== ops
mod ops {
    use super::*;

    pub async fn openapi_lists_every_route_it_serves() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let (st, doc) = s.get(&format!("{}/openapi.json", s.url), None).await?;
        ensure!(st == 200 && doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{st}");
        let paths = doc["paths"].as_object().ok_or("no paths")?;
        ensure!(paths.len() >= 15, "only {} paths", paths.len());
        let id = uuid::Uuid::new_v4().to_string();
        let mut checked = 0;
        for (path, ops) in paths {
            for method in ops.as_object().ok_or("bad path item")?.keys() {
                let url = format!("{}{}", s.url, path.replace("{team}", &id).replace("{project}", &id).replace("{user}", &id).replace("{id}", &id));
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
                let r = s.http.request(m, &url).json(&json!({})).send().await?;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                // a served route answers the API's own 401 body; an unserved one axum's bare 404/405
                ensure!(status == 401 && body["code"] == "no_authorization", "{method} {path}: {status} {body}");
                checked += 1;
            }
        }
        ensure!(doc["components"]["securitySchemes"]["bearer"].is_object(), "no bearer scheme");
        ensure!(checked >= 25, "only {checked} operations");
        s.stop().await;
        Ok(())
    }

    /// `argus-server --dev` with no DATABASE_URL: its own PostgreSQL, a
    /// generated secret, auto-confirmed sign-ups; stops cleanly on SIGTERM.
    pub async fn dev_mode_runs_on_a_private_postgres() -> TestResult {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_argus-server"))
            .args(["--dev", "--data-dir"])
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("GOTRUE_JWT_SECRET")
            .env("ARGUS_LISTEN", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut url = None;
        let mut printed = String::new();
        let read = async {
            while let Some(l) = lines.next_line().await? {
                printed.push_str(&l);
                printed.push('\n');
                if let Some(u) = l.strip_prefix("listening on ") {
                    url = Some(u.to_owned());
                    break;
                }
            }
            Ok::<_, std::io::Error>(())
        };
        tokio::time::timeout(std::time::Duration::from_secs(90), read).await.map_err(|_| "--dev did not start in 90 s")??;
        let url = url.ok_or_else(|| format!("no listening line in: {printed}"))?;
        ensure!(printed.contains("service_role key:") && printed.contains("anon key:"), "{printed}");
        let http = reqwest::Client::new();
        let r = http.post(format!("{url}/auth/v1/signup")).json(&json!({"email": "dev@example.com", "password": "secret-1"})).send().await?;
        ensure!(r.status().as_u16() == 200, "sign-up on --dev: {}", r.status());
        let v: Value = r.json().await?;
        ensure!(v["access_token"].is_string(), "--dev does not auto-confirm: {v}");
        ensure!(dir.path().join("pg/PG_VERSION").exists() && dir.path().join("jwt-secret").exists(), "nothing kept in the data dir");
        let pid = child.id().ok_or("no pid")?;
        std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.map_err(|_| "no exit 30 s after SIGTERM")??;
        ensure!(status.success(), "--dev exited with {status}");
        // the private cluster was stopped with the server
        ensure!(!dir.path().join("pg/postmaster.pid").exists(), "the private PostgreSQL is still running");
        Ok(())
    }

    /// As root, --dev runs PostgreSQL as another user; a data folder under a
    /// private one (root's home) is refused with the folder and what to do,
    /// not with initdb's own error. (Not root: the cluster runs as this user,
    /// who reaches the folder, and the server starts.)
    pub async fn dev_mode_as_root_says_when_postgres_cannot_reach_its_folder() -> TestResult {
        let private = tempfile::tempdir()?;
        std::fs::set_permissions(private.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let data = private.path().join("dev");
        let root = std::fs::read_to_string("/proc/self/status")?.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        let command = |stdout: std::process::Stdio| {
            let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_argus-server"));
            c.args(["--dev", "--data-dir"])
                .arg(&data)
                .env_remove("DATABASE_URL")
                .env("ARGUS_LISTEN", "127.0.0.1:0")
                .env("RUST_BACKTRACE", "0")
                .env("RUST_LIB_BACKTRACE", "0")
                .stdout(stdout)
                .kill_on_drop(true);
            c
        };
        if root {
            let out = tokio::time::timeout(std::time::Duration::from_secs(60), command(std::process::Stdio::null()).output())
                .await
                .map_err(|_| "--dev neither failed nor started in 60 s")??;
            let err = String::from_utf8_lossy(&out.stderr);
            ensure!(!out.status.success(), "--dev started on a folder postgres cannot reach");
            ensure!(err.contains("cannot reach") && err.contains(&data.join("pg").display().to_string()) && err.contains("--data-dir"), "{err}");
        } else {
            use tokio::io::AsyncBufReadExt;
            let mut child = command(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn()?;
            let mut lines = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
            let started = tokio::time::timeout(std::time::Duration::from_secs(90), async {
                while let Some(l) = lines.next_line().await? {
                    if l.starts_with("listening on ") {
                        return Ok::<_, std::io::Error>(true);
                    }
                }
                Ok(false)
            })
            .await
            .map_err(|_| "--dev did not start in 90 s")??;
            ensure!(started, "--dev did not start in a private folder of the user running it");
            let pid = child.id().ok_or("no pid")?;
            std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
            child.wait().await?;
        }
        Ok(())
    }

    pub async fn health_ready_metrics_request_ids_cors() -> TestResult {
        let s = TestServer::start(|c| c.cors_origins = vec!["http://app.test".into()]).await?;
        let (st, v) = s.get(&format!("{}/healthz", s.url), None).await?;
        ensure!(st == 200 && v["status"] == "ok", "{st} {v}");
        let (st, v) = s.get(&format!("{}/readyz", s.url), None).await?;
        ensure!(st == 200 && v["status"] == "ready", "{st} {v}");
        let r = s.http.get(format!("{}/healthz", s.url)).header("x-request-id", "abc-123").send().await?;
        ensure!(r.headers()["x-request-id"] == "abc-123", "the request id is not propagated");
        let r = s.http.get(format!("{}/healthz", s.url)).send().await?;
        ensure!(r.headers().get("x-request-id").is_some_and(|v| v.len() == 36), "no generated request id");
        let r = s
            .http
            .request(reqwest::Method::OPTIONS, s.auth("/token"))
            .header("origin", "http://app.test")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "apikey,content-type,x-client-info")
            .send()
            .await?;
        ensure!(r.headers().get("access-control-allow-origin").is_some_and(|v| v == "http://app.test"), "CORS: {:?}", r.headers());
        let r = s
            .http
            .request(reqwest::Method::OPTIONS, s.auth("/token"))
            .header("origin", "http://evil.test")
            .header("access-control-request-method", "POST")
            .send()
            .await?;
        ensure!(r.headers().get("access-control-allow-origin").is_none(), "CORS allowed another origin");
        s.sign_up("ops@example.com", "secret-1").await?;
        let text = s.http.get(format!("{}/metrics", s.url)).send().await?.text().await?;
        ensure!(text.contains("argus_http_requests_total{method=\"POST\",route=\"/auth/v1/signup\",status=\"200\"} 1"), "{text}");
        ensure!(text.contains("argus_http_request_duration_seconds_bucket"), "{text}");
        // readiness follows the database
        sqlx::query("delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)")
            .execute(&sqlx::PgPool::connect(&s.db.url).await?)
            .await?;
        let (st, v) = s.get(&format!("{}/readyz", s.url), None).await?;
        ensure!(st == 503, "ready with a migration missing: {st} {v}");
        s.stop().await;
        Ok(())
    }
}

// ====================================================================== storage
mod storage {
    use super::*;
    use argus_server::storage::{Storage, embedded::EmbeddedStore};

    async fn store() -> Result<(tempfile::TempDir, EmbeddedStore, Storage), Box<dyn std::error::Error + Send + Sync>> {
        let dir = tempfile::tempdir()?;
        let e = EmbeddedStore::start(dir.path(), 0, "argus", "test-access", "test-secret-key").await?;
        let s = Storage::new(&e.config)?;
        Ok((dir, e, s))
    }

    async fn send(p: &argus_server::storage::Presigned, body: Option<Vec<u8>>, range: Option<&str>) -> Result<reqwest::Response, reqwest::Error> {
        let mut r = reqwest::Client::new().request(reqwest::Method::from_bytes(p.method.as_bytes()).expect("method"), &p.url);
        for (k, v) in &p.headers {
            r = r.header(k, v);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        if let Some(range) = range {
            r = r.header("range", range);
        }
        r.send().await
    }

    pub async fn presigned_put_get_and_range_on_the_embedded_store() -> TestResult {
        let (_dir, _e, s) = store().await?;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let put = s.presign_put("teams/t/projects/p/videos/v/original", "video/mp4");
        let r = send(&put, Some(data.clone()), None).await?;
        ensure!(r.status().is_success(), "PUT: {} {}", r.status(), r.text().await.unwrap_or_default());
        ensure!(s.head("teams/t/projects/p/videos/v/original").await? == Some(100_000), "HEAD size");
        ensure!(s.head("teams/t/projects/p/videos/v/nothing").await?.is_none(), "HEAD of a missing key");
        let get = s.presign_get("teams/t/projects/p/videos/v/original", Some("clip.mp4"));
        let r = send(&get, None, Some("bytes=1000-1999")).await?;
        ensure!(r.status().as_u16() == 206, "Range GET: {}", r.status());
        let got = r.bytes().await?;
        ensure!(got.as_ref() == &data[1000..2000], "Range GET returned other bytes");
        let r = send(&get, None, None).await?;
        ensure!(r.bytes().await?.as_ref() == data.as_slice(), "GET returned other bytes");
        Ok(())
    }

    pub async fn presigned_urls_are_refused_for_another_key_method_or_when_expired() -> TestResult {
        let (_dir, e, s) = store().await?;
        s.put("a/original", b"hello".to_vec(), "video/mp4").await?;
        let get = s.presign_get("a/original", None);
        // another key: the signature covers the path
        let other = argus_server::storage::Presigned { url: get.url.replace("/a/original", "/b/original"), ..get.clone() };
        let r = send(&other, None, None).await?;
        ensure!(r.status().as_u16() == 403, "a URL used for another key: {}", r.status());
        // another method: a GET URL used to PUT
        let as_put = argus_server::storage::Presigned { method: "PUT".into(), ..get.clone() };
        let r = send(&as_put, Some(b"overwrite".to_vec()), None).await?;
        ensure!(r.status().as_u16() == 403, "a GET URL used to PUT: {}", r.status());
        ensure!(s.head("a/original").await? == Some(5), "the object was overwritten");
        // a signed header must be sent as signed
        let put = s.presign_put("c/original", "video/mp4");
        let mut wrong = put.clone();
        wrong.headers.insert("content-type".into(), "text/html".into());
        let r = send(&wrong, Some(b"x".to_vec()), None).await?;
        ensure!(r.status().as_u16() == 403, "a changed signed header: {}", r.status());
        // expiry
        let mut cfg = e.config.clone();
        cfg.presign_ttl = std::time::Duration::from_secs(1);
        let short = Storage::new(&cfg)?.presign_get("a/original", None);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let r = send(&short, None, None).await?;
        ensure!(r.status().as_u16() == 403 || r.status().as_u16() == 400, "an expired URL: {}", r.status());
        Ok(())
    }

    pub async fn copy_between_stores_verifies_and_resumes() -> TestResult {
        use argus_server::storage::copy;
        let (_d1, _e1, a) = store().await?;
        let (_d2, _e2, b) = store().await?;
        let objects: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("teams/t/projects/p/videos/v{i}/original"), vec![i as u8; 1000 + i * 7919])).collect();
        for (k, v) in &objects {
            a.put(k, v.clone(), "video/mp4").await?;
        }
        a.put("elsewhere/x", b"not copied".to_vec(), "text/plain").await?;
        let mut seen = Vec::new();
        let r = copy::copy_all(&a, &b, "teams/", |k, c| seen.push((k.to_owned(), c))).await?;
        ensure!(r.copied == 5 && r.skipped == 0 && seen.len() == 5, "{r:?}");
        for (k, v) in &objects {
            let tmp = tempfile::NamedTempFile::new()?;
            let (sha, _) = b.get_to_file(k, tmp.path()).await?;
            ensure!(std::fs::read(tmp.path())? == *v, "{k} differs in the copy");
            let meta = b.head_meta(k).await?.ok_or("no copy")?.1;
            ensure!(meta.get(copy::SHA_META) == Some(&sha), "{meta:?}");
        }
        ensure!(b.head("elsewhere/x").await?.is_none(), "copied outside the prefix");
        // resume: verified copies are skipped; a missing or damaged one is copied again
        b.delete_prefix("teams/t/projects/p/videos/v3/").await?;
        b.put("teams/t/projects/p/videos/v1/original", b"damaged".to_vec(), "video/mp4").await?;
        let r = copy::copy_all(&a, &b, "teams/", |_, _| {}).await?;
        ensure!(r.copied == 2 && r.skipped == 3, "resume: {r:?}");
        Ok(())
    }

    /// Parts that arrive out of order, a part sent again with other bytes
    /// and a restart of the store in the middle still complete to exactly
    /// the listed parts' bytes, with S3's multipart ETag (the MD5 of the
    /// parts' MD5s, then the count).
    pub async fn multipart_parts_out_of_order_resent_and_across_a_restart() -> TestResult {
        use md5::Digest;
        let dir = tempfile::tempdir()?;
        let key = "teams/t/projects/p/videos/o/original";
        let e = EmbeddedStore::start(dir.path(), 0, "argus", "test-access", "test-secret-key").await?;
        let s = Storage::new(&e.config)?;
        let id = s.create_multipart(key, "video/mp4").await?;
        let mib5 = 5 * 1024 * 1024;
        let bodies: [Vec<u8>; 4] = [vec![1u8; mib5], vec![2u8; mib5], vec![3u8; 4321], vec![4u8; mib5]];
        let put = |s: &Storage, n: u16, body: &Vec<u8>| {
            let (p, body) = (s.presign_part(key, &id, n), body.clone());
            async move {
                let r = send(&p, Some(body), None).await?;
                ensure!(r.status().is_success(), "part {n}: {}", r.status());
                Ok::<String, Box<dyn std::error::Error + Send + Sync>>(r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").trim_matches('"').to_owned())
            }
        };
        // 3 and 2 wait for 1; then 2 again with other bytes.
        put(&s, 3, &bodies[2]).await?;
        put(&s, 2, &bodies[1]).await?;
        put(&s, 1, &bodies[0]).await?;
        put(&s, 2, &bodies[3]).await?;
        // The store restarts; part 3 is sent again (the same bytes).
        drop(e);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let e = EmbeddedStore::start(dir.path(), 0, "argus", "test-access", "test-secret-key").await?;
        let s = Storage::new(&e.config)?;
        let e3 = put(&s, 3, &bodies[2]).await?;
        let etags: Vec<String> = s.list_parts(key, &id).await?.into_iter().map(|p| p.etag.trim_matches('"').to_owned()).collect();
        ensure!(etags.len() == 3 && etags[2] == e3, "{etags:?}");
        s.complete_multipart(key, &id, &etags).await?;
        let got = send(&s.presign_get(key, None), None, None).await?;
        let etag = got.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").trim_matches('"').to_owned();
        let bytes = got.bytes().await?;
        let want: Vec<u8> = [&bodies[0][..], &bodies[3][..], &bodies[2][..]].concat();
        ensure!(bytes.len() == want.len() && bytes[..] == want[..], "the object is not the listed parts ({} bytes)", bytes.len());
        let mut whole = md5::Md5::new();
        for b in [&bodies[0], &bodies[3], &bodies[2]] {
            whole.update(md5::Md5::digest(b));
        }
        ensure!(etag == format!("{}-3", hex::encode(whole.finalize())), "multipart ETag {etag}");
        // A completion that names a part's old ETag is refused, and nothing is stored.
        let id2 = s.create_multipart("y/original", "video/mp4").await?;
        let p1 = send(&s.presign_part("y/original", &id2, 1), Some(bodies[0].clone()), None).await?;
        ensure!(p1.status().is_success(), "{}", p1.status());
        ensure!(s.complete_multipart("y/original", &id2, &["0123456789abcdef0123456789abcdef".into()]).await.is_err(), "a wrong ETag completed");
        ensure!(s.head("y/original").await?.is_none(), "a refused completion stored the object");
        Ok(())
    }

    pub async fn multipart_upload_list_complete_abort_and_delete() -> TestResult {
        let (_dir, _e, s) = store().await?;
        let key = "teams/t/projects/p/videos/m/original";
        let id = s.create_multipart(key, "video/mp4").await?;
        let part1: Vec<u8> = vec![7u8; 5 * 1024 * 1024];
        let part2: Vec<u8> = vec![9u8; 1234];
        let mut etags = Vec::new();
        for (n, body) in [(1u16, &part1), (2, &part2)] {
            let r = send(&s.presign_part(key, &id, n), Some(body.clone()), None).await?;
            ensure!(r.status().is_success(), "part {n}: {}", r.status());
            etags.push(r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").trim_matches('"').to_owned());
        }
        let parts = s.list_parts(key, &id).await?;
        ensure!(parts.len() == 2 && parts[0].number == 1 && parts[0].size == part1.len() as u64 && parts[1].etag == etags[1], "{parts:?} vs {etags:?}");
        s.complete_multipart(key, &id, &etags).await?;
        ensure!(s.head(key).await? == Some((part1.len() + part2.len()) as u64), "completed size");
        // abort: the upload's parts are gone
        let id2 = s.create_multipart("x/original", "video/mp4").await?;
        send(&s.presign_part("x/original", &id2, 1), Some(vec![1u8; 10]), None).await?;
        s.abort_multipart("x/original", &id2).await?;
        // AWS answers NoSuchUpload; s3s-fs an empty list
        ensure!(s.list_parts("x/original", &id2).await.map(|p| p.is_empty()).unwrap_or(true), "an aborted upload still lists parts");
        // delete a video's prefix
        s.put("teams/t/projects/p/videos/m/poster.png", vec![1, 2, 3], "image/jpeg").await?;
        let n = s.delete_prefix("teams/t/projects/p/videos/m/").await?;
        ensure!(n == 2 && s.head(key).await?.is_none(), "deleted {n}");
        Ok(())
    }
}

// ====================================================================== videos
mod videos {
    use super::*;
    use sha2::Digest;

    fn sha(b: &[u8]) -> String {
        hex::encode(sha2::Sha256::digest(b))
    }

    async fn send(p: &Value, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let mut r = reqwest::Client::new().request(reqwest::Method::from_bytes(p["method"].as_str().unwrap_or("PUT").as_bytes()).expect("method"), p["url"].as_str().unwrap_or(""));
        if let Some(h) = p["headers"].as_object() {
            for (k, v) in h {
                r = r.header(k, v.as_str().unwrap_or(""));
            }
        }
        r.body(body).send().await
    }

    async fn owner_sql(s: &TestServer, sql: &str) -> TestResult {
        let owner = sqlx::PgPool::connect(&s.db.url).await?;
        sqlx::query(sql).execute(&owner).await?;
        owner.close().await;
        Ok(())
    }

    pub async fn single_put_upload_is_processed_by_a_worker() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = api::team_with_project(&s, "up@example.com").await?;
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (st, up) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner),
            json!({"name": "clip.mp4", "size_bytes": data.len(), "sha256": sha(&data), "content_type": "video/mp4"})).await?;
        ensure!(st == 201 && up["upload"]["kind"] == "single" && up["video"]["status"] == "uploading", "{st} {up}");
        let vid = str_of(&up["video"], "id");
        let r = send(&up["upload"]["put"], data.clone()).await?;
        ensure!(r.status().is_success(), "PUT {}", r.status());
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
        ensure!(st == 200 && v["status"] == "processing", "{st} {v}");
        let (st, jobs) = s.get(&s.api(&format!("/videos/{vid}/jobs")), Some(&team.owner)).await?;
        ensure!(st == 200 && jobs[0]["state"] == "queued" && jobs[0]["kind"] == "process_video", "{st} {jobs}");
        // a user is not a worker
        let (st, _) = s.post(&s.api("/worker/jobs/claim"), Some(&team.owner), json!({"worker": "w"})).await?;
        ensure!(st == 403, "a user claimed a job: {st}");
        let key = s.key("service_role");
        let (st, claimed) = s.post(&s.api("/worker/jobs/claim"), Some(&key), json!({"worker": "w1"})).await?;
        ensure!(st == 200 && claimed["job"]["state"] == "running" && claimed["job"]["attempts"] == 1, "{st} {claimed}");
        let got = reqwest::get(claimed["source"]["url"].as_str().unwrap_or("")).await?.bytes().await?;
        ensure!(got.as_ref() == data.as_slice(), "the worker's GET returned other bytes");
        let r = send(&claimed["outputs"]["poster"], vec![0xff, 0xd8, 0xff]).await?;
        ensure!(r.status().is_success(), "poster PUT {}", r.status());
        let job = claimed["job"]["id"].as_i64().unwrap_or(0);
        let (st, _) = s.post(&s.api(&format!("/worker/jobs/{job}/complete")), Some(&key), json!({"worker": "someone-else"})).await?;
        ensure!(st == 409, "another worker completed the job: {st}");
        let (st, done) = s.post(&s.api(&format!("/worker/jobs/{job}/complete")), Some(&key), json!({"worker": "w1", "probe": {"width": 64, "frames": 10}})).await?;
        ensure!(st == 200 && done["state"] == "done", "{st} {done}");
        let (st, v) = s.get(&s.api(&format!("/videos/{vid}")), Some(&team.owner)).await?;
        ensure!(st == 200 && v["status"] == "ready" && v["probe"]["frames"] == 10, "{st} {v}");
        let (st, none) = s.send(reqwest::Method::POST, &s.api("/worker/jobs/claim"), Some(&key), Some(json!({"worker": "w1"}))).await?;
        ensure!(st == 204, "an empty queue: {st} {none}");
        // download with Range, then delete removes every object
        let (st, dl) = s.get(&s.api(&format!("/videos/{vid}/download")), Some(&team.owner)).await?;
        ensure!(st == 200, "{st} {dl}");
        let r = reqwest::Client::new().get(dl["url"].as_str().unwrap_or("")).header("range", "bytes=10-19").send().await?;
        ensure!(r.status().as_u16() == 206 && r.bytes().await?.as_ref() == &data[10..20], "Range download");
        let storage = argus_server::storage::Storage::new(&s.store.config)?;
        let simple = |id: &str| id.replace('-', "");
        let prefix = format!("teams/{}/projects/{}/videos/{}/", simple(&team.id), simple(&team.project), simple(&vid));
        ensure!(storage.head(&format!("{prefix}original")).await?.is_some() && storage.head(&format!("{prefix}poster.png")).await?.is_some(), "objects under {prefix}");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/videos/{vid}")), Some(&team.owner), None).await?;
        ensure!(st == 204, "{st}");
        ensure!(storage.head(&format!("{prefix}original")).await?.is_none() && storage.head(&format!("{prefix}poster.png")).await?.is_none(), "objects survived the delete");
        s.stop().await;
        Ok(())
    }

    pub async fn multipart_upload_resumes_with_the_parts_the_store_holds() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = api::team_with_project(&s, "mp@example.com").await?;
        let size = 20 * 1024 * 1024 + 123;
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let (st, up) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner),
            json!({"name": "big.mp4", "size_bytes": size, "sha256": sha(&data), "content_type": "video/mp4"})).await?;
        ensure!(st == 201 && up["upload"]["kind"] == "multipart" && up["upload"]["part_count"] == 3, "{st} {up}");
        let ps = up["upload"]["part_size"].as_u64().unwrap_or(0) as usize;
        let vid = str_of(&up["video"], "id");
        let (st, urls) = s.post(&s.api(&format!("/videos/{vid}/upload/parts")), Some(&team.owner), json!({"numbers": [1, 2, 3]})).await?;
        ensure!(st == 200 && urls.as_array().map(Vec::len) == Some(3), "{st} {urls}");
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/parts")), Some(&team.owner), json!({"numbers": [4]})).await?;
        ensure!(st == 422, "part 4 of 3: {st} {v}");
        let part = |n: usize| data[(n - 1) * ps..(n * ps).min(size)].to_vec();
        // the client "crashes" after parts 1 and 3
        let mut etags = std::collections::BTreeMap::new();
        for n in [1usize, 3] {
            let r = send(&urls[n - 1], part(n)).await?;
            ensure!(r.status().is_success(), "part {n}: {}", r.status());
            etags.insert(n, r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned());
        }
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
        ensure!(st == 409 && v["message"].as_str().is_some_and(|m| m.contains("[2]")), "completing with a part missing: {st} {v}");
        // resume: ask the server what the store holds
        let (st, state) = s.get(&s.api(&format!("/videos/{vid}/upload")), Some(&team.owner)).await?;
        let done: Vec<u64> = state["upload"]["parts_done"].as_array().ok_or("no parts")?.iter().filter_map(|p| p["number"].as_u64()).collect();
        ensure!(st == 200 && done == [1, 3], "{st} {state}");
        let (_, urls) = s.post(&s.api(&format!("/videos/{vid}/upload/parts")), Some(&team.owner), json!({"numbers": [2]})).await?;
        let r = send(&urls[0], part(2)).await?;
        etags.insert(2, r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned());
        // a wrong ETag for a part is refused
        let (st, _) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({"parts": [{"number": 1, "etag": "\"0000\""}]})).await?;
        ensure!(st == 409, "a wrong ETag: {st}");
        let parts: Vec<Value> = etags.iter().map(|(n, e)| json!({"number": n, "etag": e})).collect();
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({"parts": parts})).await?;
        ensure!(st == 200 && v["status"] == "processing", "{st} {v}");
        let storage = argus_server::storage::Storage::new(&s.store.config)?;
        let key = format!("teams/{}/projects/{}/videos/{}/original", team.id.replace('-', ""), team.project.replace('-', ""), vid.replace('-', ""));
        ensure!(storage.head(&key).await? == Some(size as u64), "the stored object's size");
        let got = reqwest::get(storage.presign_get(&key, None).url).await?.bytes().await?;
        ensure!(sha(&got) == sha(&data), "the stored object's sha256 differs");
        // one video per project and content: the same file again is refused,
        // with the id every desktop gives it
        let (st, body) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner),
            json!({"name": "again.mp4", "size_bytes": size, "sha256": sha(&data)})).await?;
        ensure!(st == 409 && body.to_string().contains(&vid), "the same content twice: {st} {body}");
        let project_id: argus_core::id::ProjectId = team.project.parse()?;
        ensure!(argus_core::id::VideoId::for_content(project_id, &sha(&data)).to_string() == vid, "the server's video id is not the desktops' id");
        // an abandoned upload can be aborted
        let (_, up2) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner),
            json!({"name": "gone.mp4", "size_bytes": size, "sha256": sha(b"another file")})).await?;
        let vid2 = str_of(&up2["video"], "id");
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/videos/{vid2}/upload")), Some(&team.owner), None).await?;
        ensure!(st == 204, "abort: {st}");
        let (st, _) = s.get(&s.api(&format!("/videos/{vid2}")), Some(&team.owner)).await?;
        ensure!(st == 404, "an aborted upload's video remains: {st}");
        s.stop().await;
        Ok(())
    }

    pub async fn size_mismatch_and_quotas_are_refused() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = api::team_with_project(&s, "q@example.com").await?;
        let url = s.api(&format!("/projects/{}/videos", team.project));
        let data = vec![1u8; 1000];
        let (_, up) = s.post(&url, Some(&team.owner), json!({"name": "short.mp4", "size_bytes": 2000, "sha256": sha(&data)})).await?;
        send(&up["upload"]["put"], data.clone()).await?;
        let vid = str_of(&up["video"], "id");
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
        ensure!(st == 409 && v["message"].as_str().is_some_and(|m| m.contains("1000 bytes")), "{st} {v}");
        let (_, v) = s.get(&s.api(&format!("/videos/{vid}")), Some(&team.owner)).await?;
        ensure!(v["status"] == "failed" && v["failure"].as_str().is_some_and(|f| f.contains("announced")), "{v}");
        let (st, v) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
        ensure!(st == 409, "completing a failed upload: {st} {v}");
        for (body, want) in [
            (json!({"name": "a.mp4", "size_bytes": 10, "sha256": "xyz"}), 422),
            (json!({"name": "", "size_bytes": 10, "sha256": sha(b"")}), 422),
            (json!({"name": "../x.mp4", "size_bytes": 10, "sha256": sha(b"")}), 422),
            (json!({"name": "a.mp4", "size_bytes": 0, "sha256": sha(b"")}), 422),
        ] {
            let (st, v) = s.post(&url, Some(&team.owner), body.clone()).await?;
            ensure!(st == want, "{body}: {st} {v}");
        }
        // quotas, checked before anything is presigned
        s.send(reqwest::Method::PATCH, &s.api(&format!("/teams/{}", team.id)), Some(&team.owner), Some(json!({"max_file_bytes": 1500, "quota_bytes": 2500}))).await?;
        let (st, v) = s.post(&url, Some(&team.owner), json!({"name": "big.mp4", "size_bytes": 1600, "sha256": sha(b"")})).await?;
        ensure!(st == 413 && v["code"] == "quota_exceeded", "over the largest file: {st} {v}");
        let (st, _) = s.post(&url, Some(&team.owner), json!({"name": "one.mp4", "size_bytes": 1400, "sha256": sha(b"")})).await?;
        ensure!(st == 201, "{st}");
        let (st, v) = s.post(&url, Some(&team.owner), json!({"name": "two.mp4", "size_bytes": 1400, "sha256": sha(b"")})).await?;
        ensure!(st == 413 && v["message"].as_str().is_some_and(|m| m.contains("2500")), "over the team's total: {st} {v}");
        s.stop().await;
        Ok(())
    }

    pub async fn jobs_retry_back_off_die_and_are_never_taken_twice() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = api::team_with_project(&s, "jobs@example.com").await?;
        let key = s.key("service_role");
        let mut videos = Vec::new();
        for i in 0..12 {
            let data = format!("video {i}").into_bytes();
            let (_, up) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner),
                json!({"name": format!("v{i}.mp4"), "size_bytes": data.len(), "sha256": sha(&data)})).await?;
            send(&up["upload"]["put"], data).await?;
            let vid = str_of(&up["video"], "id");
            let (st, _) = s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
            ensure!(st == 200, "{st}");
            videos.push(vid);
        }
        // four workers at once: every job is taken exactly once
        let mut handles = Vec::new();
        for w in 0..4 {
            let (url, key) = (s.api("/worker/jobs/claim"), key.clone());
            handles.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut got = Vec::new();
                loop {
                    let r = http.post(&url).bearer_auth(&key).json(&json!({"worker": format!("w{w}")})).send().await?;
                    if r.status().as_u16() == 204 {
                        return Ok::<_, reqwest::Error>(got);
                    }
                    let v: Value = r.json().await?;
                    got.push(v["job"]["id"].as_i64().unwrap_or(-1));
                }
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await??);
        }
        all.sort();
        let before = all.len();
        all.dedup();
        ensure!(before == 12 && all.len() == 12, "{before} claims of {} distinct jobs", all.len());
        // a retryable failure comes back after its backoff, with attempts counted
        let job = all[0];
        let (st, j) = s.post(&s.api(&format!("/worker/jobs/{job}/fail")), Some(&key), json!({"worker": "w0", "reason": "network", "retry": true})).await?;
        let (st, j) = if st == 409 {
            // another worker held it
            let mut found = (0, Value::Null);
            for w in 1..4 {
                let r = s.post(&s.api(&format!("/worker/jobs/{job}/fail")), Some(&key), json!({"worker": format!("w{w}"), "reason": "network", "retry": true})).await?;
                if r.0 == 200 {
                    found = r;
                }
            }
            found
        } else {
            (st, j)
        };
        ensure!(st == 200 && j["state"] == "queued" && j["last_error"] == "network", "{st} {j}");
        let (st, _) = s.send(reqwest::Method::POST, &s.api("/worker/jobs/claim"), Some(&key), Some(json!({"worker": "w9"}))).await?;
        ensure!(st == 204, "a job came back before its backoff: {st}");
        // a worker that dies: its lease runs out and the job is taken again
        owner_sql(&s, &format!("update argus.jobs set visible_at = now() where id = {job}")).await?;
        let (st, again) = s.post(&s.api("/worker/jobs/claim"), Some(&key), json!({"worker": "w9"})).await?;
        ensure!(st == 200 && again["job"]["id"] == job && again["job"]["attempts"] == 2, "{st} {again}");
        for attempt in 3..=5 {
            owner_sql(&s, &format!("update argus.jobs set visible_at = now() where id = {job}")).await?;
            let (st, a) = s.post(&s.api("/worker/jobs/claim"), Some(&key), json!({"worker": "w9"})).await?;
            ensure!(st == 200 && a["job"]["attempts"] == attempt, "attempt {attempt}: {st} {a}");
        }
        // the fifth lease runs out: dead, and the video fails with a reason
        owner_sql(&s, &format!("update argus.jobs set visible_at = now() where id = {job}")).await?;
        let (st, _) = s.send(reqwest::Method::POST, &s.api("/worker/jobs/claim"), Some(&key), Some(json!({"worker": "w9"}))).await?;
        ensure!(st == 204, "{st}");
        let vid: String = {
            let owner = sqlx::PgPool::connect(&s.db.url).await?;
            let (state, vid): (String, uuid::Uuid) = sqlx::query_as("select state, video_id from argus.jobs where id = $1").bind(job).fetch_one(&owner).await?;
            ensure!(state == "dead", "{state}");
            vid.to_string()
        };
        let (_, v) = s.get(&s.api(&format!("/videos/{vid}")), Some(&team.owner)).await?;
        ensure!(v["status"] == "failed" && v["failure"].as_str().is_some_and(|f| f.contains("retry")), "{v}");
        // a permanent failure (a corrupt file) ends the video at once
        let other = all[1];
        let mut ok = false;
        for w in 0..4 {
            let (st, j) = s.post(&s.api(&format!("/worker/jobs/{other}/fail")), Some(&key), json!({"worker": format!("w{w}"), "reason": "not a video: no video stream", "retry": false})).await?;
            if st == 200 {
                ensure!(j["state"] == "failed", "{j}");
                ok = true;
            }
        }
        ensure!(ok, "no worker held job {other}");
        s.stop().await;
        Ok(())
    }

    pub async fn events_stream_each_change_of_state() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let team = api::team_with_project(&s, "ev@example.com").await?;
        let data = b"some video bytes".to_vec();
        let (_, up) = s.post(&s.api(&format!("/projects/{}/videos", team.project)), Some(&team.owner), json!({"name": "e.mp4", "size_bytes": data.len(), "sha256": sha(&data)})).await?;
        let vid = str_of(&up["video"], "id");
        let mut resp = s.http.get(s.api(&format!("/projects/{}/events", team.project))).bearer_auth(&team.owner).send().await?;
        ensure!(resp.status().as_u16() == 200, "{}", resp.status());
        ensure!(resp.headers()["content-type"].to_str()?.starts_with("text/event-stream"), "{:?}", resp.headers());
        // read events until `want` statuses were seen, in order
        let mut buf = String::new();
        let mut statuses: Vec<String> = Vec::new();
        let mut step = 0;
        let key = s.key("service_role");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while statuses.last().map(String::as_str) != Some("ready") {
            ensure!(std::time::Instant::now() < deadline, "events so far: {statuses:?}");
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk()).await??.ok_or("the stream ended")?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let ev: String = buf.drain(..end + 2).collect();
                if let Some(d) = ev.lines().find_map(|l| l.strip_prefix("data: ")).filter(|_| ev.contains("event: video\n"))
                    && let Ok(v) = serde_json::from_str::<Value>(d)
                {
                    ensure!(v["id"] == vid.as_str(), "{v}");
                    statuses.push(str_of(&v, "status"));
                }
            }
            // drive the video along as events arrive
            if step == 0 && statuses.len() == 1 {
                send(&up["upload"]["put"], data.clone()).await?;
                s.post(&s.api(&format!("/videos/{vid}/upload/complete")), Some(&team.owner), json!({})).await?;
                step = 1;
            } else if step == 1 && statuses.len() == 2 {
                let (_, c) = s.post(&s.api("/worker/jobs/claim"), Some(&key), json!({"worker": "w"})).await?;
                s.post(&s.api(&format!("/worker/jobs/{}/complete", c["job"]["id"])), Some(&key), json!({"worker": "w", "probe": {}})).await?;
                step = 2;
            }
        }
        ensure!(statuses == ["uploading", "processing", "ready"], "{statuses:?}");
        let (st, _) = s.get(&s.api(&format!("/projects/{}/events", uuid::Uuid::new_v4())), Some(&team.owner)).await?;
        ensure!(st == 404, "events of an unknown project: {st}");
        // shutdown ends the open stream instead of waiting for the client
        let started = std::time::Instant::now();
        s.stop().await;
        ensure!(started.elapsed() < std::time::Duration::from_secs(5), "shutdown waited {:?} on an open event stream", started.elapsed());
        let rest = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk()).await?;
        ensure!(matches!(rest, Ok(None) | Err(_)), "the stream went on after shutdown: {rest:?}");
        Ok(())
    }

    pub async fn videos_follow_roles_and_team_isolation() -> TestResult {
        let s = TestServer::start(|_| {}).await?;
        let a = api::team_with_project(&s, "va@example.com").await?;
        let b = api::team_with_project(&s, "vb@example.com").await?;
        let rev = s.sign_up("vrev@example.com", "secret-1").await?;
        s.send(reqwest::Method::PUT, &s.api(&format!("/projects/{}/members/{}", a.project, user_id(&rev))), Some(&a.owner), Some(json!({"role": "reviewer"}))).await?;
        let data = b"frames".to_vec();
        let (st, v) = s.post(&s.api(&format!("/projects/{}/videos", a.project)), Some(token_of(&rev)), json!({"name": "r.mp4", "size_bytes": 6, "sha256": sha(&data)})).await?;
        ensure!(st == 403, "a reviewer started an upload: {st} {v}");
        let (_, up) = s.post(&s.api(&format!("/projects/{}/videos", a.project)), Some(&a.owner), json!({"name": "a.mp4", "size_bytes": 6, "sha256": sha(&data)})).await?;
        let vid = str_of(&up["video"], "id");
        let (st, list) = s.get(&s.api(&format!("/projects/{}/videos", a.project)), Some(token_of(&rev))).await?;
        ensure!(st == 200 && list.as_array().map(Vec::len) == Some(1), "a reviewer lists videos: {st} {list}");
        for path in [format!("/videos/{vid}"), format!("/videos/{vid}/jobs"), format!("/projects/{}/videos", a.project)] {
            let (st, _) = s.get(&s.api(&path), Some(&b.owner)).await?;
            ensure!(st == 404, "team B read {path}: {st}");
        }
        let (st, _) = s.send(reqwest::Method::DELETE, &s.api(&format!("/videos/{vid}")), Some(&b.owner), None).await?;
        ensure!(st == 404, "team B deleted A's video: {st}");
        s.stop().await;
        Ok(())
    }
}

impl TestServer {
    /// A confirmed user made through the admin API (no rate limit spent).
    pub async fn admin_user(&self, email: &str) -> TestResult {
        let (st, v) = self.post(&self.auth("/admin/users"), Some(&self.key("service_role")), json!({"email": email, "password": "secret-1", "email_confirm": true})).await?;
        ensure!(st == 200, "{st} {v}");
        Ok(())
    }
}
