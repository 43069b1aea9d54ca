// SPDX-License-Identifier: MIT
// Supervision seen from a browser: a page's native EventSource is subscribed
// while a publisher posts and the worker (fcpush.fcgi --supervise, as
// ./quickstart runs it) is killed with SIGKILL. The supervisor holds the
// listening socket and restarts the worker, so the EventSource's
// reconnection waits in the backlog and gets 200 instead of a 503 (on which
// a native EventSource gives up for good); with its Last-Event-ID it resumes
// and receives every committed message exactly once, in order. Under
// lighttpd and Apache. (Apache ends the cut stream only when its
// KeepAliveTimeout, 5 s in conf/, closes the browser's keep-alive
// connection: the EventSource resumes about 5 s after the kill there, 0.2 s
// under lighttpd; the log line says when.)
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Stack, launchBrowser, withPages, unique, waitFor, LIGHTTPD, APACHE2 } from './harness.mjs';

const N = 60;
const KILL_AT = 20;

// The pid of the worker the supervisor runs now (its only child).
function supervisedChild(stack) {
  const pid = stack.worker.child.pid;
  const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kids.length ? Number(kids[0]) : null;
}

// publish(stack, ch, body): POST until a 201 (a request the killed worker had
// already taken fails; a real publisher retries it); returns the statuses
// seen before the 201.
async function publish(stack, ch, body) {
  const failed = [];
  const end = Date.now() + 10000;
  for (;;) {
    let status;
    try {
      const r = await stack.post(`/push/channels/${ch}`, body, {});
      status = r.status;
      await r.arrayBuffer();
    } catch (e) {
      status = e.message;
    }
    if (status === 201) return failed;
    failed.push(status);
    if (Date.now() > end) throw new Error(`publish ${body}: no 201 in 10 s (${failed.length} attempts: ${[...new Set(failed)].join(', ')})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const server of ['lighttpd', 'apache']) {
  const missing = server === 'lighttpd' ? !LIGHTTPD : !APACHE2;
  describe(`supervised worker under ${server}`, { skip: missing && `${server} not installed` }, () => {
    let stack;
    let browser;
    before(async () => {
      stack = await new Stack({ server, ws: false, workerArgs: ['--supervise'], worker: { FCPUSH_RETRY_MS: '200' } }).start();
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      assert.deepEqual(await stack?.stop() ?? [], [], 'the supervisor exits 0 on SIGTERM');
    });

    test('kill -9 of the worker: a native EventSource resumes and gets every message once', async () => {
      await withPages(stack, browser, 1, `${server}-supervise`, async (page) => {
        const ch = unique('supervise');
        await page.goto(stack.url('/favicon.svg'));
        await page.evaluate((url) => {
          window.got = [];
          window.states = [];
          window.opens = 0;
          const es = new EventSource(url);
          window.es = es;
          window.trace = [];
          es.onopen = () => { window.opens++; window.trace.push(['open', Date.now()]); };
          es.onerror = () => { window.states.push(es.readyState); window.trace.push(['error', Date.now()]); };
          es.onmessage = (e) => { window.got.push({ id: Number(e.lastEventId), data: e.data }); };
        }, `/push/channels/${ch}`);
        await waitFor('the EventSource to open', () => page.evaluate(() => window.opens >= 1));

        const first = supervisedChild(stack);
        assert.ok(first, 'the supervisor runs a worker');
        const retried = [];
        const t0 = Date.now();
        let killedAt;
        for (let i = 1; i <= N; i++) {
          if (i === KILL_AT) { process.kill(first, 'SIGKILL'); killedAt = Date.now(); }
          retried.push(...await publish(stack, ch, `m${i}`));
        }
        const second = await waitFor('a new worker', () => {
          const c = supervisedChild(stack);
          return c && c !== first ? c : null;
        });

        // What the database holds (a publish the killed worker committed
        // but could not acknowledge is there too, and delivered).
        const r = await fetch(stack.url(`/push/channels/${ch}?since=0`));
        const committed = (await r.json()).messages.map((m) => m.seq);
        await waitFor(`the page to get seqs ${committed.join(',')}`,
          () => page.evaluate((n) => window.got.length >= n, committed.length), 15000);
        const ms = Date.now() - t0;
        const got = await page.evaluate(() => window.got);
        const trace = (await page.evaluate(() => window.trace)).map(([what, t]) => `${what} ${t - killedAt} ms`);
        console.log(`${server}: EventSource events after the kill: ${trace.join(', ')}`);
        const state = await page.evaluate(() => ({ readyState: window.es.readyState, states: window.states, opens: window.opens }));
        console.log(`${server}: worker ${first} -> ${second}; publishes retried: ${retried.length} (${retried.join(', ')}); ` +
          `EventSource opens: ${state.opens}, error events (readyState): ${JSON.stringify(state.states)}; ` +
          `${N} publishes with the kill to the last one received: ${ms} ms`);
        assert.deepEqual(got.map((e) => e.id), committed, 'the seqs received are the committed ones, each once, in order');
        assert.deepEqual([...new Set(got.map((e) => e.data))].sort(), Array.from({ length: N }, (_, i) => `m${i + 1}`).sort(),
          'every acknowledged message arrived');
        assert.ok(state.opens >= 2, 'the EventSource reconnected (the stream was cut by the kill)');
        assert.ok(!state.states.includes(2), 'the EventSource never closed for good (readyState CLOSED)');
        assert.equal(state.readyState, 1, 'the EventSource is open at the end');
        assert.ok(retried.length <= 1, `only a request the killed worker held may fail: ${retried.join(', ')}`);
      });
    });
  });
}
