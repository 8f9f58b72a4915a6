// The console's settings pages in a real browser: single sign-on (an OIDC
// connection made in the form, then a sign-in through the real
// oidc-provider ending signed in as the user it made), domains, enforced
// SSO, SCIM tokens, backends and routes, the platform operator's tenants,
// the tenant's settings and an authenticator set up from its QR code. Every
// page carries a Content-Security-Policy with a fresh nonce, and no step may
// break it. Run by e2e/console_settings.sh, which starts the server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { totp } from './totp.mjs';

const BASE = process.env.DITTO_URL;
const TOKEN = process.env.DITTO_TOKEN;
const MOCK = process.env.MOCK_URL;
const OIDC = process.env.OIDC_URL;
const SHOTS = process.env.SHOTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(SHOTS, { recursive: true });

async function api(method, p, body) {
  const res = await fetch(`${BASE}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const PASSWORD = 'correct horse battery staple 42';

// ditto-testkit's SAML metadata fixture (server/testkit/src/saml.rs): an
// identity provider whose key was thrown away; enough to create a connection.
const SAML_METADATA = `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:ditto:test:fixture-idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>MIIBjjCCATOgAwIBAgIUJzJUzKakuJ5a5uWoJMiONWtay5QwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRZGl0dG8tZml4dHVyZS1pZHAwHhcNMjYxMTI2MTQ0MDAzWhcNMzYxMTIzMTQ0MDAzWjAcMRowGAYDVQQDDBFkaXR0by1maXh0dXJlLWlkcDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABH6tYqrjtnhMvX5oiQrsZMYbT/RWIQP0IoFwYqQbj83Jsa5fnlPR0gJLfpdxgHEqa4USlajiW1il56BlyCh5GhujUzBRMB0GA1UdDgQWBBQ7KX57GBruXsftak5w+CehtQ7yATAfBgNVHSMEGDAWgBQ7KX57GBruXsftak5w+CehtQ7yATAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCJ8MAHKwgo5PAHPTWwOVbrfmWfK2gJ0RuAr0wcQ8FvbQIhAI6pOYHliFZaEVnQSwEdKSAtAE4cQdfvtQJtSlOZaaOv</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://127.0.0.1:9/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
await api('POST', '/tenants', { slug: 'globex', name: 'Globex' });
async function person(email, name, role) {
  const user = await api('POST', '/tenants/globex/users', { email, display_name: name });
  await api('PUT', `/tenants/globex/users/${user.id}/password`, { password: PASSWORD, must_change: false });
  await api('POST', '/tenants/globex/role-bindings', { role, subject_type: 'user', subject_id: user.id });
  return user;
}
await person('gina@globex.example', 'Gina Owner', 'owner');
await person('val@globex.example', 'Val Viewer', 'viewer');
await person('tom@globex.example', 'Tom Second', 'viewer');

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
// What the Content-Security-Policy refused: Chromium's own reports, and the
// securitypolicyviolation events every page reports as console errors.
const violations = [];
async function newPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} refused ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
  }));
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/CSP violation|Content Security Policy/.test(m.text())) violations.push(`${page.url()}: ${m.text()}`);
    if (m.type() === 'error' && !/401|403|409|422|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { context, page };
}
const hydrated = (page) => page.waitForSelector('form button[type=submit]:not([disabled])');
const shot = (page, name, fullPage = false) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
let step = '';
const check = async (name, fn) => {
  step = name;
  await fn();
  assert.deepEqual(violations, [], 'no Content-Security-Policy violations');
  console.log(`ok - ${name}`);
};

async function signIn(page, tenant, email) {
  await page.goto(`${BASE}/console/sign-in`);
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Organization').fill(tenant);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/console/t/${tenant}`);
}

/** Through oidc-provider's development login and consent forms. */
async function throughProvider(page, login) {
  await page.waitForURL((u) => u.href.startsWith(OIDC));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('anything');
  await page.locator('button[type=submit]').click();
  while (page.url().startsWith(OIDC)) {
    const consent = page.locator('button[type=submit]');
    if (await consent.count()) await consent.first().click();
    await page.waitForLoadState();
    await new Promise((r) => setTimeout(r, 200));
  }
}

