// The console's operations views in a real browser: a platform operator
// sees the traffic this test sends (some of it failing) in the tenant health
// table, and the platform audit chain verified; a tenant owner verifies the
// tenant's chain, signs a checkpoint, and exports the audit trail to a
// directory the test then reads; a viewer sees all of it but none of the
// buttons. Run by e2e/console_operations.sh, which starts the server with an
// export directory (EXPORT_DIR).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.DITTO_URL;
const TOKEN = process.env.DITTO_TOKEN;
const MOCK = process.env.MOCK_URL;
const SHOTS = process.env.SHOTS;
const EXPORT_DIR = process.env.EXPORT_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(EXPORT_DIR, 'EXPORT_DIR: run through e2e/console_operations.sh');
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
async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const mock = (behaviour) => fetch(`${MOCK}/__mock/config`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ require_bearer: 'sk-upstream-e2e', ...behaviour }),
});

// ---------------------------------------------------------------- setup through the API
const PASSWORD = 'correct horse battery staple 42';
const umbrella = await api('POST', '/tenants', { slug: 'umbrella', name: 'Umbrella Corp' });
await api('POST', '/tenants', { slug: 'hooli', name: 'Hooli' });
async function person(email, name, role) {
  const user = await api('POST', '/tenants/umbrella/users', { email, display_name: name });
  await api('PUT', `/tenants/umbrella/users/${user.id}/password`, { password: PASSWORD, must_change: false });
  await api('POST', '/tenants/umbrella/role-bindings', { role, subject_type: 'user', subject_id: user.id });
  return user;
}
await person('olga@umbrella.example', 'Olga Owner', 'owner');
await person('vera@umbrella.example', 'Vera Viewer', 'viewer');
const backend = await api('POST', '/tenants/umbrella/backends', { name: 'mock', base_url: `${MOCK}/v1`, credentials: 'sk-upstream-e2e' });
await api('POST', '/tenants/umbrella/routes', { model: 'gpt-4o', targets: [{ backend_id: backend.id }] });
const project = await api('POST', '/tenants/umbrella/projects', { name: 'labs' });
const key = await api('POST', '/tenants/umbrella/api-keys', { name: 'labs key', project_id: project.id });
const chat = () => fetch(`${BASE}/t/umbrella/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
});
// Three answered calls (the first once the gateway has the new key and
// route), then two the upstream fails: 40% errors, a failing tenant.
await until('the gateway to serve the new key', async () => (await chat()).status === 200);
for (let n = 0; n < 2; n++) assert.equal((await chat()).status, 200);
await mock({ fail_rate: 1.0, fail_status: 500 });
for (let n = 0; n < 2; n++) assert.ok((await chat()).status >= 500);
await mock({});

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
  page.on('console', (m) => { if (m.type() === 'error' && !/401|403|422|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`); });
  return { context, page };
}
const hydrated = (page) => page.waitForSelector('form button[type=submit]:not([disabled])');
const shot = (page, name, fullPage = false) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
let step = '';
const check = async (name, fn) => { step = name; await fn(); console.log(`ok - ${name}`); };

async function signIn(page, email) {
  await page.goto(`${BASE}/console/sign-in`);
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Organization').fill('umbrella');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE}/console/t/umbrella`);
}

