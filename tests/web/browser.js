// browser.js - the browser half of tests/web/test_browser: Debian's
// headless chromium driven by playwright-core (CDP), with a fresh profile.
//
//   1. the analyst signs in, reads the dashboard's "now" counts, signs out;
//   2. the KSK user signs in, opens the first overdue task of the inbox,
//      resolves it with a note, sees it leave the open list, signs out;
//   3. the analyst signs in again and reloads the dashboard until the task
//      shows in its counts (open - 1, resolved this week + 1).
// Screenshots go to $ARTIFACTS (inbox.png, task.png, dashboard.png,
// dashboard-en.png).  One JSON line on stdout says what was done; any
// failure exits 1 with the reason on stderr.
//
// Environment: WEB_URL, STAFF_LOGIN, STAFF_PASSWORD, ANALYST_LOGIN,
// ANALYST_PASSWORD, ARTIFACTS, CHROMIUM (default /usr/bin/chromium),
// DEADLINE_MS (default 90000: generous for a busy 2-core machine).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const env = (k, d) => {
  const v = process.env[k] || d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('WEB_URL');
const ART = env('ARTIFACTS');
const DEADLINE = parseInt(env('DEADLINE_MS', '90000'), 10);

async function signIn(page, login, password) {
  await page.goto(`${URL}/login?lang=ru`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(/\/(inbox|dashboard)/), page.click('button[type=submit]')]);
}

async function signOut(page) {
  await Promise.all([page.waitForURL(/\/login/), page.click('#logout')]);
}

async function number(page, id) {
  const t = await page.textContent(`#${id}`);
  const n = parseInt(t, 10);
  if (Number.isNaN(n)) throw new Error(`#${id} is not a number: ${t}`);
  return n;
}

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'komek-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    viewport: { width: 1280, height: 900 },
    timeout: DEADLINE,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const result = {};
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(DEADLINE);
    const csp = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });

    // 1. the dashboard before
    await signIn(page, env('ANALYST_LOGIN'), env('ANALYST_PASSWORD'));
    if (!/\/dashboard/.test(page.url())) throw new Error(`analyst landed on ${page.url()}`);
    result.open_before = await number(page, 'live-open');
    result.resolved_before = await number(page, 'live-resolved');
    await signOut(page);

    // 2. the KSK resolves an overdue task
    await signIn(page, env('STAFF_LOGIN'), env('STAFF_PASSWORD'));
    if (!/\/inbox/.test(page.url())) throw new Error(`staff landed on ${page.url()}`);
    const row = page.locator('#tasks tbody tr.overdue').first();
    const id = await row.getAttribute('data-id');
    if (!id) throw new Error('no overdue task in the inbox');
    result.task = id;
    result.inbox_overdue_before = await number(page, 'overdue-count');
    await page.screenshot({ path: path.join(ART, 'inbox.png'), fullPage: false });
    await Promise.all([page.waitForURL(new RegExp(`/tasks/${id}$`)), row.locator('a').click()]);
    await page.waitForSelector('#description');
    await page.fill('#note', 'Заменили кран, вода есть (browser test)');
    await page.screenshot({ path: path.join(ART, 'task.png'), fullPage: true });
    await Promise.all([page.waitForURL(/\/inbox\?done=resolved/), page.click('#resolve button[type=submit]')]);
    await page.waitForSelector('#done');
    if (await page.locator(`tr[data-id="${id}"]`).count() !== 0) throw new Error('the resolved task is still listed');
    result.inbox_overdue_after = await number(page, 'overdue-count');
    await signOut(page);

    // 3. the dashboard after: poll until the counts show it
    await signIn(page, env('ANALYST_LOGIN'), env('ANALYST_PASSWORD'));
    const until = Date.now() + DEADLINE;
    for (;;) {
      result.open_after = await number(page, 'live-open');
      result.resolved_after = await number(page, 'live-resolved');
      if (result.resolved_after === result.resolved_before + 1 &&
          result.open_after === result.open_before - 1) break;
      if (Date.now() > until) throw new Error(`dashboard counts did not move: ${JSON.stringify(result)}`);
      await page.waitForTimeout(500); // polling the page against the deadline
      await page.reload();
    }
    result.svg = await page.locator('svg').count();
    result.bars = await page.locator('svg rect').count();
    result.rating_rows = await page.locator('#rating tbody tr').count();
    await page.screenshot({ path: path.join(ART, 'dashboard.png'), fullPage: true });
    await page.goto(`${URL}/dashboard?lang=en`);
    result.english = (await page.textContent('h1')).includes('Dashboard');
    await page.screenshot({ path: path.join(ART, 'dashboard-en.png'), fullPage: false });
    result.csp_violations = csp.length;
    await signOut(page);
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`browser test: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
