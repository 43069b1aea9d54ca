// SPDX-License-Identifier: MIT
// Screenshots of every page in a real session, for README "Client pages":
//   node tests/browser/screenshots.mjs [OUTDIR]   (default docs/screenshots)
// Starts its own stack (lighttpd, fcpush-ws when built), publishes a few
// messages the way a user would (curl-like POSTs, the page forms, the CLI fed
// by `tail -f FILE`), and saves NAME.png at 1000 px wide.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Stack, BUILDDIR, SRCDIR, launchBrowser, waitState, waitMessage, wav } from './harness.mjs';

const out = path.resolve(process.argv[2] || path.join(SRCDIR, 'docs/screenshots'));
fs.mkdirSync(out, { recursive: true });
const stack = await new Stack({ server: 'lighttpd', worker: { FCPUSH_MAX_MESSAGE_BYTES: '8M' } }).start();
const browser = await launchBrowser();
const ctx = () => browser.newContext({ viewport: { width: 1000, height: 760 }, deviceScaleFactor: 1 });
const shot = async (page, name, full = false) => {
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.screenshot({ path: path.join(out, name + '.png'), fullPage: full });
  console.log('wrote', path.join(out, name + '.png'));
};

try {
  const c1 = await ctx();
  const page = await c1.newPage();

  // The transport pages: two messages from outside, one from the form.
  for (const [file, ch] of [['poll', 'news'], ['longpoll', 'news'], ['sse', 'news'], ['stream', 'news'], ['websocket', 'news']]) {
    await page.goto(stack.url(`/${file}.html?channel=${ch}`));
    await waitState(page, 'open');
    const text = `published with curl while ${file}.html listens`;
    await stack.publish(ch, text);
    await waitMessage(page, text, 5000);
    if (file === 'sse') {
      await stack.publish(ch, 'the server is restarting at 18:00', { event: 'alert' });
      await waitMessage(page, 'the server is restarting at 18:00', 5000);
    }
    if (file === 'stream') {
      await stack.publish(ch, JSON.stringify({ temperature: 21.5, unit: 'C' }), { contentType: 'application/json' });
      await waitMessage(page, '{"temperature":21.5,"unit":"C"}', 5000);
    }
    await page.fill('input[name=message]', `typed into ${file}.html`);
    await page.click('#publish button');
    await waitMessage(page, `typed into ${file}.html`, 5000);
    await shot(page, file);
  }

  // The index, with its live panel.
  await page.goto(stack.url('/?channel=news'));
  await waitState(page, 'open');
  await shot(page, 'index', true);

  // Chat: two people in two contexts.
  const c2 = await ctx();
  const bob = await c2.newPage();
  await page.goto(stack.url('/chat.html?channel=lobby'));
  await bob.goto(stack.url('/chat.html?channel=lobby'));
  for (const [p, name] of [[page, 'alice'], [bob, 'bob']]) {
    await waitState(p, 'open');
    await p.fill('input[name=name]', name);
    await p.dispatchEvent('input[name=name]', 'change');
  }
  const say = async (p, text, name) => {
    await p.fill('input[name=message]', text);
    await p.press('input[name=message]', 'Enter');
    await waitMessage(page, `${name}: ${text}`, 5000);
  };
  await say(page, 'hi bob, are you on the SSE page too?', 'alice');
  await say(bob, 'no, chat.html: it picked ' + await bob.textContent('#transport') + ' for me', 'bob');
  await say(page, 'reload and you get what you missed, once', 'alice');
  await shot(page, 'chat');

  // Feed: the CLI fed by tail -f.
  const log = path.join(stack.dir, 'app.log');
  fs.writeFileSync(log, '');
  await page.goto(stack.url('/feed.html?channel=feed'));
  await waitState(page, 'open');
  const pipeline = spawn('sh', ['-c', `tail -n +1 -F '${log}' | '${path.join(BUILDDIR, 'fcpush')}' --database '${stack.db}' publish feed`], { stdio: 'ignore', detached: true });
  const lines = [
    'GET /index.html 200 1.2 ms', 'POST /api/orders 201 14.8 ms', 'GET /api/orders/4711 200 3.1 ms',
    'WARN slow query: SELECT * FROM orders (812 ms)', 'GET /favicon.ico 404 0.3 ms', 'POST /api/login 401 2.2 ms',
  ];
  for (const l of lines) fs.appendFileSync(log, `${new Date().toISOString()} ${l}\n`);
  await page.waitForFunction((n) => document.querySelectorAll('#messages li.msg').length >= n, lines.length, { timeout: 10000 });
  process.kill(-pipeline.pid, 'SIGTERM');
  await shot(page, 'feed');

  // Large: a sound and an image, published from the page.
  await page.goto(stack.url('/large.html?channel=media'));
  await waitState(page, 'open');
  await page.setInputFiles('input[name=file]', { name: 'tone.wav', mimeType: 'audio/wav', buffer: wav(17) });
  await page.click('#publish button');
  await page.waitForSelector('#messages li.msg audio');
  await page.setInputFiles('input[name=file]', { name: 'chat.png', mimeType: 'image/png', buffer: fs.readFileSync(path.join(out, 'chat.png')) });
  await page.click('#publish button');
  await page.waitForFunction(() => { const i = document.querySelector('#messages li.msg img'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 10000 });
  await page.setViewportSize({ width: 1000, height: 1100 });
  await shot(page, 'large');
} finally {
  await browser.close();
  await stack.stop();
}
