// SPDX-License-Identifier: MIT
// large.html: a file published from the page as one message (over 1 MiB, so
// subscribers get it announced, not inline) is played from
// /push/channels/{ch}/messages/{seq} with Range requests (206).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, launchBrowser, withPages, unique, waitState, wav } from './harness.mjs';

describe('large objects', () => {
  let stack;
  let browser;
  before(async () => {
    stack = await new Stack({ server: 'lighttpd', worker: { FCPUSH_MAX_MESSAGE_BYTES: '8M' } }).start();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    assert.deepEqual(await stack?.stop() ?? [], [], 'the worker exits 0');
  });

  test('a 1.5 MB sound published from the page plays from its URL with Range (206)', async () => {
    await withPages(stack, browser, 1, 'large-audio', async (page) => {
      const ch = unique('large');
      const ranged = [];
      page.on('response', (r) => {
        if (r.url().includes(`/push/channels/${ch}/messages/`)) ranged.push(`${r.status()} ${r.headers()['content-range'] || ''}`);
      });
      await page.goto(stack.url(`/large.html?channel=${ch}`));
      await waitState(page, 'open');
      const body = wav(17); // 1.5 MB
      await page.setInputFiles('input[name=file]', { name: 'tone.wav', mimeType: 'audio/wav', buffer: body });
      await page.click('#publish button');
      const audio = await page.waitForSelector('#messages li.msg audio', { timeout: 5000 });
      assert.match(await page.textContent('#messages li.msg'), new RegExp(`${body.length} bytes, streamed from its URL`));
      // The browser reads the metadata, then we seek near the end: both ranged.
      await page.waitForFunction((a) => a.readyState >= 1 && a.duration > 16, audio, { timeout: 5000 });
      await audio.evaluate((a) => { a.currentTime = 16; });
      await page.waitForFunction((a) => a.readyState >= 2, audio, { timeout: 5000 });
      assert.ok(ranged.some((r) => r.startsWith('206 bytes ')), `a 206 was seen: ${ranged.join(', ')}`);
      console.log(`responses for the body: ${ranged.join(', ')}`);
    });
  });

  test('a binary body is previewed with a Range request', async () => {
    await withPages(stack, browser, 1, 'large-bin', async (page) => {
      const ch = unique('large-bin');
      await page.goto(stack.url(`/large.html?channel=${ch}`));
      await waitState(page, 'open');
      const body = Buffer.alloc(1200000, 0xab);
      await page.setInputFiles('input[name=file]', { name: 'blob.bin', mimeType: 'application/octet-stream', buffer: body });
      await page.click('#publish button');
      await page.waitForSelector('#messages pre.range[data-status]', { timeout: 5000 });
      const text = await page.textContent('#messages pre.range');
      assert.match(text, /^206 bytes 0-63\/1200000\nab ab/);
    });
  });
});
