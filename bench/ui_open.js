// Keeps kvs-infer's camera wall open in headless chromium for a while (bench/ui_cost.py).
//   node ui_open.js URL SECONDS
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../tests/standins/node_modules/playwright-core'));
const [url, secs] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  await page.goto(url);
  await page.waitForTimeout(Number(secs) * 1000);
  const frames = await page.evaluate(() => [...document.querySelectorAll('.cam img')]
    .reduce((n, i) => n + Number(i.dataset.frames || 0), 0));
  console.error(`ui_open: ${frames} camera images shown in ${secs} s`);
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
