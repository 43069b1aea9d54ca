// SPDX-License-Identifier: MIT
// Each transport page, under lighttpd and Apache: a message published with
// a plain HTTP POST (what curl does) appears on the page within 2 s, and the
// page's own form publishes.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launchBrowser, withPages, unique, waitState, waitMessage, WS_SKIP, HAVE_WS, LIGHTTPD, APACHE2 } from './harness.mjs';

const PAGES = [
  { file: 'poll.html', transport: /interval poll/ },
  { file: 'longpoll.html', transport: /long poll/ },
  { file: 'sse.html', transport: /EventSource/ },
  { file: 'stream.html', transport: /NDJSON/ },
  { file: 'websocket.html', transport: /WebSocket/, ws: true },
];

for (const server of ['lighttpd', 'apache']) {
  const missing = server === 'lighttpd' ? !LIGHTTPD : !APACHE2;
  describe(`transport pages under ${server}`, { skip: missing && `${server} not installed` }, () => {
    let stack;
    let browser;
    before(async () => {
      stack = await new Stack({ server }).start();
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      const errors = await stack?.stop();
      assert.deepEqual(errors ?? [], [], 'the worker exits 0');
    });

    for (const p of PAGES) {
      test(`${p.file}: shows a published message within 2 s`, { skip: p.ws && WS_SKIP }, async () => {
        await withPages(stack, browser, 1, `${server}-${p.file}`, async (page) => {
          const ch = unique(p.file.replace('.html', ''));
          const before = await stack.publish(ch, 'before the page opened');
          await page.goto(stack.url(`/${p.file}?channel=${ch}`));
          assert.equal(await page.inputValue('input[name=channel]'), ch, 'the channel input is prefilled from ?channel=');
          await waitState(page, 'open');
          assert.match(await page.textContent('#transport'), p.transport);
          // The last messages are shown first (?last=10).
          await waitMessage(page, 'before the page opened');
          const text = `hello ${server} ${p.file} ${Date.now()}`;
          const t0 = Date.now();
          const { seq } = await stack.publish(ch, text);
          await waitMessage(page, text, 2000);
          const ms = Date.now() - t0;
          console.log(`${server} ${p.file}: shown ${ms} ms after the publish`);
          assert.ok(seq > before.seq);
          await page.waitForFunction((s) => document.querySelector('#seq').textContent === String(s), seq, { timeout: 2000 });
          // The page's form publishes too.
          await page.fill('input[name=message]', 'from the form');
          await page.click('#publish button');
          await waitMessage(page, 'from the form', 3000);
          const texts = await page.$$eval('#messages li.msg', (l) => l.map((li) => li.dataset.text));
          assert.deepEqual(texts, ['before the page opened', text, 'from the form'], 'each message once, in order');
        });
      });
    }

    test('index.html: fcpush.js picks a transport, shows and publishes', async () => {
      await withPages(stack, browser, 1, `${server}-index`, async (page) => {
        const ch = unique('index');
        await page.goto(stack.url(`/?channel=${ch}`));
        await waitState(page, 'open');
        assert.equal(await page.textContent('#transport'), HAVE_WS ? 'websocket' : 'sse', 'the first transport that works');
        const text = `index ${Date.now()}`;
        await stack.publish(ch, text);
        await waitMessage(page, text, 2000);
        await page.fill('input[name=message]', 'typed on the index');
        await page.click('#publish button');
        await waitMessage(page, 'typed on the index', 3000);
      });
    });
  });
}
