// The official supabase-js client, unchanged, against a running argus-server.
//
//   ARGUS_URL=http://127.0.0.1:PORT ARGUS_ANON_KEY=<anon JWT> \
//     node --experimental-websocket supabase_js_scenario.mjs
//
// (Node 20: supabase-js's realtime part needs a global WebSocket, hence the flag;
// Node 22+ has one built in.)
//
// Scenario: signUp (email + password + user metadata), a wrong password,
// signInWithPassword, refreshSession (the refresh token rotates), getUser,
// updateUser (metadata and password; the new password signs in, the old one
// fails), signOut (global; the old refresh tokens and access token are dead).
//
// Prints one line per check. On the first mismatch it prints what was expected,
// what came back, and the HTTP exchanges (request and response) behind it, then
// exits 1. Exit 2: bad usage or a hung client (watchdog).

import { createClient, isAuthApiError, isAuthSessionMissingError } from '@supabase/supabase-js';

const BASE = process.env.ARGUS_URL;
const ANON_KEY = process.env.ARGUS_ANON_KEY;
const WATCHDOG_MS = Number(process.env.ARGUS_INTEROP_TIMEOUT_MS || 90_000);

if (!BASE || !ANON_KEY) {
  console.error('usage: ARGUS_URL=http://127.0.0.1:PORT ARGUS_ANON_KEY=<anon JWT> node --experimental-websocket supabase_js_scenario.mjs');
  process.exit(2);
}

// ---- every HTTP exchange, so that a mismatch can show what was sent and received ----
const exchanges = [];

async function recordingFetch(input, init = {}) {
  const url = typeof input === 'string' ? input : input.url ?? String(input);
  const method = (init.method || (typeof input === 'object' && input.method) || 'GET').toUpperCase();
  const reqHeaders = {};
  new Headers(init.headers || {}).forEach((v, k) => { reqHeaders[k] = v; });
  const ex = { method, url, reqHeaders, reqBody: typeof init.body === 'string' ? init.body : init.body ? '<non-string body>' : null };
  exchanges.push(ex);
  let res;
  try {
    res = await fetch(input, init);
  } catch (e) {
    ex.networkError = String(e && e.cause ? `${e} (${e.cause})` : e);
    throw e;
  }
  ex.status = res.status;
  ex.resHeaders = {};
  res.headers.forEach((v, k) => { ex.resHeaders[k] = v; });
  try {
    ex.resBody = await res.clone().text();
  } catch (e) {
    ex.resBody = `<unreadable: ${e}>`;
  }
  return res;
}

function redact(headers) {
  const out = { ...headers };
  for (const k of ['apikey', 'authorization']) {
    if (out[k]) out[k] = out[k].slice(0, 16) + '...';
  }
  return out;
}

function describe(ex) {
  const lines = [`  > ${ex.method} ${ex.url}`, `    request headers: ${JSON.stringify(redact(ex.reqHeaders))}`];
  if (ex.reqBody != null) lines.push(`    request body: ${ex.reqBody}`);
  if (ex.networkError) {
    lines.push(`  < network error: ${ex.networkError}`);
  } else {
    lines.push(`  < ${ex.status}`, `    response headers: ${JSON.stringify(ex.resHeaders)}`, `    response body: ${ex.resBody}`);
  }
  return lines.join('\n');
}

class Mismatch extends Error {}

let checks = 0;
let stepStart = 0; // index into exchanges where the current step began
let stepName = '(start)';

function step(name) {
  stepName = name;
  stepStart = exchanges.length;
  console.log(`-- ${name}`);
}

function check(cond, what, got) {
  if (!cond) {
    throw new Mismatch(`${what}\n  got: ${typeof got === 'string' ? got : JSON.stringify(got, errorReplacer)}`);
  }
  checks += 1;
  console.log(`  ok: ${what}`);
}

function errorReplacer(_k, v) {
  if (v instanceof Error) return { name: v.name, message: v.message, status: v.status, code: v.code };
  return v;
}

function errInfo(error) {
  return error ? { name: error.name, message: error.message, status: error.status, code: error.code } : null;
}

