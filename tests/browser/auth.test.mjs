// SPDX-License-Identifier: MIT
// The demo pages with access control on, as ./quickstart runs them: `auth =
// publish` with an HS256 key, and www/fcpush-token.json holding the pages'
// token (`fcpush token --subscribe '*' --publish '*'`), which demo.js reads
// and hands to fcpush.js. Publishing from a page works through each way a
// page publishes (fcpush.publish's POST, demo.js's POST, a WebSocket
// publish command); without the token file, subscribing still works and a
// publish from the page is refused cleanly: a 401 shown on the page, the
// page still subscribed, nothing stored. Under lighttpd only (Apache's
// CGIPassAuth is covered by tests/integration/t_auth.sh), to keep the suite
// short.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Stack, BUILDDIR, WS_SKIP, LIGHTTPD, launchBrowser, withPages, unique, waitFor, waitState, waitMessage, messages } from './harness.mjs';

const cli = (...args) => execFileSync(path.join(BUILDDIR, 'fcpush'), args, { encoding: 'utf8', timeout: 10000 }).trim();

describe('demo pages with auth = publish under lighttpd', { skip: !LIGHTTPD && 'lighttpd not installed' }, () => {
  let stack;
  let browser;
  let tokenFile;
  let tokenJson;
  before(async () => {
    const env = { FCPUSH_AUTH: 'publish' };
    stack = new Stack({ server: 'lighttpd', worker: env, wsEnv: env });
    const key = path.join(stack.dir, 'jwt.key');
    fs.writeFileSync(key, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
    env.FCPUSH_AUTH_KEY_FILE = key;
    // What quickstart's prepare_auth writes for the pages, and a publisher
    // token for the publishes made from here (with curl, in quickstart).
    const token = cli('--config', '/dev/null', 'token', '--key-file', key, '--subscribe', '*', '--publish', '*', '--ttl', '600');
    stack.token = cli('--config', '/dev/null', 'token', '--key-file', key, '--publish', '*', '--ttl', '600');
    tokenJson = JSON.stringify({ token }) + '\n';
    await stack.start();
    tokenFile = path.join(stack.dir, 'www', 'fcpush-token.json');
    fs.writeFileSync(tokenFile, tokenJson, { mode: 0o644 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
  });

  // count(ch): messages stored on ch (a poll; subscribing is open).
  const count = async (ch) => (await (await fetch(stack.url(`/push/channels/${ch}?since=0`))).json()).messages.length;
  // tokenServed(status): wait until lighttpd answers the token file with
  // status. Its stat cache keeps serving a file for up to a second or two
  // after it is deleted or written, so a page loaded at once could still get
  // (or still miss) the token.
  const tokenServed = (status) => waitFor(`fcpush-token.json to answer ${status}`,
    async () => (await fetch(stack.url('/fcpush-token.json'), { cache: 'no-store' })).status === status);

  const PAGES = [
    { file: 'index.html', how: 'fcpush.publish' },
    { file: 'sse.html', how: "demo.js's POST" },
    { file: 'websocket.html', how: 'a WebSocket publish command', skip: WS_SKIP },
  ];
  for (const p of PAGES) {
    test(`${p.file}: the page publishes with its token (${p.how})`, { skip: p.skip }, async () => {
      await withPages(stack, browser, 1, `auth-${p.file}`, async (page) => {
        const ch = unique('auth');
        await stack.publish(ch, 'from the backend');
        await page.goto(stack.url(`/${p.file}?channel=${ch}`));
        await waitState(page, 'open');
        await waitMessage(page, 'from the backend');
        await page.fill('input[name=message]', 'from the form');
        await page.click('#publish button');
        await waitMessage(page, 'from the form', 3000);
        assert.deepEqual(await messages(page), ['from the backend', 'from the form']);
        assert.equal(await page.locator('#messages li.error').count(), 0, 'no error shown');
        assert.equal(await count(ch), 2);
      });
    });
  }

  for (const file of ['index.html', 'sse.html']) {
    test(`${file} without a token: subscribes, its publish is refused (401) and says so`, async () => {
      fs.rmSync(tokenFile);
      try {
        await tokenServed(404);
        await withPages(stack, browser, 1, `auth-none-${file}`, async (page) => {
          const ch = unique('noauth');
          await stack.publish(ch, 'still readable');
          await page.goto(stack.url(`/${file}?channel=${ch}`));
          await waitState(page, 'open');
          await waitMessage(page, 'still readable');
          await page.fill('input[name=message]', 'refused');
          await page.click('#publish button');
          const note = await page.locator('#messages li.error').first().textContent({ timeout: 5000 });
          assert.match(note, /^publish failed: .*needs a token/, "the server's 401 detail is shown");
          assert.equal(await count(ch), 1, 'nothing stored');
          // Still subscribed: a message published now is shown.
          await stack.publish(ch, 'after the refusal');
          await waitMessage(page, 'after the refusal', 3000);
          assert.match(await page.textContent('#state'), /^open/);
          assert.deepEqual(await messages(page), ['still readable', 'after the refusal']);
        });
      } finally {
        fs.writeFileSync(tokenFile, tokenJson, { mode: 0o644 });
        await tokenServed(200);
      }
    });
  }
});
