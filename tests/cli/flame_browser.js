// flame_browser.js — loads a heapscope flame graph HTML page in headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core) with the
// network blocked, takes screenshots, and checks: the hottest function's name
// is visible, hovering shows detail, search highlights, a click zooms.
// Usage: node flame_browser.js PLAYWRIGHT_DIR PAGE.html HOTTEST ZOOM_TARGET OUT_DIR
'use strict';
const path = require('path');
const [playwrightDir, page_path, hottest, zoomTarget, outDir] = process.argv.slice(2);
const { chromium } = require(path.join(playwrightDir, 'node_modules', 'playwright-core'));

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
  console.log('ok ' + what);
}

(async () => {
  const context = await chromium.launchPersistentContext(path.join(outDir, 'profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const remote = [];
    await context.route('**/*', route => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      remote.push(url);
      return route.abort();
    });
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    await page.goto('file://' + path.resolve(page_path));
    await page.waitForSelector('#chart svg g');
    await page.screenshot({ path: path.join(outDir, 'flame.png') });
    check(errors.length === 0, 'no script errors ' + JSON.stringify(errors));

    const hot = page.locator('#chart text', { hasText: hottest }).first();
    check(await hot.isVisible(), 'hottest function "' + hottest + '" is visible');

    await page.locator('#chart g', { has: page.locator('text', { hasText: hottest }) }).first().hover();
    const detail = await page.locator('#detail').textContent();
    check(detail.includes(hottest) && detail.includes('%'), 'hover detail: ' + detail.trim());

    const chartWidth = await page.locator('#chart').evaluate(e => e.clientWidth);
    const target = page.locator('#chart g', { has: page.locator('text', { hasText: zoomTarget }) }).first();
    const before = await target.locator('rect').evaluate(r => r.getBBox().width);
    await target.click();
    await page.waitForFunction(name => document.body.dataset.zoom === name, zoomTarget);
    const zoomed = page.locator('#chart g', { has: page.locator('text', { hasText: zoomTarget }) }).first();
    const after = await zoomed.locator('rect').evaluate(r => r.getBBox().width);
    check(before < chartWidth * 0.9 && after > chartWidth * 0.95,
          'click zooms "' + zoomTarget + '": width ' + before.toFixed(0) + ' -> ' + after.toFixed(0) +
          ' of ' + chartWidth);
    check(await page.locator('#reset').isVisible(), 'reset button shown when zoomed');
    await page.screenshot({ path: path.join(outDir, 'flame-zoomed.png') });
    await page.locator('#reset').click();
    await page.waitForFunction(() => document.body.dataset.zoom === '');

    await page.locator('#search').fill(hottest.replace(/^.*\./, ''));
    const matched = await page.locator('#matched').textContent();
    const magenta = await page.locator('#chart rect[fill="rgb(230,0,230)"]').count();
    check(matched.startsWith('matched ') && magenta >= 1, 'search: ' + matched + ', ' + magenta + ' highlighted');
    check(remote.length === 0, 'no network requests ' + JSON.stringify(remote));
  } finally {
    await context.close();
  }
})().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