function lastExchange(method, pathPart) {
  for (let i = exchanges.length - 1; i >= stepStart; i--) {
    const ex = exchanges[i];
    if (ex.method === method && new URL(ex.url).pathname.endsWith(pathPart)) return ex;
  }
  return null;
}

function jwtClaims(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Mismatch(`access token is not a JWS compact token: ${String(token).slice(0, 40)}...`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

function checkSession(session, label) {
  check(session != null,
    `${label}: a session is returned (supabase-js needs access_token, refresh_token and expires_in in the body)`, session);
  check(typeof session.access_token === 'string' && session.access_token.length > 0,
    `${label}: session has an access_token`, session);
  check(typeof session.refresh_token === 'string' && session.refresh_token.length > 0,
    `${label}: session has a refresh_token`, session);
  check(session.token_type === 'bearer', `${label}: token_type is "bearer"`, session.token_type);
  check(Number.isInteger(session.expires_in) && session.expires_in > 0, `${label}: expires_in is a positive integer`, session.expires_in);
  check(Number.isInteger(session.expires_at) && session.expires_at > Date.now() / 1000,
    `${label}: expires_at is a unix time in the future`, session.expires_at);
}

function checkClaims(token, user, label) {
  const c = jwtClaims(token);
  check(c.sub === user.id, `${label}: access token sub is the user id`, c);
  check(c.role === 'authenticated', `${label}: access token role is "authenticated"`, c.role);
  check(c.aud === 'authenticated' || (Array.isArray(c.aud) && c.aud.includes('authenticated')),
    `${label}: access token aud is "authenticated"`, c.aud);
  check(typeof c.session_id === 'string' && c.session_id.length > 0, `${label}: access token carries a session_id`, c);
  check(Number.isInteger(c.exp) && c.exp > Date.now() / 1000, `${label}: access token exp is in the future`, c.exp);
  return c;
}

function checkMetadataSubset(meta, expected, label) {
  for (const [k, v] of Object.entries(expected)) {
    check(meta && JSON.stringify(meta[k]) === JSON.stringify(v),
      `${label}: user_metadata.${k} is ${JSON.stringify(v)}`, meta);
  }
}

function checkInvalidCredentials(data, error, label) {
  check(error != null, `${label}: returns an error`, { data, error: errInfo(error) });
  check(isAuthApiError(error), `${label}: the error is an AuthApiError`, errInfo(error));
  check(error.status === 400, `${label}: status 400`, errInfo(error));
  check(error.code === 'invalid_credentials', `${label}: code "invalid_credentials"`, errInfo(error));
  check(data && data.session == null, `${label}: no session`, data);
}

const rand = Math.random().toString(36).slice(2, 10);
const email = `interop-js-${rand}@example.com`;
const password1 = `first-Password-${rand}`;
const password2 = `second-Password-${rand}`;
const metadata1 = { display_name: 'Ada', team: 'argus' };

async function main() {
  console.log(`supabase-js scenario against ${BASE}`);
  const supabase = createClient(BASE, ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { fetch: recordingFetch },
  });

  // ---- signUp ----
  step('signUp (email, password, data)');
  let { data, error } = await supabase.auth.signUp({ email, password: password1, options: { data: metadata1 } });
  check(error == null, 'signUp: no error', errInfo(error));
  const signupEx = lastExchange('POST', '/auth/v1/signup');
  check(signupEx != null, 'signUp: POST /auth/v1/signup was sent', exchanges.map((e) => `${e.method} ${e.url}`));
  checkSession(data.session, 'signUp (auto-confirmed)');
  const user = data.user;
  check(user && typeof user.id === 'string' && /^[0-9a-f-]{36}$/.test(user.id), 'signUp: user.id is a UUID', user);
  check(user.email === email, 'signUp: user.email is the address signed up with', user.email);
  check(user.aud === 'authenticated', 'signUp: user.aud is "authenticated"', user.aud);
  check(user.app_metadata && user.app_metadata.provider === 'email', 'signUp: app_metadata.provider is "email"', user.app_metadata);
  checkMetadataSubset(user.user_metadata, metadata1, 'signUp');
  checkClaims(data.session.access_token, user, 'signUp');

  // ---- wrong password ----
  step('signInWithPassword with a wrong password');
  ({ data, error } = await supabase.auth.signInWithPassword({ email, password: `wrong-${password1}` }));
  checkInvalidCredentials(data, error, 'wrong password');

  // ---- signInWithPassword ----
  step('signInWithPassword');
  ({ data, error } = await supabase.auth.signInWithPassword({ email, password: password1 }));
  check(error == null, 'signInWithPassword: no error', errInfo(error));
  checkSession(data.session, 'signInWithPassword');
  check(data.user && data.user.id === user.id, 'signInWithPassword: the same user', data.user);
  checkClaims(data.session.access_token, user, 'signInWithPassword');
  const signedIn = data.session;

  // ---- refreshSession ----
  step('refreshSession');
  ({ data, error } = await supabase.auth.refreshSession());
  check(error == null, 'refreshSession: no error', errInfo(error));
  check(lastExchange('POST', '/auth/v1/token') != null, 'refreshSession: POST /auth/v1/token?grant_type=refresh_token was sent',
    exchanges.slice(stepStart).map((e) => `${e.method} ${e.url}`));
  checkSession(data.session, 'refreshSession');
  check(data.session.refresh_token !== signedIn.refresh_token, 'refreshSession: the refresh token rotated (new one differs)',
    { old: signedIn.refresh_token, new: data.session.refresh_token });
  check(data.user && data.user.id === user.id, 'refreshSession: the same user', data.user);
  const claimsBefore = jwtClaims(signedIn.access_token);
  const claimsAfter = checkClaims(data.session.access_token, user, 'refreshSession');
  check(claimsAfter.session_id === claimsBefore.session_id, 'refreshSession: the same session_id as before the refresh',
    { before: claimsBefore.session_id, after: claimsAfter.session_id });
  const refreshed = data.session;

  // ---- getUser ----
  step('getUser');
  ({ data, error } = await supabase.auth.getUser());
  check(error == null, 'getUser: no error', errInfo(error));
  const getUserEx = lastExchange('GET', '/auth/v1/user');
  check(getUserEx && getUserEx.reqHeaders.authorization === `Bearer ${refreshed.access_token}`,
    'getUser: GET /auth/v1/user was sent with the refreshed access token', getUserEx && redact(getUserEx.reqHeaders));
  check(data.user && data.user.id === user.id, 'getUser: the same user id', data.user);
  check(data.user.email === email, 'getUser: the same email', data.user.email);
  checkMetadataSubset(data.user.user_metadata, metadata1, 'getUser');

  // ---- updateUser ----
  step('updateUser (data and password)');
  const metadataPatch = { display_name: 'Ada L.', plan: 'pro' };
  ({ data, error } = await supabase.auth.updateUser({ password: password2, data: metadataPatch }));
  check(error == null, 'updateUser: no error', errInfo(error));
  check(lastExchange('PUT', '/auth/v1/user') != null, 'updateUser: PUT /auth/v1/user was sent',
    exchanges.slice(stepStart).map((e) => `${e.method} ${e.url}`));
  check(data.user && data.user.id === user.id, 'updateUser: the same user', data.user);
  checkMetadataSubset(data.user.user_metadata, metadataPatch, 'updateUser');
  // GoTrue merges `data` into user_metadata key by key (UpdateUserMetaData).
  checkMetadataSubset(data.user.user_metadata, { team: metadata1.team }, 'updateUser (keys not in the patch are kept)');

  ({ data, error } = await supabase.auth.getUser());
  check(error == null, 'getUser after updateUser: no error', errInfo(error));
  checkMetadataSubset(data.user && data.user.user_metadata, { ...metadata1, ...metadataPatch }, 'getUser after updateUser');

  step('signInWithPassword with the old password');
  ({ data, error } = await supabase.auth.signInWithPassword({ email, password: password1 }));
  checkInvalidCredentials(data, error, 'old password after updateUser');

  step('signInWithPassword with the new password');
  ({ data, error } = await supabase.auth.signInWithPassword({ email, password: password2 }));
  check(error == null, 'new password: no error', errInfo(error));
  checkSession(data.session, 'new password');
  check(data.user && data.user.id === user.id, 'new password: the same user', data.user);
  checkClaims(data.session.access_token, user, 'new password');
  const current = data.session;

  // ---- signOut (global) ----
  step('signOut (scope global)');
  ({ error } = await supabase.auth.signOut());
  check(error == null, 'signOut: no error', errInfo(error));
  // The client ignores 401/403/404 on sign-out, so look at the raw answer.
  const logoutEx = lastExchange('POST', '/auth/v1/logout');
  check(logoutEx != null && new URL(logoutEx.url).searchParams.get('scope') === 'global',
    'signOut: POST /auth/v1/logout?scope=global was sent', logoutEx && logoutEx.url);
  check(logoutEx.status === 204, 'signOut: the server answered 204', logoutEx.status);
  ({ data } = await supabase.auth.getSession());
  check(data.session == null, 'signOut: the client holds no session any more', data.session);

  step('refreshSession with refresh tokens of the signed-out user');
  const deadRefresh = ['refresh_token_not_found', 'refresh_token_already_used', 'session_not_found', 'session_expired'];
  for (const [label, token] of [['the last session\'s refresh token', current.refresh_token],
                                ['an earlier session\'s refresh token', refreshed.refresh_token]]) {
    ({ data, error } = await supabase.auth.refreshSession({ refresh_token: token }));
    check(error != null, `refresh with ${label}: fails`, { data, error: errInfo(error) });
    check(isAuthApiError(error) && error.status === 400,
      `refresh with ${label}: AuthApiError status 400`, errInfo(error));
    check(deadRefresh.includes(error.code),
      `refresh with ${label}: code "${error.code}" is one of ${deadRefresh.join(', ')} (GoTrue: refresh_token_not_found)`, errInfo(error));
    check(data.session == null, `refresh with ${label}: no session`, data);
  }

  step('getUser with the signed-out access token');
  ({ data, error } = await supabase.auth.getUser(current.access_token));
  check(error != null && data.user == null, 'getUser(old access token): fails', { data, error: errInfo(error) });
  // auth-js turns 403 session_not_found into AuthSessionMissingError; check the raw answer too.
  check(isAuthSessionMissingError(error), 'getUser(old access token): AuthSessionMissingError', errInfo(error));
  const deadUserEx = lastExchange('GET', '/auth/v1/user');
  check(deadUserEx != null, 'getUser(old access token): GET /auth/v1/user was sent', exchanges.slice(stepStart).map((e) => `${e.method} ${e.url}`));
  let deadBody = null;
  try { deadBody = JSON.parse(deadUserEx.resBody); } catch { /* shown below */ }
  check(deadUserEx.status === 403 && deadBody && (deadBody.code === 'session_not_found' || deadBody.error_code === 'session_not_found'),
    'getUser(old access token): the server answered 403 session_not_found', `${deadUserEx.status} ${deadUserEx.resBody}`);

  console.log(`supabase-js scenario: all ${checks} checks passed`);
}

const watchdog = setTimeout(() => {
  console.error(`FAIL: the scenario did not finish within ${WATCHDOG_MS} ms (step: ${stepName}); the client may be retrying`);
  console.error('HTTP exchanges of this step:');
  for (const ex of exchanges.slice(stepStart)) console.error(describe(ex));
  process.exit(2);
}, WATCHDOG_MS);

main().then(
  () => {
    clearTimeout(watchdog);
    process.exit(0);
  },
  (e) => {
    clearTimeout(watchdog);
    if (e instanceof Mismatch) {
      console.error(`FAIL in step "${stepName}": expected ${e.message}`);
    } else {
      console.error(`FAIL in step "${stepName}": the client threw: ${e && e.stack ? e.stack : e}`);
    }
    console.error(`HTTP exchanges of this step (${exchanges.length - stepStart}):`);
    for (const ex of exchanges.slice(stepStart)) console.error(describe(ex));
    process.exit(1);
  },
);
