// An OpenID Connect provider on loopback for the interop tests: npm
// `oidc-provider` (9.x) with one confidential client and one account, and
// interactions that sign that account in and grant consent without any form,
// so a plain HTTP client that follows redirects (and keeps cookies) completes
// the authorization code flow.
//
//   node oidc_provider.mjs --client-id ID --client-secret SECRET \
//        --redirect-uri http://127.0.0.1:PORT/auth/v1/callback [--port 0] \
//        [--sub SUB] [--email EMAIL] [--name NAME]
//
// Every option may come from the environment instead: OIDC_CLIENT_ID,
// OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma-separated), OIDC_PORT,
// OIDC_ACCOUNT_SUB, OIDC_ACCOUNT_EMAIL, OIDC_ACCOUNT_NAME. The port defaults to
// 0 (a free one). Once it listens it prints `issuer http://127.0.0.1:PORT` on
// stdout; it logs one line per request on stderr and exits 0 on SIGTERM or
// SIGINT.
//
// The client uses token_endpoint_auth_method client_secret_post, response type
// `code` and the grant type authorization_code. The account's claims: sub,
// email, email_verified (true) and name (scopes openid, email and profile).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

function fail(message) {
  console.error(`oidc_provider.mjs: ${message}`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      port: { type: 'string' },
      sub: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  }));
} catch (e) {
  fail(e.message);
}

const env = process.env;
const clientId = args['client-id'] ?? env.OIDC_CLIENT_ID;
const clientSecret = args['client-secret'] ?? env.OIDC_CLIENT_SECRET;
const redirectUris = args['redirect-uri'] ?? (env.OIDC_REDIRECT_URIS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const port = Number(args.port ?? env.OIDC_PORT ?? 0);
const account = {
  sub: args.sub ?? env.OIDC_ACCOUNT_SUB ?? 'oidc-user-1',
  email: args.email ?? env.OIDC_ACCOUNT_EMAIL ?? 'oidc.user@example.com',
  name: args.name ?? env.OIDC_ACCOUNT_NAME ?? 'OIDC Test User',
};
if (!clientId || !clientSecret) fail('the client id and secret are required (--client-id/--client-secret or OIDC_CLIENT_ID/OIDC_CLIENT_SECRET)');
if (!redirectUris.length) fail('at least one redirect URI is required (--redirect-uri or OIDC_REDIRECT_URIS)');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port ${port} is not a port number`);

// Listen first: the issuer names the port, and the port may be chosen by the OS.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

// A fresh signing key per run (ID tokens default to RS256), instead of the
// library's development key set.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'interop-rs256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_post',
      response_types: ['code'],
      grant_types: ['authorization_code'],
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: { devInteractions: { enabled: false } },
  ttl: { AccessToken: 3600, AuthorizationCode: 600, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  async findAccount(_ctx, sub) {
    if (sub !== account.sub) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: true, name: account.name };
      },
    };
  },
});

// GET /interaction/:uid answers each prompt at once: `login` signs the one
// account in, `consent` grants what the client asked for.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }
  res.statusCode = 400;
  res.setHeader('content-type', 'text/plain');
  res.end(`oidc_provider.mjs: no automatic answer for the prompt ${prompt.name}`);
}

const oidc = provider.callback();
server.on('request', (req, res) => {
  res.on('finish', () => console.error(`${req.method} ${req.url} -> ${res.statusCode} ${res.getHeader('location') ?? ''}`));
  if (req.method === 'GET' && /^\/interaction\/[^/?]+(\?|$)/.test(req.url)) {
    interaction(req, res).catch((e) => {
      console.error(`interaction failed: ${e.stack ?? e}`);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'text/plain');
      }
      res.end(`interaction failed: ${e.message}`);
    });
    return;
  }
  oidc(req, res);
});

provider.on('server_error', (_ctx, e) => console.error(`server_error: ${e.stack ?? e}`));

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

console.log(`issuer ${issuer}`);