// The audit page's data is fetched once hydrated: its tabs work from then on.
const auditReady = (page) => page.getByText(/^chain verified through #\d+$/).waitFor();

try {
  await check('the operator sees the traffic just sent in the tenant health table, the failing tenant marked', async () => {
    const { context, page } = await newPage();
    await page.goto(`${BASE}/console/platform`);
    await hydrated(page);
    await page.getByLabel('Platform token').fill(TOKEN);
    await page.getByRole('button', { name: 'Continue' }).click();
    const table = page.getByRole('region', { name: 'Tenant health' });
    await table.getByRole('columnheader', { name: 'p95' }).waitFor();
    // Usage is written off the request path, in batches: reload until counted.
    const row = table.locator('tr[data-tenant=umbrella]');
    await until('the five calls in the health table', async () => {
      if (await row.count() && await row.locator('td').nth(2).textContent() === '5') return true;
      await table.getByRole('button', { name: 'Reload health' }).click();
      await new Promise((r) => setTimeout(r, 500));
      return false;
    });
    assert.equal(await row.locator('td').nth(1).textContent(), 'failing');
    assert.match(await row.getAttribute('class'), /health-failing/);
    assert.equal(await row.locator('td').nth(3).textContent(), '2 (40.0%)');
    assert.match(await row.locator('td').nth(6).textContent(), /^\d+ ms$/);
    assert.notEqual(await row.locator('td').nth(8).textContent(), '—');
    const idle = table.locator('tr[data-tenant=hooli]');
    assert.equal(await idle.locator('td').nth(1).textContent(), 'idle');
    assert.equal(await idle.locator('td').nth(2).textContent(), '0');
    await table.getByRole('status').filter({ hasText: 'Needs a look: 1 failing.' }).waitFor();
    // What the table shows is what the API answers.
    const health = await api('GET', '/tenant-health?sort=name');
    const figures = health.items.find((t) => t.slug === 'umbrella');
    assert.equal(figures.requests, 5);
    assert.equal(figures.errors, 2);
    assert.equal(figures.health, 'failing');
    await table.getByLabel('Window').selectOption('1h');
    await row.locator('td').nth(2).filter({ hasText: /^5$/ }).waitFor();
    await table.scrollIntoViewIfNeeded();
    await shot(page, '50-platform-health');

    // The platform chain verifies; platform-only events are tenant management.
    const audit = page.getByRole('region', { name: 'Platform audit log' });
    await audit.getByText(/^platform chain verified through #\d+$/).waitFor();
    await audit.getByRole('cell', { name: 'umbrella', exact: true }).first().waitFor();
    await audit.getByLabel('Platform events only').check();
    await until('only platform events', async () => {
      const tenants = await audit.locator('tbody tr td:nth-child(2)').allTextContents();
      return tenants.length > 0 && tenants.every((t) => t === 'platform');
    });
    await audit.getByRole('cell', { name: 'tenants.create', exact: true }).first().waitFor();
    await audit.scrollIntoViewIfNeeded();
    await shot(page, '51-platform-audit');
    await context.close();
  });

  const { page } = await newPage();

  await check('a tenant owner\'s session cannot read tenant health', async () => {
    await signIn(page, 'olga@umbrella.example');
    const status = await page.evaluate(async () => (await fetch('/api/v1/tenant-health')).status);
    assert.equal(status, 403);
  });

  await check('the chain tab shows the verification, and signing a checkpoint adds one', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('tab', { name: 'Chain and checkpoints' }).click();
    const facts = page.getByTestId('verification');
    await facts.getByText('valid', { exact: true }).waitFor();
    await facts.getByText("the chain's beginning").waitFor();
    const checkpoints = page.getByRole('region', { name: 'Checkpoints' });
    await checkpoints.locator('table, .empty').first().waitFor();
    await page.getByRole('button', { name: 'Sign a checkpoint now' }).click();
    const toast = await page.getByText(/^Checkpoint signed at #\d+$/).textContent();
    const seq = Number(toast.split('#')[1]);
    await checkpoints.getByRole('cell', { name: String(seq), exact: true }).waitFor();
    const [checkpoint] = await api('GET', '/tenants/umbrella/audit/checkpoints');
    assert.equal(checkpoint.seq, seq);
    assert.equal(checkpoint.reason, 'on_demand');
    await shot(page, '52-audit-chain', true);
  });

  let destination;
  await check('an export destination in a directory: a bad path is named, then it is created and listed', async () => {
    await page.getByRole('tab', { name: 'Exports' }).click();
    await page.getByText('No export destinations yet.').waitFor();
    const form = page.getByRole('form', { name: 'New export destination' });
    await form.locator('input[name=destination-name]').fill('Compliance archive');
    await form.locator('input[name=path]').fill('../outside');
    await form.getByRole('button', { name: 'Add destination' }).click();
    await form.locator('.field-error').filter({ hasText: '/' }).first().waitFor();
    await form.locator('input[name=path]').fill('compliance/audit');
    await form.getByLabel('Object name prefix').fill('umbrella');
    await form.getByRole('button', { name: 'Add destination' }).click();
    await page.getByText('Destination “Compliance archive” created').waitFor();
    const listed = page.getByRole('row', { name: /Compliance archive.*directory compliance\/audit/ });
    await listed.waitFor();
    const { items } = await api('GET', '/tenants/umbrella/audit/export-destinations');
    [destination] = items;
    assert.equal(destination.kind, 'local');
    assert.equal(destination.path, 'compliance/audit');
    assert.equal(destination.prefix, 'umbrella');
  });

  await check('an S3 destination\'s secret is write-only', async () => {
    const form = page.getByRole('form', { name: 'New export destination' });
    await form.getByLabel('Kind').selectOption('s3');
    assert.equal(await form.locator('input[name=path]').count(), 0);
    const secret = form.getByLabel('Secret access key');
    assert.equal(await secret.getAttribute('type'), 'password');
    await form.locator('input[name=destination-name]').fill('Offsite bucket');
    await form.getByLabel('Endpoint URL').fill('http://127.0.0.1:9');
    await form.locator('input[name=bucket]').fill('umbrella-audit');
    await form.getByLabel('Access key id').fill('AKIAEXAMPLE');
    await secret.fill('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    await shot(page, '53-audit-export-s3-form');
    await form.getByRole('button', { name: 'Add destination' }).click();
    await page.getByText('Destination “Offsite bucket” created').waitFor();
    await page.getByRole('row', { name: /Offsite bucket.*s3:\/\/umbrella-audit.*stored/ }).waitFor();
    assert.equal(await secret.count() ? await secret.inputValue() : '', '');
    const { items } = await api('GET', '/tenants/umbrella/audit/export-destinations');
    const s3 = items.find((d) => d.name === 'Offsite bucket');
    assert.equal(s3.has_secret_access_key, true);
    assert.ok(!JSON.stringify(items).includes('wJalrXUtnFEMI'), 'no secret in the API');
    assert.ok(!(await page.content()).includes('wJalrXUtnFEMI'), 'no secret in the page');
  });

  await check('starting an export writes the trail to the directory; the run succeeds', async () => {
    const form = page.getByRole('form', { name: 'Start an export' });
    await form.getByLabel('Destination').selectOption({ label: 'Compliance archive' });
    await form.getByRole('button', { name: 'Start export' }).click();
    await page.getByText(/^Export of #\d+–#\d+ started$/).waitFor();
    const runs = page.getByRole('region', { name: 'Export runs' });
    // Polled while pending or running.
    await runs.getByRole('row', { name: /Compliance archive.*succeeded/ }).waitFor({ timeout: 20000 });
    const [run] = (await api('GET', '/tenants/umbrella/audit/exports')).items;
    assert.equal(run.status, 'succeeded');
    assert.ok(run.rows > 0);
    const dir = path.join(EXPORT_DIR, umbrella.id, 'compliance/audit');
    assert.ok(fs.existsSync(path.join(dir, run.manifest)), `${run.manifest} in ${dir}`);
    assert.ok(run.objects.length > 0);
    for (const o of run.objects) {
      const bytes = fs.readFileSync(path.join(dir, o.name));
      assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), o.sha256, o.name);
      assert.equal(bytes.toString('utf8').trim().split('\n').length, o.rows, o.name);
    }
    // Once the toasts are gone, from the top.
    await until('the toasts to go', async () => (await page.locator('.toast').count()) === 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '54-audit-exports', true);
  });

  await check('a viewer sees destinations, runs and checkpoints but no buttons to change them', async () => {
    const { context, page: v } = await newPage();
    await signIn(v, 'vera@umbrella.example');
    await v.goto(`${BASE}/console/t/umbrella/audit`);
    await auditReady(v);
    await v.getByRole('tab', { name: 'Exports' }).click();
    await v.getByRole('region', { name: 'Export destinations' }).getByRole('cell', { name: 'Compliance archive', exact: true }).waitFor();
    await v.getByRole('row', { name: /Compliance archive.*succeeded/ }).waitFor();
    assert.equal(await v.getByRole('form', { name: 'New export destination' }).count(), 0);
    assert.equal(await v.getByRole('form', { name: 'Start an export' }).count(), 0);
    assert.equal(await v.getByRole('button', { name: /^Delete destination/ }).count(), 0);
    await v.getByRole('tab', { name: 'Chain and checkpoints' }).click();
    await v.getByRole('region', { name: 'Checkpoints' }).getByRole('cell', { name: 'on_demand' }).waitFor();
    assert.equal(await v.getByRole('button', { name: 'Sign a checkpoint now' }).count(), 0);
    await context.close();
  });

  await check('deleting a destination after confirming', async () => {
    await page.getByRole('button', { name: 'Delete destination Offsite bucket' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Delete destination Offsite bucket' }).click();
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByText('Destination “Offsite bucket” deleted').waitFor();
    await page.getByRole('row', { name: /Offsite bucket/ }).waitFor({ state: 'detached' });
    const { items } = await api('GET', '/tenants/umbrella/audit/export-destinations');
    assert.deepEqual(items.map((d) => d.name), ['Compliance archive']);
  });

  await check('the health table and the export tab on a narrow screen', async () => {
    const { context, page: n } = await newPage({ width: 390, height: 844 });
    await n.goto(`${BASE}/console/platform`);
    await hydrated(n);
    await n.getByLabel('Platform token').fill(TOKEN);
    await n.getByRole('button', { name: 'Continue' }).click();
    const table = n.getByRole('region', { name: 'Tenant health' });
    await table.locator('tr[data-tenant=umbrella]').waitFor();
    await table.scrollIntoViewIfNeeded();
    await shot(n, '55-platform-health-narrow');
    await signIn(n, 'olga@umbrella.example');
    await n.goto(`${BASE}/console/t/umbrella/audit`);
    await auditReady(n);
    await n.getByRole('tab', { name: 'Exports' }).click();
    await n.getByRole('region', { name: 'Export destinations' }).getByRole('cell', { name: 'Compliance archive', exact: true }).waitFor();
    // The start form offers the one destination left.
    const chosen = n.getByRole('form', { name: 'Start an export' }).getByLabel('Destination');
    assert.equal(await chosen.locator('option:checked').textContent(), 'Compliance archive');
    await n.evaluate(() => window.scrollTo(0, 0));
    await shot(n, '56-audit-exports-narrow', true);
    await context.close();
  });

  assert.deepEqual(problems, [], 'no errors in the browser');
} catch (e) {
  console.error(`not ok - ${step}`);
  let n = 0;
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    console.error(`  page ${n}: ${p.url()}`);
    await p.screenshot({ path: path.join(SHOTS, `operations-failure-${n++}.png`) }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
}
console.log('console operations: ok');
