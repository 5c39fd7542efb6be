// speedscope_check.js — opens a heapscope profile in speedscope (the npm
// package's self-contained release, driven by playwright-core in Debian's
// headless Chromium) and prints what speedscope shows, one fact a line, for
// speedscope_test.sh to check:
//   import LINE        speedscope's console line naming the importer it chose
//   error TEXT         a script error on the page, or an alert
//   title TEXT         the profile name in the toolbar
//   row TOTAL|SELF|NAME   each row of the Sandwich view's table
//   hover TEXT         the tooltip over the first frame named HOVER_NAME in
//                      the Left Heavy view (name, value, file:line)
// The page and the profile are served from local files through request
// interception, under an address that never reaches the network; any other
// request is refused and printed as "network URL".
// Usage: node speedscope_check.js NODE_DIR PROFILE.pb.gz HOVER_NAME OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const [nodeDir, profilePath, hoverName, outDir] = process.argv.slice(2).map((a, i) => i === 2 ? a : path.resolve(a));
const { chromium } = require(path.join(nodeDir, 'node_modules', 'playwright-core'));
const release = path.join(nodeDir, 'node_modules', 'speedscope', 'dist', 'release');
const origin = 'http://speedscope.invalid';
const profileName = path.basename(profilePath);

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.route('**/*', route => {
      const url = new URL(route.request().url());
      if (url.origin !== origin) {
        console.log('network ' + url.href);
        return route.abort();
      }
      const file = url.pathname === '/' + profileName
        ? profilePath : path.join(release, path.normalize(url.pathname));
      if (!file.startsWith(release) && file !== profilePath) return route.abort();
      if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'missing' });
      return route.fulfill({ status: 200, body: fs.readFileSync(file) });
    });
    page.on('pageerror', e => console.log('error ' + String(e).split('\n')[0]));
    page.on('dialog', d => { console.log('error alert: ' + d.message()); d.dismiss(); });
    let imported;
    const importedPromise = new Promise(resolve => { imported = resolve; });
    page.on('console', m => {
      const text = m.text();
      if (/^Importing as /.test(text)) console.log('import ' + text);
      if (/^import: /.test(text)) imported();
    });
    await page.goto(origin + '/index.html#profileURL=' + encodeURIComponent(origin + '/' + profileName));
    await Promise.race([importedPromise, page.waitForTimeout(60000)]);
    for (let i = 0; i < 300; i++) {
      const lines = (await page.locator('body').innerText()).split('\n').map(l => l.trim());
      if (lines.includes(profileName)) {
        console.log('title ' + profileName);
        break;
      }
      await page.waitForTimeout(100);
    }

    await page.getByText('Sandwich').click();
    await page.locator('table tr').nth(1).waitFor({ timeout: 30000 });
    for (const row of await page.locator('table tr').allInnerTexts()) {
      const cells = row.split(/\n?\t/).map(s => s.trim());
      if (cells[0] !== 'Total') console.log('row ' + cells.join('|'));
    }

    // Left Heavy: the heaviest stack leftmost, one 20-pixel row per frame
    // below the time axis; hover each row's left end until HOVER_NAME shows.
    await page.getByText('Left Heavy').click();
    await page.waitForTimeout(500);
    for (let y = 150; y < 790; y += 20) {
      await page.mouse.move(40, y);
      await page.waitForTimeout(50);
      const lines = (await page.locator('body').innerText()).split('\n').map(l => l.trim());
      const tip = lines.findIndex(l => l === hoverName || l.endsWith(' ' + hoverName));
      if (tip >= 0) {
        console.log('hover ' + lines.slice(tip, tip + 2).join(' | '));
        break;
      }
    }
    await page.screenshot({ path: path.join(outDir, 'speedscope.png') });
  } finally {
    await browser.close();
  }
})().catch(e => { console.log('error ' + String(e && e.message || e).split('\n')[0]); process.exit(1); });
