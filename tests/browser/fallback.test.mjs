// SPDX-License-Identifier: MIT
// Transport fallback in fcpush.js (chat.html, default order websocket, sse,
// longpoll, poll): with the WebSocket path not proxied by the server config
// the client settles on SSE; with SSE blocked too, on long poll. Under
// lighttpd and Apache.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launchBrowser, withPages, unique, waitState, waitMessage, WS_SKIP, LIGHTTPD, APACHE2 } from './harness.mjs';

async function chatOpen(stack, page, ch) {
  await page.goto(stack.url(`/chat.html?channel=${ch}`));
  await waitState(page, 'open');
  return page.textContent('#transport');
}

for (const server of ['lighttpd', 'apache']) {
  const missing = server === 'lighttpd' ? !LIGHTTPD : !APACHE2;
  describe(`fallback under ${server}, WebSocket not proxied`, { skip: missing && `${server} not installed` }, () => {
    let stack;
    let browser;
    before(async () => {
      stack = await new Stack({ server, ws: false }).start();
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
    });

    test('no WebSocket: falls back to SSE', async () => {
      await withPages(stack, browser, 1, `${server}-no-ws`, async (page) => {
        const sockets = [];
        page.on('websocket', (ws) => sockets.push(ws.url()));
        const ch = unique('fallback-sse');
        assert.equal(await chatOpen(stack, page, ch), 'sse');
        assert.equal(sockets.length, 1, 'one WebSocket attempt first');
        assert.match(sockets[0], new RegExp(`/push/ws/channels/${ch}\\?since=`));
        await stack.publish(ch, JSON.stringify({ name: 'curl', text: 'over SSE' }), { contentType: 'application/json' });
        await waitMessage(page, 'curl: over SSE');
      });
    });

    test('no WebSocket, SSE blocked: falls back to long poll', async () => {
      await withPages(stack, browser, 1, `${server}-no-sse`, async (page) => {
        let blocked = 0;
        await page.route('**/push/channels/**', (route) => {
          if ((route.request().headers().accept || '').includes('text/event-stream')) {
            blocked++;
            return route.abort('blockedbyclient');
          }
          return route.continue();
        });
        const ch = unique('fallback-lp');
        assert.equal(await chatOpen(stack, page, ch), 'longpoll');
        assert.ok(blocked >= 1, 'an EventSource was tried and blocked');
        const t0 = Date.now();
        await stack.publish(ch, JSON.stringify({ name: 'curl', text: 'over long poll' }), { contentType: 'application/json' });
        await waitMessage(page, 'curl: over long poll');
        console.log(`${server}: long poll delivered in ${Date.now() - t0} ms`);
        assert.equal(await page.textContent('#transport'), 'longpoll');
      });
    });
  });

  describe(`WebSocket under ${server}`, { skip: (missing && `${server} not installed`) || WS_SKIP }, () => {
    let stack;
    let browser;
    before(async () => {
      stack = await new Stack({ server, ws: true }).start();
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
    });

    test('fcpush.js uses WebSocket when the server proxies it', async () => {
      await withPages(stack, browser, 1, `${server}-ws`, async (page) => {
        const ch = unique('ws');
        assert.equal(await chatOpen(stack, page, ch), 'websocket');
        await stack.publish(ch, JSON.stringify({ name: 'curl', text: 'over WebSocket' }), { contentType: 'application/json' });
        await waitMessage(page, 'curl: over WebSocket');
      });
    });
  });
}
