// The operator page in a real browser (Debian's chromium driven by
// playwright-core), against a running kvs-infer. Used by it_ui.sh:
//   node ui_browser.js BASE_URL TOKEN SHOT_DIR CAMERA_A CAMERA_B
// Exits non-zero with a message on the first check that fails (the page's
// independent checks, bad(), report each and fail at the end); screenshots
// go to SHOT_DIR (kept as test artefacts).
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../standins/node_modules/playwright-core'));

const [base, token, shots, camA, camB] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };
const note = (msg) => console.error('-- ' + msg);
// A check whose failure leaves the rest of the page testable: reported at
// once, and the run fails at its end.
const problems = [];
const bad = (msg) => { problems.push(msg); console.error('FAIL: ' + msg); };

async function frames(page, name) {
  return page.evaluate((n) => {
    const img = document.querySelector(`.cam[data-name="${CSS.escape(n)}"] img`);
    return img ? Number(img.dataset.frames || 0) : -1;
  }, name);
}

// Where an overlay canvas sits against its picture, on the screen: both
// boxes, the screen box of every pixel drawn on the canvas, and the alpha of
// the canvas under the given points of the picture (fractions of its size).
// The canvas's own pixels are mapped to the screen through its box, so a
// canvas stretched over more than the picture shows here.
async function overlay(page, imgId, canvasId, probes) {
  return page.evaluate(([imgId, canvasId, probes]) => {
    const rect = (r) => ({ x: r.left, y: r.top, w: r.width, h: r.height });
    const img = rect(document.getElementById(imgId).getBoundingClientRect());
    const c = document.getElementById(canvasId);
    const cv = rect(c.getBoundingClientRect());
    if (!c.width || !c.height || !cv.w || !cv.h) return { img, cv, drawn: null, alpha: [] };
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const sx = cv.w / c.width, sy = cv.h / c.height;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, n = 0;
    for (let y = 0; y < c.height; y++) {
      for (let x = 0; x < c.width; x++) {
        if (!d[(y * c.width + x) * 4 + 3]) continue;
        n++;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1); y0 = Math.min(y0, y); y1 = Math.max(y1, y + 1);
      }
    }
    const drawn = n ? { n, x: cv.x + x0 * sx, y: cv.y + y0 * sy, w: (x1 - x0) * sx, h: (y1 - y0) * sy } : null;
    const alpha = probes.map(([fx, fy]) => {
      const x = Math.floor((img.x + fx * img.w - cv.x) / sx), y = Math.floor((img.y + fy * img.h - cv.y) / sy);
      return x < 0 || y < 0 || x >= c.width || y >= c.height ? 0 : d[(y * c.width + x) * 4 + 3];
    });
    return { img, cv, drawn, alpha };
  }, [imgId, canvasId, probes]);
}
const fmtBox = (b) => `${b.w.toFixed(0)}x${b.h.toFixed(0)} at ${b.x.toFixed(0)},${b.y.toFixed(0)}`;
const sameBox = (a, b) => ['x', 'y', 'w', 'h'].every((k) => Math.abs(a[k] - b[k]) <= 1);
const inside = (a, b) => a.x >= b.x - 1 && a.y >= b.y - 1 && a.x + a.w <= b.x + b.w + 1 && a.y + a.h <= b.y + b.h + 1;

// fn's first true value within ms, or null.
async function poll(fn, ms) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) return null;
    await new Promise((r) => setTimeout(r, 200));
  }
}
async function waitFor(what, fn, ms = 20000) {
  return (await poll(fn, ms)) || fail('timed out waiting for ' + what);
}