let backendId;
try {
  const { page } = await newPage({ width: 1280, height: 800 });

  await check('an owner signs in and finds the single sign-on page', async () => {
    await signIn(page, 'globex', 'gina@globex.example');
    await page.getByRole('link', { name: 'Single sign-on' }).click();
    await page.getByRole('heading', { name: 'Single sign-on' }).waitFor();
    await page.getByText('No connections yet').waitFor();
  });

  await check('the header names the signed-in person; pages carry a strict CSP with a fresh nonce', async () => {
    const who = page.getByTitle('Signed in as');
    await who.filter({ hasText: 'gina@globex.example' }).waitFor();
    await who.filter({ hasText: 'Gina Owner' }).waitFor();
    const nonces = [];
    for (let i = 0; i < 2; i++) {
      const res = await page.goto(`${BASE}/console/t/globex/sso`);
      const csp = res.headers()['content-security-policy'];
      const nonce = /script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})' 'wasm-unsafe-eval';/.exec(csp)?.[1];
      assert.ok(nonce, csp);
      for (const directive of ["default-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"]) {
        assert.ok(csp.includes(directive), `${directive} in ${csp}`);
      }
      assert.ok(!csp.includes('unsafe-inline'), csp);
      // The console's pages are traced like the API: the response names its request.
      assert.match(res.headers()['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
      // Every inline script carries this response's nonce, and the page hydrates.
      const inline = await page.evaluate(() => [...document.scripts].filter((s) => !s.src).map((s) => s.nonce));
      assert.ok(inline.length > 0);
      assert.deepEqual(inline, inline.map(() => nonce));
      await page.getByText('No connections yet').waitFor();
      nonces.push(nonce);
    }
    assert.notEqual(nonces[0], nonces[1], 'a nonce per response');
  });

  await check('creating an OIDC connection through the form', async () => {
    await page.getByRole('button', { name: 'New OIDC connection' }).click();
    const form = page.getByRole('form', { name: 'OpenID Connect connection' });
    await form.getByLabel('Name', { exact: true }).fill('Globex IdP');
    await form.getByLabel('Issuer').fill('http://127.0.0.1:1/nowhere');
    await form.getByLabel('Client id').fill('ditto');
    await form.getByRole('button', { name: 'Create connection' }).click();
    // The API could not fetch the discovery document: said next to the field.
    await form.locator('.field-error').first().waitFor();
    await form.getByLabel('Issuer').fill(OIDC);
    await form.getByLabel('Client secret').fill('ditto-secret');
    await form.getByLabel('Scopes').fill('openid email profile groups');
    await form.getByLabel('Group → role mappings').fill('globex-admins = admin');
    await form.getByLabel('Create accounts at first sign-in (JIT)').check();
    await shot(page, '20-sso-oidc-form');
    await form.getByRole('button', { name: 'Create connection' }).click();
    await page.getByText('Connection created').waitFor();
    await page.getByRole('cell', { name: 'Globex IdP', exact: true }).waitFor();
    const [c] = (await api('GET', '/tenants/globex/sso-connections')).items;
    assert.equal(c.issuer, OIDC);
    assert.equal(c.has_client_secret, true);
    assert.equal(c.jit_provisioning, true);
    assert.deepEqual(c.group_role_mappings, [{ group: 'globex-admins', role: 'admin' }]);
    assert.deepEqual(c.scopes, ['openid', 'email', 'profile', 'groups']);
  });

  await check('editing it keeps the write-only secret', async () => {
    await page.getByRole('button', { name: 'Edit Globex IdP' }).click();
    const form = page.getByRole('form', { name: 'OpenID Connect connection' });
    assert.equal(await form.getByLabel('Client secret').inputValue(), '');
    await form.getByLabel('Email claim').fill('email');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Connection saved').waitFor();
    const [c] = (await api('GET', '/tenants/globex/sso-connections')).items;
    assert.equal(c.has_client_secret, true);
  });

  await check('claiming a domain shows its TXT record; SCIM tokens show once', async () => {
    await page.getByRole('textbox', { name: 'Domain' }).fill('globex.example');
    await page.getByRole('button', { name: 'Claim domain' }).click();
    await page.getByRole('row', { name: /globex\.example.*pending/ }).waitFor();
    await page.getByText('_ditto-verification.globex.example').waitFor();
    await page.getByLabel('Token name').fill('Okta');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByTestId('scim-secret').textContent();
    assert.ok(secret.length > 20);
    assert.equal(await page.getByTestId('scim-base').textContent(), `${BASE}/t/globex/scim/v2`);
    // The token works at the SCIM endpoint.
    const res = await fetch(`${BASE}/t/globex/scim/v2/Users`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(res.status, 200);
    await shot(page, '21-sso', true);
    await page.getByRole('button', { name: 'Revoke Okta' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('SCIM token revoked').waitFor();
    const after = await fetch(`${BASE}/t/globex/scim/v2/Users`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(after.status, 401);
  });

  await check('enforcing SSO asks first, and gina can be a break-glass owner', async () => {
    await page.getByLabel('Refuse passwords').click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('SSO is now enforced').waitFor();
    assert.equal((await api('GET', '/tenants/globex/sso-policy')).enforced, true);
    await page.getByLabel('Gina Owner (gina@globex.example)').check();
    await page.getByText('Break-glass granted').waitFor();
    assert.equal((await api('GET', '/tenants/globex/sso-policy')).break_glass_user_ids.length, 1);
    await page.getByLabel('Refuse passwords').uncheck();
    await page.getByText('Passwords are allowed again').waitFor();
    assert.equal((await api('GET', '/tenants/globex/sso-policy')).enforced, false);
  });

  await check('the test sign-in link goes through the provider and ends signed in as the JIT user', async () => {
    await fetch(`${OIDC}/__test/accounts`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'otto', claims: { email: 'otto@globex.example', email_verified: true, name: 'Otto Jit', groups: ['globex-admins'] } }),
    });
    const href = await page.getByRole('link', { name: 'Test sign-in with Globex IdP' }).getAttribute('href');
    const { context: fresh, page: o } = await newPage();
    await o.goto(new URL(href, BASE).href);
    await throughProvider(o, 'otto');
    await o.waitForURL(`${BASE}/console/t/globex/sso`);
    await o.getByRole('heading', { name: 'Single sign-on' }).waitFor();
    // Signed in as the user the connection just made, an admin by the mapping.
    const me = await o.evaluate(async () => (await fetch('/api/v1/me')).json());
    const user = await api('GET', `/tenants/globex/users/${me.subject_id}`);
    assert.equal(user.email, 'otto@globex.example');
    assert.ok(me.tenants.find((t) => t.slug === 'globex').roles.includes('admin'));
    await o.getByTitle('Your roles here').filter({ hasText: 'admin' }).waitFor();
    await shot(o, '22-sso-signed-in-jit');
    await fresh.close();
  });

  await check('a SAML connection from pasted metadata shows our entity id, ACS URL and SP metadata', async () => {
    await page.getByRole('button', { name: 'New SAML connection' }).click();
    const form = page.getByRole('form', { name: 'SAML connection' });
    await form.getByLabel('Name', { exact: true }).fill('Globex SAML');
    await form.getByLabel('IdP metadata XML').fill('<not metadata');
    await form.getByRole('button', { name: 'Create connection' }).click();
    await form.locator('.field-error').first().waitFor();
    await form.getByLabel('IdP metadata XML').fill(SAML_METADATA);
    await form.getByLabel('NameID format').selectOption({ label: 'Email address' });
    await form.getByLabel('Accept sign-ins started at the identity provider').check();
    await form.getByRole('button', { name: 'Create connection' }).click();
    await page.getByText('Connection created').last().waitFor();
    await page.getByRole('cell', { name: 'Globex SAML', exact: true }).waitFor();
    const c = (await api('GET', '/tenants/globex/sso-connections')).items.find((x) => x.name === 'Globex SAML');
    assert.equal(c.protocol, 'saml');
    assert.equal(c.issuer, 'urn:ditto:test:fixture-idp');
    assert.equal(c.saml.allow_idp_initiated, true);
    assert.match(c.saml.name_id_format, /emailAddress/);
    await page.getByRole('button', { name: 'Edit Globex SAML' }).click();
    const edit = page.getByRole('form', { name: 'SAML connection' });
    await edit.getByText(c.client_id, { exact: true }).waitFor();
    await edit.getByText(`${BASE}${c.callback_path}`, { exact: true }).waitFor();
    const href = await edit.getByRole('link', { name: 'Download SP metadata' }).getAttribute('href');
    const metadata = await (await fetch(href)).text();
    assert.ok(metadata.includes(`entityID="${c.client_id}"`), metadata);
    await shot(page, '30-sso-saml-edit');
    await edit.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Delete Globex SAML' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Connection deleted').waitFor();
    assert.equal((await api('GET', '/tenants/globex/sso-connections')).items.length, 1);
  });

  await check('a viewer sees the SSO settings but no buttons to change them', async () => {
    const { context: v, page: vp } = await newPage();
    await signIn(vp, 'globex', 'val@globex.example');
    await vp.goto(`${BASE}/console/t/globex/sso`);
    await vp.getByRole('cell', { name: 'Globex IdP', exact: true }).waitFor().catch(async () => {
      // A viewer may lack sso:read altogether: then the API says so.
      await vp.locator('.failed').first().waitFor();
    });
    assert.equal(await vp.getByRole('button', { name: 'New OIDC connection' }).count(), 0);
    assert.equal(await vp.getByRole('button', { name: /^Delete / }).count(), 0);
    await v.close();
  });

  await check('creating a backend (credentials write-only) and a route, then calling through it', async () => {
    await page.getByRole('link', { name: 'Backends and routes' }).click();
    await page.getByText('No backends yet.').waitFor();
    await page.getByRole('button', { name: 'New backend' }).click();
    const form = page.getByRole('form', { name: 'Backend' });
    await form.getByLabel('Name').fill('mock upstream');
    await form.getByLabel('Base URL').fill(`${MOCK}/v1`);
    await form.getByLabel('Credentials').fill('sk-upstream-e2e');
    await form.locator('input[name=timeout]').fill('5');
    await form.getByRole('button', { name: 'Create backend' }).click();
    // 5 ms is below the API's minimum: said next to the field.
    await form.locator('.field-error').first().waitFor();
    await form.locator('input[name=timeout]').fill('30000');
    await form.getByLabel('Max in flight').fill('50');
    await form.getByRole('button', { name: 'Create backend' }).click();
    await page.getByText('Backend created').waitFor();
    await page.getByRole('row', { name: /mock upstream.*stored/ }).waitFor();
    const [b] = (await api('GET', '/tenants/globex/backends')).items;
    backendId = b.id;
    assert.equal(b.has_credentials, true);
    assert.equal(b.credentials, undefined);
    assert.equal(b.max_in_flight, 50);

    await page.getByRole('button', { name: 'New route' }).click();
    const route = page.getByRole('form', { name: 'Model route' });
    await route.getByLabel('Public model name').fill('gpt-4o');
    await route.getByLabel('Aliases').fill('default, smart');
    await route.getByRole('combobox', { name: /^Primary backend/ }).selectOption({ label: 'mock upstream' });
    await route.getByLabel('Weight').fill('3');
    await route.getByRole('button', { name: 'Add fallback' }).click();
    await route.getByRole('combobox', { name: /^Fallback backend/ }).selectOption({ label: 'mock upstream' });
    await route.getByLabel('Upstream model').nth(1).fill('gpt-4o-mini');
    await shot(page, '24-route-form');
    await route.getByRole('button', { name: 'Create route' }).click();
    await page.getByText('Route created').waitFor();
    await page.getByRole('row', { name: /gpt-4o.*default, smart.*mock upstream \(3\)/ }).waitFor();
    const [r] = (await api('GET', '/tenants/globex/routes')).items;
    assert.deepEqual(r.aliases, ['default', 'smart']);
    assert.deepEqual(r.targets, [{ backend_id: b.id, weight: 3 }]);
    assert.deepEqual(r.fallbacks, [{ backend_id: b.id, upstream_model: 'gpt-4o-mini' }]);
    await shot(page, '25-backends-routes');

    // Traffic flows through what the form made: a key, then a call by alias.
    const project = await api('POST', '/tenants/globex/projects', { name: 'ops' });
    const key = await api('POST', '/tenants/globex/api-keys', { name: 'ops key', project_id: project.id });
    // The gateway picks up new keys and routes within a moment, not at once.
    let res;
    for (let tries = 0; tries < 50; tries++) {
      res = await fetch(`${BASE}/t/globex/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'smart', messages: [{ role: 'user', content: 'hi' }] }),
      });
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(res.status, 200, await res.clone().text());
  });

  await check('the usage explorer shows that call by backend and downloads it as CSV', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.getByLabel('Group by').waitFor();
    // Usage is recorded off the request path: wait until it is counted.
    for (let tries = 0; ; tries++) {
      await page.getByLabel('Group by').selectOption('backend');
      const found = await page.getByRole('row', { name: new RegExp(backendId) }).waitFor({ timeout: 3000 }).then(() => true, () => false);
      if (found) break;
      if (tries > 10) throw new Error('the call never showed in the usage explorer');
      await page.reload();
    }
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'usage-by-backend.csv');
    const csv = fs.readFileSync(await download.path(), 'utf8');
    assert.match(csv, /^backend,requests,/);
    assert.ok(csv.split('\n').some((line) => line.startsWith(`${backendId},1,0,`)), csv);
    await shot(page, '31-usage-by-backend');
    await page.getByRole('link', { name: 'Backends and routes' }).click();
    await page.getByRole('row', { name: /gpt-4o/ }).waitFor();
  });

  await check('editing a route and deleting it after confirming', async () => {
    await page.getByRole('button', { name: 'Edit route gpt-4o' }).click();
    const route = page.getByRole('form', { name: 'Model route' });
    await route.getByRole('button', { name: 'Remove Fallback backend' }).click();
    await route.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Route saved').waitFor();
    assert.deepEqual((await api('GET', '/tenants/globex/routes')).items[0].fallbacks, []);
    await page.getByRole('button', { name: 'Delete route gpt-4o' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Route deleted').waitFor();
    assert.deepEqual((await api('GET', '/tenants/globex/routes')).items, []);
  });

  await check('a platform operator creates, suspends and deletes a tenant', async () => {
    const { context: op, page: pp } = await newPage();
    await pp.goto(`${BASE}/console/platform`);
    await hydrated(pp);
    await pp.getByLabel('Platform token').fill('not-a-token');
    await pp.getByRole('button', { name: 'Continue' }).click();
    await pp.locator('.form-error').waitFor();
    await pp.getByLabel('Platform token').fill(TOKEN);
    await pp.getByRole('button', { name: 'Continue' }).click();
    await pp.getByRole('heading', { name: 'Tenants' }).waitFor();
    // The tenant list's cells (the health table and the audit log name tenants too).
    const tenants = pp.getByRole('region', { name: 'All tenants' });
    await tenants.getByRole('cell', { name: 'globex', exact: true }).waitFor();
    await pp.getByLabel('Slug').fill('Not A Slug');
    await pp.getByLabel('Name').fill('Initech');
    await pp.getByRole('button', { name: 'Create tenant' }).click();
    await pp.locator('.field-error').first().waitFor();
    await pp.getByLabel('Slug').fill('initech');
    await pp.getByRole('button', { name: 'Create tenant' }).click();
    await pp.getByText('Tenant “initech” created').waitFor();
    await tenants.getByRole('cell', { name: 'initech', exact: true }).waitFor();
    assert.equal((await api('GET', '/tenants/initech')).status, 'active');
    await pp.getByRole('button', { name: 'Suspend initech' }).click();
    await pp.getByRole('button', { name: 'Confirm' }).click();
    await pp.getByRole('button', { name: 'Resume initech' }).waitFor();
    assert.equal((await api('GET', '/tenants/initech')).status, 'suspended');
    await pp.getByRole('row', { name: /tenants\.suspend/ }).first().waitFor({ timeout: 1 }).catch(() => {});
    await shot(pp, '27-platform-tenants', true);
    // Escape closes the dialog without deleting.
    await pp.getByRole('button', { name: 'Delete initech' }).click();
    await pp.keyboard.press('Escape');
    await pp.getByRole('alertdialog').waitFor({ state: 'detached' });
    await pp.getByRole('button', { name: 'Delete initech' }).click();
    const del = pp.getByRole('button', { name: 'Delete tenant' });
    assert.equal(await del.isDisabled(), true);
    await pp.getByLabel('Type initech to confirm').fill('initec');
    assert.equal(await del.isDisabled(), true);
    await pp.getByLabel('Type initech to confirm').fill('initech');
    await shot(pp, '28-platform-delete-tenant');
    await del.click();
    await pp.getByText('Tenant “initech” deleted').waitFor();
    const gone = await fetch(`${BASE}/api/v1/tenants/initech`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(gone.status, 404);
    // The platform audit log shows what was just done.
    await pp.getByRole('button', { name: 'Refresh' }).click();
    await pp.getByRole('cell', { name: /^tenants?\.create$/ }).first().waitFor();
    await op.close();
  });

  await check('a tenant owner\'s session is not a platform operator', async () => {
    const status = await page.evaluate(async () => (await fetch('/api/v1/tenants')).status);
    assert.equal(status, 403);
  });

  await check('the SSO, backends and platform pages on a narrow screen', async () => {
    const { context: n, page: np } = await newPage({ width: 390, height: 844 });
    await signIn(np, 'globex', 'gina@globex.example');
    await np.goto(`${BASE}/console/t/globex/sso`);
    await np.getByRole('cell', { name: 'Globex IdP', exact: true }).waitFor();
    await shot(np, '23-sso-narrow', true);
    await np.goto(`${BASE}/console/t/globex/backends`);
    await np.getByRole('cell', { name: 'mock upstream', exact: true }).waitFor();
    await np.getByRole('button', { name: 'New route' }).click();
    await shot(np, '26-backends-narrow', true);
    await np.goto(`${BASE}/console/platform`);
    await hydrated(np);
    await np.getByLabel('Platform token').fill(TOKEN);
    await np.getByRole('button', { name: 'Continue' }).click();
    await np.getByRole('region', { name: 'All tenants' }).getByRole('cell', { name: 'globex', exact: true }).waitFor();
    await shot(np, '29-platform-narrow', true);
    await n.close();
  });

  await check('groups: create one, add a member, bind a role', async () => {
    await page.goto(`${BASE}/console/t/globex/members`);
    await page.getByRole('link', { name: 'Groups' }).click();
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
    await hydrated(page);
    await page.getByLabel('Group name').fill('Platform team');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByText('Group “Platform team” created').waitFor();
    const detail = page.getByRole('region', { name: 'Group “Platform team”' });
    await detail.getByLabel('Person').selectOption({ label: 'val@globex.example' });
    await detail.getByRole('button', { name: 'Add to group' }).click();
    await detail.getByRole('cell', { name: 'val@globex.example', exact: true }).waitFor();
    await page.getByRole('row', { name: /Platform team/ }).getByRole('cell', { name: '1', exact: true }).waitFor();
    await detail.getByLabel('Grant a role to the group').selectOption('admin');
    await detail.getByRole('button', { name: 'Remove admin from the group' }).waitFor();
    const groups = await api('GET', '/tenants/globex/groups');
    const group = groups.items.find((g) => g.name === 'Platform team');
    const members = await api('GET', `/tenants/globex/groups/${group.id}/members`);
    assert.deepEqual(members.items.map((m) => m.email), ['val@globex.example']);
    const bound = await api('GET', `/tenants/globex/role-bindings?subject_id=${group.id}`);
    assert.deepEqual(bound.items.map((b) => [b.role, b.subject_type]), [['admin', 'group']]);
    await shot(page, '40-groups', true);
  });

  await check('custom roles: an error next to the name, then a role with two permissions', async () => {
    await page.getByRole('link', { name: 'Roles' }).click();
    await page.getByRole('heading', { name: 'Roles', exact: true }).waitFor();
    await page.getByRole('cell', { name: /^owner/ }).waitFor();
    const form = page.getByRole('form', { name: 'Create a role' });
    // A built-in role's name is taken: the API's problem shows in the form.
    await form.getByLabel('Role name').fill('viewer');
    await form.getByLabel('keys:read', { exact: true }).check();
    await form.getByRole('button', { name: 'Create role' }).click();
    await form.getByRole('alert').first().waitFor();
    await form.getByLabel('Role name').fill('key-auditor');
    await form.getByLabel('Description').fill('Reads keys and usage');
    await form.getByLabel('usage:read', { exact: true }).check();
    await form.getByRole('button', { name: 'Create role' }).click();
    await page.getByText('Role “key-auditor” created').waitFor();
    const row = page.getByRole('row', { name: /key-auditor/ });
    await row.getByText('2 permissions').click();
    await row.getByText('keys:read').waitFor();
    await row.getByText('usage:read').waitFor();
    const roles = await api('GET', '/tenants/globex/roles');
    const made = roles.items.find((r) => r.name === 'key-auditor');
    assert.deepEqual([...made.permissions].sort(), ['keys:read', 'usage:read']);
    assert.equal(made.builtin, false);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '41-roles', true);
  });

  await check('the settings page shows the endpoint, and the name the platform operator gives', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', exact: true }).waitFor();
    const endpoint = page.getByTestId('endpoint');
    await endpoint.waitFor();
    assert.equal(await endpoint.textContent(), `${BASE}/t/globex/v1`);
    await page.getByRole('button', { name: 'Copy the endpoint URL' }).click();
    await page.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${BASE}/t/globex/v1`);
    const facts = page.getByTestId('tenant-facts');
    assert.equal(await page.getByTestId('tenant-name').textContent(), 'Globex');
    await facts.getByText('globex', { exact: true }).waitFor();
    await facts.getByText('active', { exact: true }).waitFor();
    await facts.getByText('UTC', { exact: false }).first().waitFor();
    // Renaming is a platform operator's act (tenants:write): the owner is told, not given a form.
    await page.getByRole('note').filter({ hasText: 'Only a platform operator can rename this tenant' }).waitFor();
    assert.equal(await page.locator('main input, main select, main textarea').count(), 0);
    const refused = await page.evaluate(async () => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('ditto_csrf='))?.slice(11);
      const res = await fetch('/api/v1/tenants/globex', {
        method: 'PATCH', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ name: 'Gina Corp' }),
      });
      return res.status;
    });
    assert.equal(refused, 403);
    await api('PATCH', '/tenants/globex', { name: 'Globex Corporation', time_zone: 'Europe/Paris' });
    await page.reload();
    await page.getByTestId('tenant-name').filter({ hasText: 'Globex Corporation' }).waitFor();
    await facts.getByText('Europe/Paris').waitFor();
    await page.getByRole('combobox', { name: 'Tenant' }).getByRole('option', { name: 'Globex Corporation' }).waitFor({ state: 'attached' });
    await shot(page, '42-settings', true);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, '45-settings-narrow', true);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await check('a person sets up an authenticator from its QR code, then turns it off', async () => {
    const { context: t, page: tp } = await newPage();
    await signIn(tp, 'globex', 'tom@globex.example');
    await tp.getByTitle('Signed in as').filter({ hasText: 'tom@globex.example' }).waitFor();
    await tp.getByRole('link', { name: 'Your account' }).click();
    const setUp = tp.getByRole('button', { name: 'Set up an authenticator app' });
    await setUp.waitFor();
    assert.equal(await tp.getByRole('button', { name: 'Turn off' }).count(), 0);
    await setUp.click();
    const qr = tp.getByRole('img', { name: 'QR code for your authenticator app' });
    await qr.waitFor();
    assert.equal(await qr.evaluate((e) => e.tagName.toLowerCase()), 'svg');
    const d = await qr.locator('path').getAttribute('d');
    assert.ok(d.length > 200, d);
    const secret = (await tp.getByTestId('totp-secret').textContent()).trim();
    const uri = await tp.getByRole('link', { name: 'Open in an authenticator app on this device' }).getAttribute('href');
    assert.ok(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), uri);
    await shot(tp, '43-totp-setup', true);
    // A wrong code is answered next to the field.
    const form = tp.getByRole('form', { name: 'Confirm the authenticator' });
    await form.getByLabel('Code').fill('000000');
    await form.getByRole('button', { name: 'Turn on' }).click();
    await form.locator('.field-error').waitFor();
    await form.getByLabel('Code').fill(totp(secret));
    await form.getByRole('button', { name: 'Turn on' }).click();
    const codes = (await tp.getByTestId('recovery-codes').textContent()).split('\n');
    assert.equal(codes.length, 10);
    await tp.getByRole('button', { name: 'Turn off' }).waitFor();
    assert.equal(await setUp.count(), 0);
    assert.equal(await tp.getByRole('img', { name: /QR code/ }).count(), 0);
    assert.equal((await tp.evaluate(async () => (await fetch('/api/v1/me')).json())).totp_enabled, true);
    await shot(tp, '44-totp-on', true);
    // A recovery code proves it is the owner turning it off.
    await tp.getByLabel('Code to turn it off').fill(codes[0]);
    await tp.getByRole('button', { name: 'Turn off' }).click();
    await tp.getByText('Second factor off').waitFor();
    await setUp.waitFor();
    assert.equal((await tp.evaluate(async () => (await fetch('/api/v1/me')).json())).totp_enabled, false);
    await t.close();
  });

  assert.deepEqual(problems, [], 'no errors in the browser');
} catch (e) {
  console.error(`not ok - ${step}`);
  let n = 0;
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.error(`  page ${n}: ${p.url()}`);
    await p.screenshot({ path: path.join(SHOTS, `settings-failure-${n++}.png`) }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
}
console.log('console settings: ok');
