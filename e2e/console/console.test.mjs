// The admin console in a real browser: Playwright driving Debian's Chromium
// against `ditto serve` (real Postgres, the mock upstream). Run by
// e2e/console.sh, which starts the server and passes where it is.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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

// ---------------------------------------------------------------- setup through the API
async function api(method, p, body, headers = {}) {
  const res = await fetch(`${BASE}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}


const PASSWORD = 'correct horse battery staple 42';
await api('POST', '/tenants', { slug: 'acme', name: 'Acme Corp' });
const backend = await api('POST', '/tenants/acme/backends', { name: 'mock', base_url: `${MOCK}/v1`, credentials: 'sk-upstream-e2e' });
await api('POST', '/tenants/acme/routes', { model: 'gpt-4o', targets: [{ backend_id: backend.id }] });
async function person(email, name, role) {
  const user = await api('POST', '/tenants/acme/users', { email, display_name: name });
  await api('PUT', `/tenants/acme/users/${user.id}/password`, { password: PASSWORD, must_change: false });
  await api('POST', '/tenants/acme/role-bindings', { role, subject_type: 'user', subject_id: user.id });
  return user;
}
await person('ada@acme.example', 'Ada Admin', 'admin');
await person('vic@acme.example', 'Victor Viewer', 'viewer');

// Ada turns on a second factor (with her own session, as the console would).
const signIn = await fetch(`${BASE}/api/v1/auth/sign-in`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ tenant: 'acme', email: 'ada@acme.example', password: PASSWORD }),
});
assert.equal(signIn.status, 200, await signIn.clone().text());
const cookies = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
const { csrf_token } = await signIn.json();
const asAda = { cookie: cookies, 'x-csrf-token': csrf_token };
async function sessionCall(p, body) {
  const res = await fetch(`${BASE}/api/v1${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...asAda }, body: JSON.stringify(body) });
  assert.ok(res.ok, `${p}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? null : res.json();
}
const enrolment = await sessionCall('/me/totp', {});
await sessionCall('/me/totp/confirm', { code: totp(enrolment.secret) });
await sessionCall('/auth/sign-out', {});

// ---------------------------------------------------------------- browser
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
async function newPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/401|403|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  return { context, page };
}
// The sign-in button is enabled once the page is hydrated.
const hydrated = (page) => page.waitForSelector('form button[type=submit]:not([disabled])');
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
let step = '';
const check = async (name, fn) => { step = name; await fn(); console.log(`ok - ${name}`); };

const sdk = (key) => {
  try {
    execFileSync('python3', [path.join(import.meta.dirname, 'sdk_call.py'), `${BASE}/t/acme/v1`, key], { stdio: 'pipe' });
    return 0;
  } catch (e) {
    return e.status;
  }
};
async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  const { context, page } = await newPage();

  await check('signing in with a password and an authenticator code', async () => {
    await page.goto(`${BASE}/console`);
    await page.waitForURL(/\/console\/sign-in/);
    await hydrated(page);
    await page.getByLabel('Email').fill('ada@acme.example');
    await shot(page, '01-sign-in');
    await page.getByRole('button', { name: 'Continue' }).click();
    // acme.example is no tenant's verified domain yet: a password it is.
    await page.getByLabel('Organization').fill('acme');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The API asks for the second factor; the form grows a code field.
    const code = page.getByLabel('Authentication code');
    await code.waitFor();
    // The next step's code: confirming used this step's, and each works once.
    await code.fill(totp(enrolment.secret, Date.now() + 30000));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${BASE}/console/t/acme`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByText('No traffic yet.').waitFor();
  });

  await check('creating a project', async () => {
    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByText('No projects yet.').waitFor();
    await page.getByLabel('Name').fill('support-bot');
    await page.getByLabel('Description').fill('The help desk assistant');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('cell', { name: 'support-bot', exact: true }).waitFor();
    await page.getByText('Project “support-bot” created').waitFor();
    await shot(page, '02-projects');
  });

  await check('a field error from the API shows next to its field', async () => {
    await page.getByLabel('Name').fill('x'.repeat(200));
    await page.getByLabel('Description').fill('d'.repeat(5000));
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.locator('.field-error').first().waitFor();
    await page.getByLabel('Name').fill('');
    await page.getByLabel('Description').fill('');
  });

  let secret;
  await check('creating an API key shows its secret once', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByText('No API keys yet.').waitFor();
    await page.getByLabel('Name').fill('sdk');
    await page.getByLabel('Project').selectOption({ label: 'support-bot' });
    await page.getByRole('button', { name: 'Create key' }).click();
    secret = (await page.getByTestId('secret').textContent()).trim();
    assert.match(secret, /^dk-/);
    await page.getByRole('cell', { name: 'sdk', exact: true }).waitFor();
    await shot(page, '03-api-key-created');
  });

  await check('a tenant budget starts empty', async () => {
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('link', { name: 'Budgets' }).click();
    await page.getByText('No budgets yet.').waitFor();
    await page.getByLabel('Max tokens').fill('300');
    await page.getByRole('button', { name: 'Add tenant budget' }).click();
    await page.getByTestId('budget-text').waitFor();
    assert.match(await page.getByTestId('budget-text').textContent(), /^0 of 300 tokens/);
  });

  await check('the key works with the OpenAI Python SDK', async () => {
    await until('the key to reach the gateway', () => sdk(secret) === 0);
  });

  await check('the budget bar moves after the traffic', async () => {
    await until('the budget to count the tokens', async () => {
      await page.reload();
      await page.getByTestId('budget-text').waitFor();
      return !/^0 of/.test(await page.getByTestId('budget-text').textContent());
    });
    const width = await page.locator('.meter-fill').evaluate((e) => parseFloat(e.style.width));
    assert.ok(width > 0, `bar width ${width}`);
  });

  await check('a rate limit for the project, with a field error first', async () => {
    await page.getByLabel('Applies to').selectOption({ label: 'Project support-bot' });
    await page.getByLabel('Requests / min').fill('-5');
    await page.getByRole('button', { name: 'Add rate limit' }).click();
    await page.locator('.field-error').first().waitFor();
    await page.getByLabel('Requests / min').fill('600');
    await page.getByRole('button', { name: 'Add rate limit' }).click();
    await page.getByRole('cell', { name: 'Project support-bot', exact: true }).waitFor();
    await page.getByRole('cell', { name: '600', exact: true }).waitFor();
    await shot(page, '05-budgets');
  });

  await check('revoking the key in the console makes the next SDK call fail', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'Revoke sdk' }).click();
    await page.getByRole('alertdialog').waitFor();
    await shot(page, '04-confirm-revoke');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('tr[data-key="sdk"] .badge-revoked').waitFor();
    await until('the revoked key to be refused', () => sdk(secret) === 3);
  });

  await check('the overview counts the traffic', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    await until('usage to be recorded', async () => {
      await page.reload();
      await page.getByRole('heading', { name: 'Requests per day' }).waitFor();
      return Number(await page.getByTestId('requests').textContent()) >= 1;
    });
    await shot(page, '06-overview');
  });

  await check('the usage explorer groups by model and downloads CSV', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.getByLabel('Group by').selectOption('model');
    await page.getByRole('cell', { name: 'gpt-4o', exact: true }).waitFor();
    const csv = decodeURIComponent((await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href')).split(',').slice(1).join(','));
    assert.match(csv, /^model,requests,/);
    assert.match(csv, /\ngpt-4o,1,0,/);
    await page.getByLabel('Group by').selectOption('project');
    await page.getByRole('cell', { name: 'support-bot', exact: true }).waitFor();
    await shot(page, '06-usage-explorer');
  });

  await check('members and their roles', async () => {
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('cell', { name: 'vic@acme.example', exact: true }).waitFor();
    await page.getByLabel('Add a role to vic@acme.example').selectOption('auditor');
    await page.getByText('vic@acme.example is now also auditor').waitFor();
    await page.getByRole('button', { name: 'Remove auditor from vic@acme.example' }).click();
    await page.getByRole('alertdialog').waitFor();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('button', { name: 'Remove auditor from vic@acme.example' }).waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Add a role to vic@acme.example').inputValue(), '');
    await shot(page, '07-members');
  });

  await check('the audit log shows what was just done, with details', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    for (const action of ['projects.create', 'api_keys.create', 'api_keys.revoke']) {
      await page.getByRole('cell', { name: action, exact: true }).first().waitFor();
    }
    await page.getByText('chain verified').waitFor();
    await page.getByRole('cell', { name: 'api_keys.revoke', exact: true }).first().click();
    await page.getByRole('dialog').getByText('Before').waitFor();
    await shot(page, '08-audit-drawer');
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByLabel('Action').fill('projects.create');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await until('the filter to apply', async () => (await page.locator('tbody tr').count()) === 1);
  });

  await check('a personal access token from the account page acts as its owner', async () => {
    await page.getByRole('link', { name: 'Your account' }).click();
    await page.getByText('this browser').waitFor();
    await page.getByLabel('Token name').fill('laptop script');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('.secret-row .secret-value').textContent()).trim();
    assert.match(token, /^dat-/);
    await page.getByRole('cell', { name: 'laptop script', exact: true }).waitFor();
    await shot(page, '12-account');
    const me = await fetch(`${BASE}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
  });

  await check('a narrow screen', async () => {
    const narrow = await context.newPage();
    await narrow.setViewportSize({ width: 390, height: 844 });
    await narrow.goto(`${BASE}/console/t/acme/keys`);
    await narrow.getByRole('cell', { name: 'sdk', exact: true }).waitFor();
    await shot(narrow, '09-keys-narrow');
    await narrow.close();
  });

  await check('an ended session sends the person back to sign in, saying why', async () => {
    await context.clearCookies({ name: 'ditto_session' });
    await page.goto(`${BASE}/console/t/acme/projects`);
    await page.waitForURL(/\/console\/sign-in\?expired=1/);
    await page.getByText('Your session has ended').waitFor();
  });
  await context.close();

  await check('a viewer sees no create or revoke actions, and the API refuses them anyway', async () => {
    const { context: viewer, page: v } = await newPage();
    await v.goto(`${BASE}/console/sign-in?tenant=acme`);
    await hydrated(v);
    await v.getByLabel('Email').fill('vic@acme.example');
    await v.getByRole('button', { name: 'Continue' }).click();
    assert.equal(await v.getByLabel('Organization').inputValue(), 'acme');
    await v.getByLabel('Password').fill(PASSWORD);
    await v.getByRole('button', { name: 'Sign in' }).click();
    await v.waitForURL(`${BASE}/console/t/acme`);
    await v.getByRole('link', { name: 'Projects' }).click();
    await v.getByRole('cell', { name: 'support-bot', exact: true }).waitFor();
    assert.equal(await v.getByRole('button', { name: 'Create project' }).count(), 0);
    assert.equal(await v.getByRole('button', { name: /^Delete/ }).count(), 0);
    await shot(v, '10-projects-as-viewer');
    await v.getByRole('link', { name: 'API keys' }).click();
    await v.getByRole('cell', { name: 'sdk', exact: true }).waitFor();
    assert.equal(await v.getByRole('button', { name: 'Create key' }).count(), 0);
    await v.getByRole('link', { name: 'Budgets' }).click();
    await v.getByRole('cell', { name: 'Project support-bot', exact: true }).waitFor();
    assert.equal(await v.getByRole('button', { name: 'Add rate limit' }).count(), 0);
    assert.equal(await v.getByRole('button', { name: 'Add tenant budget' }).count(), 0);
    // The same call the hidden form would make, from the viewer's session.
    const status = await v.evaluate(async () => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('ditto_csrf=')).split('=')[1];
      const res = await fetch('/api/v1/tenants/acme/projects', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ name: 'sneaky' }),
      });
      return res.status;
    });
    assert.equal(status, 403);
    await viewer.close();
  });

  await check('a password an administrator set is replaced before anything else', async () => {
    const nia = await api('POST', '/tenants/acme/users', { email: 'nia@acme.example', display_name: 'Nia New' });
    await api('PUT', `/tenants/acme/users/${nia.id}/password`, { password: 'temporary passphrase 1' });
    await api('POST', '/tenants/acme/role-bindings', { role: 'viewer', subject_type: 'user', subject_id: nia.id });
    const { context: c, page: n } = await newPage();
    await n.goto(`${BASE}/console/sign-in?tenant=acme`);
    await hydrated(n);
    await n.getByLabel('Email').fill('nia@acme.example');
    await n.getByRole('button', { name: 'Continue' }).click();
    await n.getByLabel('Password').fill('temporary passphrase 1');
    await n.getByRole('button', { name: 'Sign in' }).click();
    await n.waitForURL(/\/console\/change-password/);
    // Every page of the console sends the person back until it is done.
    await n.goto(`${BASE}/console/t/acme/projects`);
    await n.waitForURL(/\/console\/change-password\?next=/);
    await hydrated(n);
    await n.getByLabel('Password you signed in with').fill('temporary passphrase 1');
    await n.locator('input[name=new_password]').fill('nia chose this passphrase');
    await n.locator('input[name=repeat_password]').fill('nia chose something else');
    await n.getByRole('button', { name: 'Set password' }).click();
    await n.getByText('The two new passwords differ.').waitFor();
    await n.locator('input[name=repeat_password]').fill('nia chose this passphrase');
    await n.getByRole('button', { name: 'Set password' }).click();
    // The API's password policy answers next to the field.
    await n.getByText('do not use your email address in your password').first().waitFor();
    await shot(n, '12-change-password');
    await n.locator('input[name=new_password]').fill('a passphrase of my own choosing');
    await n.locator('input[name=repeat_password]').fill('a passphrase of my own choosing');
    await n.getByRole('button', { name: 'Set password' }).click();
    await n.waitForURL(`${BASE}/console/t/acme/projects`);
    await n.getByRole('heading', { name: 'Projects' }).waitFor();
    await c.close();
  });

  await check('signing in through the tenant\'s OpenID provider, found from the email domain', async () => {
    await api('POST', '/tenants/acme/domains', { domain: 'acme.example' });
    await api('POST', '/tenants/acme/domains/acme.example/verify');
    await api('POST', '/tenants/acme/sso-connections', {
      name: 'Acme IdP', issuer: OIDC, client_id: 'ditto', client_secret: 'ditto-secret',
      scopes: ['openid', 'email', 'profile', 'groups'], jit_provisioning: true,
      group_role_mappings: [{ group: 'ditto-admins', role: 'admin' }],
    });
    await fetch(`${OIDC}/__test/accounts`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: 'olga', claims: { email: 'olga@acme.example', email_verified: true, name: 'Olga', groups: ['ditto-admins'] } }),
    });
    const { context: sso, page: o } = await newPage();
    await o.goto(`${BASE}/console/sign-in`);
    await hydrated(o);
    await o.getByLabel('Email').fill('olga@acme.example');
    await o.getByRole('button', { name: 'Continue' }).click();
    await o.getByRole('link', { name: 'Continue with Acme IdP' }).waitFor();
    await shot(o, '11-sign-in-sso');
    await o.getByRole('link', { name: 'Continue with Acme IdP' }).click();
    // oidc-provider's development login form, then its consent form.
    await o.waitForURL((u) => u.href.startsWith(OIDC));
    await o.locator('input[name=login]').fill('olga');
    await o.locator('input[name=password]').fill('anything');
    await o.locator('button[type=submit]').click();
    while (o.url().startsWith(OIDC)) {
      const consent = o.locator('button[type=submit]');
      if (await consent.count()) await consent.first().click();
      await o.waitForLoadState();
      await new Promise((r) => setTimeout(r, 200));
    }
    await o.waitForURL(`${BASE}/console/t/acme`);
    await o.getByRole('link', { name: 'Projects' }).click();
    await o.getByRole('button', { name: 'Create project' }).waitFor();
    await sso.close();
  });

  assert.deepEqual(problems, [], 'no errors in the browser');
} catch (e) {
  console.error(`not ok - ${step}`);
  for (const p of problems) console.error(`  browser: ${p}`);
  // What each open page showed when it failed.
  let n = 0;
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.error(`  page ${n}: ${p.url()}`);
    await p.screenshot({ path: path.join(SHOTS, `failure-${n++}.png`) }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
}
console.log('console: ok');