const started = Date.now();
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
    // The zones over the picture: the overlay lies exactly on the picture,
    // everything drawn is inside it, and driveway (the lower 70 %) is drawn
    // where the picture shows it: under its middle and its bottom, not its top.
    const probes = [[0.5, 0.4], [0.5, 0.95], [0.5, 0.2]];
    const ov = await waitFor('the zones drawn over the frame', async () => {
      const o = await overlay(page, 'detail-img', 'detail-zones', probes);
      return o.drawn && o.drawn.n > 1000 ? o : null;
    });
    const wrong = [];
    if (!sameBox(ov.cv, ov.img)) wrong.push(`the zones overlay is ${fmtBox(ov.cv)}, the picture ${fmtBox(ov.img)}`);
    if (!inside(ov.drawn, ov.img)) wrong.push(`the zones are drawn over ${fmtBox(ov.drawn)}, outside the picture ${fmtBox(ov.img)}`);
    if (!ov.alpha[0] || !ov.alpha[1] || ov.alpha[2]) {
      wrong.push(`driveway (y from 0.3 to 1 of the picture) drawn at y 0.4: ${!!ov.alpha[0]}, 0.95: ${!!ov.alpha[1]}, 0.2: ${!!ov.alpha[2]}`);
    }
    if (wrong.length) bad('detail view: ' + wrong.join('; '));
    else note(`detail view: zones drawn over ${ov.drawn.n} pixels, overlay ${fmtBox(ov.cv)} on the picture ${fmtBox(ov.img)}`);
    // A window narrower than the frame scales the picture down; the overlay follows it.
    await page.setViewportSize({ width: 700, height: 900 });
    const narrow = await waitFor('the zones redrawn in a narrow window', async () => {
      const o = await overlay(page, 'detail-img', 'detail-zones', probes);
      return o.img.w < 600 && o.drawn ? o : null;
    });
    if (!sameBox(narrow.cv, narrow.img) || !inside(narrow.drawn, narrow.img) || !narrow.alpha[0] || narrow.alpha[2]) {
      bad(`detail view, 700 px wide: the zones overlay is ${fmtBox(narrow.cv)}, drawn over ${fmtBox(narrow.drawn)}, the picture ${fmtBox(narrow.img)}`);
    }
    await page.setViewportSize({ width: 1280, height: 1100 });
    await page.screenshot({ path: path.join(shots, 'detail.png') });

    // The ROI editor on a camera with a zone shows that zone: drawn over the
    // picture where it lies, listed, and kept in the YAML to paste.
    await page.goto(base + '/#/roi/' + encodeURIComponent(camA));
    await waitFor('the ROI frame', async () => page.evaluate(() => document.getElementById('roi-img').naturalWidth > 0));
    const edOk = (o) => o.drawn && sameBox(o.cv, o.img) && inside(o.drawn, o.img) && o.alpha[0] && o.alpha[1] && !o.alpha[2];
    const ed = await poll(async () => {
      const o = await overlay(page, 'roi-img', 'roi-canvas', probes);
      return edOk(o) ? o : null;
    }, 5000);
    if (!ed) {
      const o = await overlay(page, 'roi-img', 'roi-canvas', probes);
      bad(`the zone editor for ${camA} does not show its zone driveway: ` + (o.drawn
        ? `drawn over ${fmtBox(o.drawn)} on a canvas ${fmtBox(o.cv)}, picture ${fmtBox(o.img)}, at y 0.4/0.95/0.2: ${o.alpha.map(Boolean)}`
        : 'nothing drawn on its canvas'));
    }
    const listed = await page.locator('#roi-existing li').allTextContents();
    if (!listed.some((z) => z.includes('driveway'))) bad('the zone editor does not list driveway: ' + JSON.stringify(listed));
    const kept = await page.locator('#roi-yaml').textContent();
    if (!/name: driveway, polygon: \[\[0(\.0+)?, 0\.30*\], /.test(kept)) bad('the zone editor\'s YAML drops driveway: ' + kept);
    await page.screenshot({ path: path.join(shots, 'roi-existing.png') });
    if (ed) note(`zone editor: ${camA}'s driveway drawn over ${ed.drawn.n} pixels`);

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

    // Back from the events closes the snapshot: it must not cover the view
    // the operator goes back to.
    await page.evaluate(() => history.back());
    await waitFor('the view before the events', async () => page.evaluate(() => location.hash !== '#/events'));
    const closed = await poll(async () => !(await page.evaluate(() => document.getElementById('viewer').open)) &&
      !(await page.locator('#viewer').isVisible()), 3000);
    if (!closed) {
      bad(`the snapshot dialog is still open after history.back() to ${await page.evaluate(() => location.hash)}, over that view`);
    } else note('back from the events: the snapshot dialog closed');
    await page.screenshot({ path: path.join(shots, 'back.png') });
    if (problems.length) fail(problems.length + ' check(s) of the page failed (above)');
    if (errors.length) fail('errors in the page: ' + errors.join(' | '));
  } finally {
    clearTimeout(timer);
    await browser.close();
  }
  console.log(`browser: PASS (${((Date.now() - started) / 1000).toFixed(1)} s)`);
})().catch((e) => fail(e.stack || String(e)));
