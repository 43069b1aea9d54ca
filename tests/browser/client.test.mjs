// SPDX-License-Identifier: MIT
// fcpush.js through the demo pages: two people chat; a reload resumes
// exactly once; a server restart reconnects and resumes; 4xx, gaps and a
// deleted channel are shown and end the subscription.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Stack, BUILDDIR, HAVE_WS, launchBrowser, withPages, unique, waitState, waitMessage, messages } from './harness.mjs';

const cli = (stack, ...args) => execFileSync(path.join(BUILDDIR, 'fcpush'), ['--database', stack.db, ...args], { encoding: 'utf8', timeout: 10000 });

// chatTexts(page): the chat lines as "name: text", in page order.
const chatTexts = (page) => messages(page);

describe('fcpush.js under lighttpd', () => {
  let stack;
  let browser;
  before(async () => {
    stack = await new Stack({ server: 'lighttpd', worker: { FCPUSH_HEARTBEAT_S: '2' } }).start();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
  });

  test('two browser contexts chat through chat.html', async () => {
    await withPages(stack, browser, 2, 'chat', async (alice, bob) => {
      const ch = unique('room');
      for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
        await page.goto(stack.url(`/chat.html?channel=${ch}`));
        await waitState(page, 'open');
        await page.fill('input[name=name]', name);
        await page.dispatchEvent('input[name=name]', 'change');
      }
      await alice.fill('input[name=message]', 'hi bob');
      await alice.click('#publish button');
      await waitMessage(bob, 'alice: hi bob');
      await bob.fill('input[name=message]', 'hello alice');
      await bob.press('input[name=message]', 'Enter');
      await waitMessage(alice, 'bob: hello alice');
      await waitMessage(bob, 'bob: hello alice');
      for (const page of [alice, bob]) {
        assert.deepEqual(await chatTexts(page), ['alice: hi bob', 'bob: hello alice']);
      }
      assert.equal(await bob.locator('#messages li.mine').count(), 1, "bob's own line is marked");
    });
  });

  test('after a reload the page shows what was published meanwhile, once', async () => {
    await withPages(stack, browser, 1, 'reload', async (page) => {
      const ch = unique('reload');
      // Every message line any document of this tab shows, across reloads,
      // kept in the tab's sessionStorage (written synchronously, so a
      // document that is unloading loses nothing).
      await page.addInitScript(() => addEventListener('DOMContentLoaded', () => {
        new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => {
          if (!n.classList || !n.classList.contains('msg')) return;
          const seen = JSON.parse(sessionStorage.getItem('test-seen') || '[]');
          seen.push(n.dataset.text);
          sessionStorage.setItem('test-seen', JSON.stringify(seen));
        }))).observe(document.getElementById('messages'), { childList: true });
      }));
      await page.goto(stack.url(`/feed.html?channel=${ch}`));
      await waitState(page, 'open');
      await stack.publish(ch, 'one');
      await waitMessage(page, 'one');
      // Away from the page (another site in the same tab), two messages go by.
      await page.goto('about:blank');
      await stack.publish(ch, 'two');
      await stack.publish(ch, 'three');
      await page.goBack();
      await waitMessage(page, 'three');
      await stack.publish(ch, 'four');
      await waitMessage(page, 'four');
      assert.deepEqual(await messages(page), ['two', 'three', 'four'], 'resumed after "one": each message once');
      // A reload with a message published while it happens: the old document
      // or the new one shows it, never both.
      const reloading = page.reload();
      await stack.publish(ch, 'five');
      await reloading;
      await stack.publish(ch, 'six');
      await waitMessage(page, 'six');
      const seen = JSON.parse(await page.evaluate(() => sessionStorage.getItem('test-seen')));
      assert.deepEqual(seen, ['one', 'two', 'three', 'four', 'five', 'six'], 'every message shown once across the reloads');
    });
  });

  test('a server restart: the client reconnects and resumes, nothing lost or repeated', async () => {
    // The WebSocket is served by fcpush-ws: that is the daemon restarted for it.
    for (const transport of HAVE_WS ? ['websocket', 'sse', 'longpoll'] : ['sse', 'longpoll']) {
      const daemon = transport === 'websocket' ? 'ws' : 'worker';
      const start = () => (daemon === 'ws' ? stack.startWs() : stack.startWorker());
      await withPages(stack, browser, 1, `restart-${transport}`, async (page) => {
        const ch = unique(`restart-${transport}`);
        await page.goto(stack.url(`/feed.html?channel=${ch}&transports=${transport}`));
        await waitState(page, 'open');
        assert.equal(await page.textContent('#transport'), transport);
        await stack.publish(ch, 'before');
        await waitMessage(page, 'before');
        await stack[daemon].stop(); // SIGTERM: streams get their shutdown notice
        cli(stack, 'publish', ch, 'while the worker was down'); // the CLI writes the database directly
        await start();
        await stack.publish(ch, 'after');
        await waitMessage(page, 'after', 10000);
        assert.deepEqual(await messages(page), ['before', 'while the worker was down', 'after']);
        await waitState(page, 'open');
        assert.equal(await page.textContent('#transport'), transport, 'same transport after the restart');
      });
    }
  });

  test('a binary body reaches feed.html the same over every transport', async () => {
    // Over the WebSocket it is a binary message; fcpush.js gives it the
    // shape the HTTP transports have (base64 data) plus m.bytes.
    const body = new Uint8Array([0, 1, 0xfe, 0xff, 0x62, 0x69, 0x6e]);
    const shown = '(application/octet-stream, base64) ' + Buffer.from(body).toString('base64');
    for (const transport of HAVE_WS ? ['websocket', 'longpoll'] : ['longpoll']) {
      await withPages(stack, browser, 1, `binary-${transport}`, async (page) => {
        const ch = unique(`binary-${transport}`);
        await page.goto(stack.url(`/feed.html?channel=${ch}&transports=${transport}`));
        await waitState(page, 'open');
        await stack.publish(ch, body, { contentType: 'application/octet-stream' });
        await stack.publish(ch, 'after it');
        await waitMessage(page, 'after it');
        assert.deepEqual(await messages(page), [shown, 'after it']);
      });
    }
  });

  test('a 400 is shown and not retried', async () => {
    await withPages(stack, browser, 1, 'bad-request', async (page) => {
      const statuses = [];
      page.on('response', (r) => { if (r.url().includes('/push/')) statuses.push(r.status()); });
      await page.goto(stack.url('/feed.html?channel=' + encodeURIComponent('bad name!')));
      await waitState(page, 'closed');
      await page.waitForSelector('#messages li.error', { timeout: 5000 });
      assert.match(await page.textContent('#messages li.error'), /400/);
      const n = statuses.length;
      // The subscription is over: no request for the next 1.5 s (a bounded observation).
      await page.waitForTimeout(1500);
      assert.deepEqual(statuses.slice(n), [], 'no request after the 400');
      assert.equal(statuses.filter((s) => s === 400).length, 1, `one 400 in all: ${statuses}`);
    });
  });

  test('a deleted channel is shown and ends the subscription', async () => {
    for (const transport of HAVE_WS ? ['websocket', 'sse', 'stream'] : ['sse', 'stream']) {
      await withPages(stack, browser, 1, `deleted-${transport}`, async (page) => {
        const ch = unique('deleted');
        await page.goto(stack.url(`/feed.html?channel=${ch}&transports=${transport}`));
        await waitState(page, 'open');
        await stack.publish(ch, 'soon gone');
        await waitMessage(page, 'soon gone');
        const r = await fetch(stack.url(`/push/channels/${ch}`), { method: 'DELETE' });
        assert.equal(r.status, 204);
        await waitState(page, 'closed', 5000);
        assert.match(await page.textContent('#messages li.error'), /410.*deleted/);
      });
    }
  });

  test('heartbeats keep an idle stream open', async () => {
    await withPages(stack, browser, 1, 'heartbeat', async (page) => {
      const ch = unique('beat');
      await page.goto(stack.url(`/stream.html?channel=${ch}`));
      await waitState(page, 'open');
      // heartbeat_s is 2 here: a heartbeat line arrives and is shown.
      await page.waitForFunction(() => /\d/.test(document.querySelector('#beat').textContent), null, { timeout: 6000 });
      await waitState(page, 'open');
    });
  });
});

