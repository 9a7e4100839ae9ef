"""The official Python client (PyPI `supabase-auth`), unchanged, against a running argus-server.

    ARGUS_URL=http://127.0.0.1:PORT ARGUS_ANON_KEY=<anon JWT> python supabase_py_scenario.py

Scenario (the same as supabase_js_scenario.mjs): sign_up (email + password + user
metadata), a wrong password, sign_in_with_password, refresh_session (the refresh
token rotates), get_user, update_user (metadata and password; the new password
signs in, the old one fails), sign_out (global; the old refresh tokens and access
token are dead).

Prints one line per check. On the first mismatch it prints what was expected,
what came back and the HTTP exchanges (request and response) behind it, then
exits 1. Exit 2: bad usage or a hung client (watchdog).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sys
import threading
import time

import httpx
from supabase_auth import SyncGoTrueClient
from supabase_auth import __version__ as SUPABASE_AUTH_VERSION
from supabase_auth.errors import AuthApiError, AuthError
from supabase_auth.types import Session, User

BASE = os.environ.get("ARGUS_URL", "")
ANON_KEY = os.environ.get("ARGUS_ANON_KEY", "")
WATCHDOG_S = float(os.environ.get("ARGUS_INTEROP_TIMEOUT_MS", "90000")) / 1000

# ---- every HTTP exchange, so that a mismatch can show what was sent and received ----
exchanges: list[dict] = []


def _on_request(request: httpx.Request) -> None:
    body = request.content.decode("utf-8", "replace") if request.content else None
    exchanges.append(
        {
            "method": request.method,
            "url": str(request.url),
            "req_headers": dict(request.headers),
            "req_body": body,
        }
    )


def _on_response(response: httpx.Response) -> None:
    response.read()
    for ex in reversed(exchanges):
        if ex["url"] == str(response.request.url) and "status" not in ex:
            ex["status"] = response.status_code
            ex["res_headers"] = dict(response.headers)
            ex["res_body"] = response.text
            break


def _redact(headers: dict) -> dict:
    out = dict(headers)
    for k in ("apikey", "authorization"):
        if k in out:
            out[k] = out[k][:16] + "..."
    return out


def describe(ex: dict) -> str:
    lines = [f"  > {ex['method']} {ex['url']}", f"    request headers: {json.dumps(_redact(ex['req_headers']))}"]
    if ex.get("req_body") is not None:
        lines.append(f"    request body: {ex['req_body']}")
    if "status" in ex:
        lines += [
            f"  < {ex['status']}",
            f"    response headers: {json.dumps(ex['res_headers'])}",
            f"    response body: {ex['res_body']}",
        ]
    else:
        lines.append("  < (no response)")
    return "\n".join(lines)


class Mismatch(Exception):
    pass


checks = 0
step_start = 0
step_name = "(start)"


def step(name: str) -> None:
    global step_start, step_name
    step_name = name
    step_start = len(exchanges)
    print(f"-- {name}", flush=True)


def _show(got) -> str:
    if isinstance(got, str):
        return got
    try:
        return json.dumps(got, default=_default)
    except Exception:
        return repr(got)


def _default(o):
    if isinstance(o, BaseException):
        return err_info(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    return repr(o)


def check(cond, what: str, got=None) -> None:
    global checks
    if not cond:
        raise Mismatch(f"{what}\n  got: {_show(got)}")
    checks += 1
    print(f"  ok: {what}", flush=True)


def err_info(e: BaseException | None):
    if e is None:
        return None
    return {
        "type": type(e).__name__,
        "message": str(e),
        "status": getattr(e, "status", None),
        "code": getattr(e, "code", None),
    }


def last_exchange(method: str, path_suffix: str) -> dict | None:
    for ex in reversed(exchanges[step_start:]):
        if ex["method"] == method and httpx.URL(ex["url"]).path.endswith(path_suffix):
            return ex
    return None


def step_urls() -> list[str]:
    return [f"{e['method']} {e['url']}" for e in exchanges[step_start:]]


def jwt_claims(token: str) -> dict:
    parts = str(token).split(".")
    if len(parts) != 3:
        raise Mismatch(f"access token is not a JWS compact token: {str(token)[:40]}...")
    return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))


def call(label: str, fn, *args, **kwargs):
    """Runs a client call that must succeed."""
    try:
        return fn(*args, **kwargs)
    except AuthError as e:
        raise Mismatch(f"{label}: no error\n  got: {_show(err_info(e))}") from e


def call_failing(label: str, fn, *args, **kwargs) -> BaseException:
    """Runs a client call that must raise; returns the exception."""
    try:
        result = fn(*args, **kwargs)
    except AuthError as e:
        check(True, f"{label}: raises ({type(e).__name__})")
        return e
    raise Mismatch(f"{label}: raises an AuthApiError\n  got: a result: {_show(result)}")


def explain_no_session(label: str, path_suffix: str) -> str:
    """Why the client parsed no Session from the last response: pydantic's own words."""
    ex = last_exchange("POST", path_suffix)
    if not ex or "res_body" not in ex:
        return "(no response recorded)"
    try:
        Session.model_validate_json(ex["res_body"])
        return "(the body validates as a Session)"
    except Exception as e:  # pydantic.ValidationError
        return f"the response body does not validate as supabase_auth.types.Session: {e}"


