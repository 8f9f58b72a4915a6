// A real OpenID provider (npm oidc-provider, OpenID-certified) for the SSO
// tests. Started per test by ditto-testkit (`oidc::OidcProvider`):
//
//   PORT=…  REDIRECT_URI=http://127.0.0.1:…/api/v1/auth/sso/callback  node provider.mjs
//
// Issuer http://127.0.0.1:PORT. Clients (secret: `<client_id>-secret`),
// all with the redirect URI above, authorization code only, PKCE required:
//   ditto          a well-behaved client
//   ditto-other    a second client, for audience tests
//   ditto-aud      its ID tokens are re-signed for audience `someone-else`
//   ditto-expired  its ID tokens are re-signed already expired
//   ditto-nonce    its ID tokens are re-signed without their nonce
//   ditto-badsig   its ID tokens are signed by a key not in the key set
// The re-signed tokens use the provider's own key (except ditto-badsig),
// so only the one claim named is wrong.
//
// Accounts: the devInteractions login form accepts any login; its claims are
// `<login>@acme.example` (verified), name = login, no groups, unless a test
// set them with `POST /__test/accounts {"login": …, "claims": {…}}`.
// By default the ID token carries only `sub` (and nonce): email, name and
// groups come from userinfo, as with many real providers.

import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.PORT);
const redirectUri = process.env.REDIRECT_URI;
if (!port || !redirectUri) {
  console.error('PORT and REDIRECT_URI are required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'provider-key', alg: 'RS256', use: 'sig' };
const { privateKey: strangerKey } = await jose.generateKeyPair('RS256');

const accounts = new Map();

const client = (clientId) => ({
  client_id: clientId,
  client_secret: `${clientId}-secret`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: ['ditto', 'ditto-other', 'ditto-aud', 'ditto-expired', 'ditto-nonce', 'ditto-badsig'].map(client),
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['ditto-test-cookie-key-0123456789'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  async findAccount(ctx, id) {
    const claims = accounts.get(id) ?? { email: `${id}@acme.example`, email_verified: true, name: id };
    return {
      accountId: id,
      async claims() {
        return { ...claims, sub: id };
      },
    };
  },
});

async function resign(token, change, key = privateKey) {
  const payload = jose.decodeJwt(token);
  change(payload);
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: 'provider-key' })
    .sign(key);
}

const now = () => Math.floor(Date.now() / 1000);
const tamper = {
  'ditto-aud': (t) => resign(t, (p) => { p.aud = 'someone-else'; }),
  'ditto-expired': (t) => resign(t, (p) => { p.iat = now() - 3600; p.exp = now() - 1800; }),
  'ditto-nonce': (t) => resign(t, (p) => { delete p.nonce; }),
  'ditto-badsig': (t) => resign(t, () => {}, strangerKey),
};

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/accounts' && ctx.method === 'POST') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const { login, claims } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    accounts.set(login, claims);
    ctx.status = 204;
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
    const change = tamper[ctx.oidc?.client?.clientId];
    if (change) {
      ctx.body = { ...ctx.body, id_token: await change(ctx.body.id_token) };
    }
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
