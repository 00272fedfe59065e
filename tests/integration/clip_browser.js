// An event's clip plays on the operator page (Debian's chromium driven by
// playwright-core), against a running kvs-infer. Used by it_clips.sh:
//   node clip_browser.js BASE_URL TOKEN CAMERA EVENT_ID DURATION_S
// Opens the event from the events list and waits for the dialog's <video> to
// reach canplaythrough; its duration must be the clip's (within a frame or
// two). Exits non-zero with a message on the first check that fails.
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../standins/node_modules/playwright-core'));

const [base, token, camera, id, duration] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const timer = setTimeout(() => fail('the browser test ran over 90 s'), 90000);
  try {
    const ctx = await browser.newContext({ httpCredentials: { username: 'operator', password: token } });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // The events name their images' S3 copies, which the API does not serve: 404s, expected.
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 404')) errors.push(m.text()); });
    await page.goto(base + '/#/events');
    await page.selectOption('#filter-camera', camera);
    await page.click('#event-filter button');
    const row = page.locator(`#event-list .event[data-id="${id}"] img`);
    await row.waitFor({ timeout: 20000 }).catch(() => fail(`event ${id} is not listed`));
    // Listen before the click: a small clip may be ready at once.
    await page.evaluate(() => {
      const v = document.getElementById('viewer-clip');
      window.clipState = 'waiting';
      v.addEventListener('canplaythrough', () => { window.clipState = 'canplaythrough'; }, { once: true });
      v.addEventListener('error', () => { window.clipState = 'error ' + (v.error && v.error.message); }, { once: true });
    });
    await row.click();
    await page.waitForFunction(() => window.clipState !== 'waiting', null, { timeout: 30000 })
      .catch(() => fail('the clip never reached canplaythrough'));
    const got = await page.evaluate(() => ({
      state: window.clipState, duration: document.getElementById('viewer-clip').duration,
      src: document.getElementById('viewer-clip').currentSrc,
      width: document.getElementById('viewer-clip').videoWidth,
    }));
    if (got.state !== 'canplaythrough') fail(`the clip did not play: ${got.state} (${got.src})`);
    if (!(Math.abs(got.duration - Number(duration)) <= 0.25)) fail(`clip duration ${got.duration} s, expected ${duration} s`);
    if (!(got.width > 0)) fail('the clip has no picture');
    if (errors.length) fail('errors in the page: ' + errors.join(' | '));
    console.error(`-- ${got.src}: canplaythrough, ${got.duration} s, ${got.width} px wide`);
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
})().catch((e) => fail(String(e && e.stack || e)));