def check_session(resp, label: str) -> Session:
    session = getattr(resp, "session", None)
    check(session is not None, f"{label}: a session is returned", explain_no_session(label, ""))
    check(bool(session.access_token), f"{label}: session has an access_token", session)
    check(bool(session.refresh_token), f"{label}: session has a refresh_token", session)
    check(session.token_type == "bearer", f'{label}: token_type is "bearer"', session.token_type)
    check(isinstance(session.expires_in, int) and session.expires_in > 0, f"{label}: expires_in is positive", session.expires_in)
    check(
        isinstance(session.expires_at, int) and session.expires_at > time.time(),
        f"{label}: expires_at is a unix time in the future",
        session.expires_at,
    )
    return session


def check_claims(token: str, user: User, label: str) -> dict:
    c = jwt_claims(token)
    check(c.get("sub") == user.id, f"{label}: access token sub is the user id", c)
    check(c.get("role") == "authenticated", f'{label}: access token role is "authenticated"', c.get("role"))
    aud = c.get("aud")
    check(
        aud == "authenticated" or (isinstance(aud, list) and "authenticated" in aud),
        f'{label}: access token aud is "authenticated"',
        aud,
    )
    check(isinstance(c.get("session_id"), str) and c["session_id"], f"{label}: access token carries a session_id", c)
    check(isinstance(c.get("exp"), int) and c["exp"] > time.time(), f"{label}: access token exp is in the future", c.get("exp"))
    return c


def check_metadata_subset(meta, expected: dict, label: str) -> None:
    for k, v in expected.items():
        check(isinstance(meta, dict) and meta.get(k) == v, f"{label}: user_metadata.{k} is {json.dumps(v)}", meta)


def check_invalid_credentials(e: BaseException, label: str) -> None:
    check(isinstance(e, AuthApiError), f"{label}: the error is an AuthApiError", err_info(e))
    check(e.status == 400, f"{label}: status 400", err_info(e))
    check(e.code == "invalid_credentials", f'{label}: code "invalid_credentials"', err_info(e))