describe('gaps', () => {
  let stack;
  let browser;
  before(async () => {
    stack = await new Stack({ server: 'lighttpd', worker: { FCPUSH_RETENTION_MAX_MESSAGES: '2', FCPUSH_TRIM_INTERVAL_MS: '50' } }).start();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
  });

  for (const file of ['feed.html?transports=sse&', 'feed.html?transports=longpoll&', 'poll.html?', 'stream.html?']) {
    test(`a gap notice is shown (${file.replace(/[?&]$/, '')})`, async () => {
      await withPages(stack, browser, 1, 'gap', async (page) => {
        const ch = unique('gap');
        await page.goto(stack.url(`/${file}channel=${ch}`));
        await waitState(page, 'open');
        await stack.publish(ch, 'g1');
        await waitMessage(page, 'g1');
        // Away while retention keeps only 2 of 5 new messages.
        await page.goto('about:blank');
        const seqs = [];
        for (const t of ['g2', 'g3', 'g4', 'g5', 'g6']) seqs.push((await stack.publish(ch, t)).seq);
        const { waitFor } = await import('./harness.mjs');
        await waitFor('retention to trim', async () => {
          const r = await fetch(stack.url(`/push/channels/${ch}?since=0`));
          return (await r.json()).messages.length === 2;
        }, 5000);
        await page.goBack();
        await waitMessage(page, 'g6', 5000);
        if (file.startsWith('feed')) {
          // fcpush.js resumed from its stored seq: told about the gap, then what remains.
          await page.waitForSelector('#messages li.gap', { timeout: 2000 });
          assert.match(await page.textContent('#messages li.gap'), new RegExp(`#${seqs[3]}`));
          assert.deepEqual(await messages(page), ['g5', 'g6']);
        } else {
          // The raw pages start over with ?last=10: what remains, no gap to tell.
          assert.deepEqual(await messages(page), ['g5', 'g6']);
        }
      });
    });
  }
});
