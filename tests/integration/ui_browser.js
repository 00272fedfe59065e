// The operator page in a real browser (Debian's chromium driven by
// playwright-core), against a running kvs-infer. Used by it_ui.sh:
//   node ui_browser.js BASE_URL TOKEN SHOT_DIR CAMERA_A CAMERA_B
// Exits non-zero with a message on the first check that fails; screenshots
// go to SHOT_DIR (kept as test artefacts).
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../standins/node_modules/playwright-core'));

const [base, token, shots, camA, camB] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };
const note = (msg) => console.error('-- ' + msg);

async function frames(page, name) {
  return page.evaluate((n) => {
    const img = document.querySelector(`.cam[data-name="${CSS.escape(n)}"] img`);
    return img ? Number(img.dataset.frames || 0) : -1;
  }, name);
}

async function waitFor(what, fn, ms = 20000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) fail('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const timer = setTimeout(() => fail('the browser test ran over 150 s'), 150000);
  try {
    // Without the token: the page itself is refused (a navigation would end
    // in chromium's own auth error, so ask through the context's requests).
    const bare = await browser.newContext();
    const r401 = await bare.request.get(base + '/');
    if (r401.status() !== 401) fail('GET / without the token gave ' + r401.status());
    const nav = await (await bare.newPage()).goto(base + '/').then(() => 'loaded', (e) => String(e));
    if (!nav.includes('ERR_INVALID_AUTH_CREDENTIALS')) fail('the browser showed the page without the token: ' + nav);
    await bare.close();

    const ctx = await browser.newContext({ httpCredentials: { username: 'operator', password: token },
      viewport: { width: 1280, height: 1100 } });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // A camera asked for the first time has no frame kept yet: 503, expected.
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 503')) errors.push(m.text()); });
    const res = await page.goto(base + '/');
    if (res.status() !== 200) fail('GET / with the token gave ' + res.status());
    const csp = res.headers()['content-security-policy'] || '';
    if (!csp.includes("default-src 'none'")) fail('no Content-Security-Policy on the page: ' + csp);

    // The wall: both cameras, each image changing between two screenshots.
    await waitFor('the three camera cards', async () => (await page.locator('.cam').count()) === 3);
    for (const cam of [camA, camB]) await waitFor(cam + "'s first frame", async () => (await frames(page, cam)) >= 1);
    const card = (cam) => page.locator(`.cam[data-name="${cam}"] img`);
    const first = {};
    for (const cam of [camA, camB]) first[cam] = await card(cam).screenshot();
    await page.screenshot({ path: path.join(shots, 'wall.png') });
    for (const cam of [camA, camB]) {
      const n = await frames(page, cam);
      await waitFor(cam + "'s next frames", async () => (await frames(page, cam)) >= n + 2);
      const again = await card(cam).screenshot();
      if (again.equals(first[cam])) fail(cam + "'s image did not change between two screenshots");
      note(`${cam}: image changed (${first[cam].length} -> ${again.length} bytes of PNG)`);
    }
    const badge = await page.locator(`.cam[data-name="${camA}"] .badge`).textContent();
    if (badge !== 'running') fail(camA + "'s badge says " + badge);

    // The detail view opens from the wall.
    await card(camA).click();
    await waitFor('the detail view', async () => page.locator('#detail').isVisible());
    if (await page.locator('#wall').isVisible()) fail('the wall is still shown in the detail view');
    await waitFor('the detail frame', async () => page.evaluate(() => document.getElementById('detail-img').naturalWidth > 0));
    const dets = await page.locator('#detail-detectors li').allTextContents();
    if (!dets.length || !dets[0].includes('yolo')) fail('detectors not listed: ' + JSON.stringify(dets));
    const zones = await page.locator('#detail-zone-list li').allTextContents();
    if (!zones.some((z) => z.includes('driveway'))) fail('zones not listed: ' + JSON.stringify(zones));
    const zonePixels = await waitFor('the zones drawn over the frame', async () => page.evaluate(() => {
      const c = document.getElementById('detail-zones');
      if (!c.width || !c.height) return 0;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n > c.width * c.height / 4 ? n : 0; /* driveway covers the lower 70 % */
    }));
    note(`detail view: zones drawn over ${zonePixels} pixels`);
    await page.screenshot({ path: path.join(shots, 'detail.png') });

    // The ROI editor: four clicks give YAML whose polygon is where we clicked.
    await page.goto(base + '/#/roi/' + encodeURIComponent(camB));
    await waitFor('the ROI frame', async () => page.evaluate(() => document.getElementById('roi-img').naturalWidth > 0));
    await page.locator('#roi-img').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    const box = await page.locator('#roi-img').boundingBox();
    const clicks = [[0.1, 0.2], [0.8, 0.25], [0.75, 0.9], [0.15, 0.85]].map(([fx, fy]) =>
      [Math.round(box.x + fx * box.width), Math.round(box.y + fy * box.height)]);
    await page.fill('#roi-zone', 'entrance');
    await page.selectOption('#roi-kind', 'exclude');
    for (const [x, y] of clicks) await page.mouse.click(x, y);
    const yaml = await page.locator('#roi-yaml').textContent();
    const m = yaml.match(/name: entrance, polygon: \[(.*)\], exclude: true\}/);
    if (!m) fail('unexpected ROI YAML: ' + yaml);
    const pts = [...m[1].matchAll(/\[([0-9.]+), ([0-9.]+)\]/g)].map((p) => [Number(p[1]), Number(p[2])]);
    if (pts.length !== 4) fail('4 points expected in ' + yaml);
    pts.forEach(([fx, fy], i) => {
      const dx = Math.abs(box.x + fx * box.width - clicks[i][0]), dy = Math.abs(box.y + fy * box.height - clicks[i][1]);
      if (dx > 1 || dy > 1) fail(`point ${i}: ${fx},${fy} is ${dx.toFixed(2)},${dy.toFixed(2)} px from the click`);
    });
    note('ROI YAML: ' + yaml.trim());
    await page.screenshot({ path: path.join(shots, 'roi.png') });

    // Events with thumbnails; a thumbnail opens the snapshot.
    await page.goto(base + '/#/events');
    await waitFor('events listed', async () => (await page.locator('#event-list .event').count()) > 0);
    await waitFor('a thumbnail', async () => page.evaluate(() =>
      [...document.querySelectorAll('#event-list .event img')].some((i) => i.complete && i.naturalWidth > 0)));
    const count = await page.locator('#event-list .event').count();
    await page.selectOption('#filter-camera', camA);
    await page.click('#event-filter button');
    await waitFor('filtered events', async () => {
      const cams = await page.locator('#event-list .event').allTextContents();
      return cams.length > 0 && cams.every((t) => t.includes(camA));
    });
    await page.screenshot({ path: path.join(shots, 'events.png') });
    // The plate filter (prefix, and one character off).
    await page.selectOption('#filter-camera', '');
    await page.fill('#filter-plate', 'AB124');
    await page.check('#filter-fuzzy');
    await page.click('#event-filter button');
    await waitFor('plate-filtered events', async () => {
      const rows = await page.locator('#event-list .event').allTextContents();
      return rows.length === 2 && rows.every((t) => t.includes('archive'));
    });
    await page.screenshot({ path: path.join(shots, 'events-plate.png') });
    await page.fill('#filter-plate', '');
    await page.uncheck('#filter-fuzzy');
    await page.selectOption('#filter-camera', camA);
    await page.click('#event-filter button');
    await waitFor('camera-filtered events again', async () => {
      const cams = await page.locator('#event-list .event').allTextContents();
      return cams.length > 0 && cams.every((t) => t.includes(camA));
    });
    await page.locator('#event-list .event img').first().click();
    await waitFor('the snapshot dialog', async () => page.evaluate(() =>
      document.getElementById('viewer').open && document.getElementById('viewer-img').complete && document.getElementById('viewer-img').naturalWidth > 0));
    await page.screenshot({ path: path.join(shots, 'snapshot.png') });
    note(`${count} events listed, filter by camera works, a snapshot opened`);
    if (errors.length) fail('errors in the page: ' + errors.join(' | '));
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
  console.log('browser: PASS');
})().catch((e) => fail(e.stack || String(e)));