def main() -> None:
    rand = secrets.token_hex(4)
    email = f"interop-py-{rand}@example.com"
    password1 = f"first-Password-{rand}"
    password2 = f"second-Password-{rand}"
    metadata1 = {"display_name": "Ada", "team": "argus"}

    print(f"supabase-auth {SUPABASE_AUTH_VERSION} scenario against {BASE}", flush=True)
    # The client's own default transport, plus hooks that record each exchange.
    http = httpx.Client(
        follow_redirects=True,
        http2=True,
        timeout=30,
        event_hooks={"request": [_on_request], "response": [_on_response]},
    )
    client = SyncGoTrueClient(
        url=f"{BASE}/auth/v1",
        headers={"apikey": ANON_KEY, "Authorization": f"Bearer {ANON_KEY}"},
        auto_refresh_token=False,
        persist_session=False,
        http_client=http,
    )

    # ---- sign_up ----
    step("sign_up (email, password, data)")
    resp = call(
        "sign_up",
        client.sign_up,
        {"email": email, "password": password1, "options": {"data": metadata1}},
    )
    check(last_exchange("POST", "/auth/v1/signup") is not None, "sign_up: POST /auth/v1/signup was sent", step_urls())
    session = check_session(resp, "sign_up (auto-confirmed)")
    user = resp.user
    check(user is not None and re.fullmatch(r"[0-9a-f-]{36}", user.id or ""), "sign_up: user.id is a UUID", user)
    check(user.email == email, "sign_up: user.email is the address signed up with", user.email)
    check(user.aud == "authenticated", 'sign_up: user.aud is "authenticated"', user.aud)
    check(user.app_metadata.get("provider") == "email", 'sign_up: app_metadata.provider is "email"', user.app_metadata)
    check_metadata_subset(user.user_metadata, metadata1, "sign_up")
    check_claims(session.access_token, user, "sign_up")

    # ---- wrong password ----
    step("sign_in_with_password with a wrong password")
    e = call_failing("wrong password", client.sign_in_with_password, {"email": email, "password": "wrong-" + password1})
    check_invalid_credentials(e, "wrong password")

    # ---- sign_in_with_password ----
    step("sign_in_with_password")
    resp = call("sign_in_with_password", client.sign_in_with_password, {"email": email, "password": password1})
    signed_in = check_session(resp, "sign_in_with_password")
    check(resp.user is not None and resp.user.id == user.id, "sign_in_with_password: the same user", resp.user)
    check_claims(signed_in.access_token, user, "sign_in_with_password")

    # ---- refresh_session ----
    step("refresh_session")
    resp = call("refresh_session", client.refresh_session)
    check(last_exchange("POST", "/auth/v1/token") is not None, "refresh_session: POST /auth/v1/token?grant_type=refresh_token was sent", step_urls())
    refreshed = check_session(resp, "refresh_session")
    check(
        refreshed.refresh_token != signed_in.refresh_token,
        "refresh_session: the refresh token rotated (new one differs)",
        {"old": signed_in.refresh_token, "new": refreshed.refresh_token},
    )
    check(resp.user is not None and resp.user.id == user.id, "refresh_session: the same user", resp.user)
    before = jwt_claims(signed_in.access_token)
    after = check_claims(refreshed.access_token, user, "refresh_session")
    check(
        after.get("session_id") == before.get("session_id"),
        "refresh_session: the same session_id as before the refresh",
        {"before": before.get("session_id"), "after": after.get("session_id")},
    )

    # ---- get_user ----
    step("get_user")
    resp = call("get_user", client.get_user)
    ex = last_exchange("GET", "/auth/v1/user")
    check(
        ex is not None and ex["req_headers"].get("authorization") == f"Bearer {refreshed.access_token}",
        "get_user: GET /auth/v1/user was sent with the refreshed access token",
        ex and _redact(ex["req_headers"]),
    )
    check(resp is not None and resp.user.id == user.id, "get_user: the same user id", resp)
    check(resp.user.email == email, "get_user: the same email", resp.user.email)
    check_metadata_subset(resp.user.user_metadata, metadata1, "get_user")

    # ---- update_user ----
    step("update_user (data and password)")
    patch = {"display_name": "Ada L.", "plan": "pro"}
    resp = call("update_user", client.update_user, {"password": password2, "data": patch})
    check(last_exchange("PUT", "/auth/v1/user") is not None, "update_user: PUT /auth/v1/user was sent", step_urls())
    check(resp.user.id == user.id, "update_user: the same user", resp.user)
    check_metadata_subset(resp.user.user_metadata, patch, "update_user")
    # GoTrue merges `data` into user_metadata key by key (UpdateUserMetaData).
    check_metadata_subset(resp.user.user_metadata, {"team": metadata1["team"]}, "update_user (keys not in the patch are kept)")
    resp = call("get_user after update_user", client.get_user)
    check_metadata_subset(resp.user.user_metadata, {**metadata1, **patch}, "get_user after update_user")

    step("sign_in_with_password with the old password")
    e = call_failing("old password after update_user", client.sign_in_with_password, {"email": email, "password": password1})
    check_invalid_credentials(e, "old password after update_user")

    step("sign_in_with_password with the new password")
    resp = call("new password", client.sign_in_with_password, {"email": email, "password": password2})
    current = check_session(resp, "new password")
    check(resp.user is not None and resp.user.id == user.id, "new password: the same user", resp.user)
    check_claims(current.access_token, user, "new password")

    # ---- sign_out (global) ----
    step("sign_out (scope global)")
    call("sign_out", client.sign_out)
    # The client ignores 401/403/404 on sign-out, so look at the raw answer.
    ex = last_exchange("POST", "/auth/v1/logout")
    check(
        ex is not None and httpx.URL(ex["url"]).params.get("scope") == "global",
        "sign_out: POST /auth/v1/logout?scope=global was sent",
        step_urls(),
    )
    check(ex.get("status") == 204, "sign_out: the server answered 204", f"{ex.get('status')} {ex.get('res_body')}")
    check(client.get_session() is None, "sign_out: the client holds no session any more", client.get_session())

    step("refresh_session with refresh tokens of the signed-out user")
    dead = ("refresh_token_not_found", "refresh_token_already_used", "session_not_found", "session_expired")
    for label, token in (
        ("the last session's refresh token", current.refresh_token),
        ("an earlier session's refresh token", refreshed.refresh_token),
    ):
        e = call_failing(f"refresh with {label}", client.refresh_session, token)
        check(isinstance(e, AuthApiError) and e.status == 400, f"refresh with {label}: AuthApiError status 400", err_info(e))
        check(
            e.code in dead,
            f'refresh with {label}: code "{e.code}" is one of {", ".join(dead)} (GoTrue: refresh_token_not_found)',
            err_info(e),
        )

    step("get_user with the signed-out access token")
    e = call_failing("get_user(old access token)", client.get_user, current.access_token)
    check(
        isinstance(e, AuthApiError) and e.status == 403 and e.code == "session_not_found",
        "get_user(old access token): AuthApiError 403 session_not_found",
        err_info(e),
    )

    print(f"supabase-auth scenario: all {checks} checks passed", flush=True)


