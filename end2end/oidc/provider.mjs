// A real OpenID Provider for Slipway's tests: panva's `oidc-provider` (OpenID Certified),
// started on loopback with a small login form, users in different groups, PKCE required,
// RP-initiated logout on. Not a mock: discovery, JWKS, code exchange, ID token signing and
// every refusal are the library's own.
//
//   node provider.mjs --port 0 --redirect-uri URL --post-logout-uri URL
//
// Prints one JSON line `{"ready":true,"issuer":"http://127.0.0.1:PORT"}` when it listens.
// A new RSA signing key is generated at each start (restarting it is a key rotation).
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'post-logout-uri': { type: 'string', multiple: true, default: [] },
    'client-id': { type: 'string', default: 'slipway' },
    'client-secret': { type: 'string', default: 'slipway-test-secret' },
  },
});

// Test users. `nogroups` has no groups claim at all.
const USERS = {
  alice: { password: 'alice-pw', name: 'Alice Archer', email: 'alice@example.com', groups: ['team-a'] },
  bob: { password: 'bob-pw', name: 'Bob Builder', email: 'bob@example.com', groups: ['team-b'] },
  carol: { password: 'carol-pw', name: 'Carol Chen', email: 'carol@example.com', groups: ['team-a', 'team-b', 'unrelated-group'] },
  pat: { password: 'pat-pw', name: 'Pat Platform', email: 'pat@example.com', groups: ['platform-admins'] },
  nogroups: { password: 'nogroups-pw', name: 'Nora Nogroups', email: 'nora@example.com' },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      post_logout_redirect_uris: args['post-logout-uri'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomUUID()] },
  // PKCE for every client, not only public ones.
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Put the scope-granted claims into the ID token as well, as Keycloak, Dex and Entra do.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // The confirmation step, answered "yes" for the user: the form submits itself with
      // logout=yes, which ends the provider's session too.
      logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><title>Signing out</title>${form}
          <script>
            const f = document.forms[0];
            f.append(Object.assign(document.createElement('input'), { type: 'hidden', name: 'logout', value: 'yes' }));
            f.submit();
          </script>`;
      },
    },
  },
  async findAccount(ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id, name: user.name, preferred_username: id, email: user.email, email_verified: true };
        if (user.groups) claims.groups = user.groups;
        return claims;
      },
    };
  },
  // First-party client: grant what it asks for instead of showing a consent screen.
  async loadExistingGrant(ctx) {
    const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const loginPage = (uid, error) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><h1>Test identity provider</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!match) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(details.uid));
    }
    const form = await readForm(req);
    const username = form.get('username');
    const user = USERS[username];
    if (!user || user.password !== form.get('password')) {
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(details.uid, 'Wrong username or password.'));
    }
    await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  }
});

// Whoever started us may stop reading our output; that must not kill the provider.
process.stdout.on('error', () => {});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
console.log(JSON.stringify({ ready: true, issuer }));