def _watchdog() -> None:
    print(
        f"FAIL: the scenario did not finish within {WATCHDOG_S:.0f} s (step: {step_name})",
        file=sys.stderr,
        flush=True,
    )
    print("HTTP exchanges of this step:", file=sys.stderr)
    for ex in exchanges[step_start:]:
        print(describe(ex), file=sys.stderr)
    sys.stderr.flush()
    os._exit(2)


if __name__ == "__main__":
    if not BASE or not ANON_KEY:
        print(
            "usage: ARGUS_URL=http://127.0.0.1:PORT ARGUS_ANON_KEY=<anon JWT> python supabase_py_scenario.py",
            file=sys.stderr,
        )
        sys.exit(2)
    timer = threading.Timer(WATCHDOG_S, _watchdog)
    timer.daemon = True
    timer.start()
    try:
        main()
    except Mismatch as e:
        print(f'FAIL in step "{step_name}": expected {e}', file=sys.stderr)
    except Exception as e:  # the client itself blew up (a parse error, a network error)
        import traceback

        print(f'FAIL in step "{step_name}": the client raised {type(e).__name__}: {e}', file=sys.stderr)
        traceback.print_exc()
    else:
        timer.cancel()
        sys.exit(0)
    timer.cancel()
    print(f"HTTP exchanges of this step ({len(exchanges) - step_start}):", file=sys.stderr)
    for ex in exchanges[step_start:]:
        print(describe(ex), file=sys.stderr)
    sys.exit(1)
