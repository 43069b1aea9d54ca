// SPDX-License-Identifier: MIT
// The real stack for the browser tests, in the spirit of tests/lib.sh: a
// fresh database, a fcpush.fcgi worker on a unix socket, lighttpd or Apache
// rendered from conf/*.conf.in on a free loopback port serving a copy of
// www/, and fcpush-ws when it is built. Plus headless Debian chromium through
// playwright-core (never a downloaded browser). Every wait is bounded.
//
// Environment: FCPUSH_SRCDIR, FCPUSH_BUILDDIR (default SRCDIR/build),
// LIGHTTPD, APACHE2, CHROMIUM (default /usr/bin/chromium),
// FCPUSH_NODE_MODULES (where playwright-core is installed),
// FCPUSH_TEST_KEEP=1 keeps the temp dirs (a failed test's are always kept).
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SRCDIR = process.env.FCPUSH_SRCDIR || path.resolve(here, '../..');
export const BUILDDIR = process.env.FCPUSH_BUILDDIR || path.join(SRCDIR, 'build');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const WS_BIN = path.join(BUILDDIR, 'fcpush-ws');
export const HAVE_WS = fs.existsSync(WS_BIN);
export const WS_SKIP = HAVE_WS ? false
  : `fcpush-ws is not built yet (${WS_BIN} missing): WebSocket cases skipped`;

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor(what, fn, ms): poll fn() until it returns a truthy value (or
// resolves to one), at most ms; throws with `what` on timeout.
export async function waitFor(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
    await delay(25);
  }
}

function findProg(name, value) {
  if (value) return value;
  for (const d of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])) {
    const p = path.join(d, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}
export const LIGHTTPD = findProg('lighttpd', process.env.LIGHTTPD);
export const APACHE2 = findProg('apache2', process.env.APACHE2);

function freePort() {
  return new Promise((resolve, reject) => {
    // Below the ephemeral range, like tests/lib.sh free_port.
    const tryOne = (n) => {
      const port = 20000 + Math.floor(Math.random() * 12000);
      const s = net.createServer();
      s.once('error', () => (n > 0 ? tryOne(n - 1) : reject(new Error('no free port'))));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(port)));
    };
    tryOne(100);
  });
}

class Proc {
  constructor(name, cmd, args, opts, logFile) {
    this.name = name;
    const out = fs.openSync(logFile, 'a');
    this.child = spawn(cmd, args, { ...opts, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    this.exited = new Promise((r) => this.child.once('exit', (code, sig) => r({ code, sig })));
    this.done = false;
    this.exited.then(() => { this.done = true; });
  }
  async stop(sig = 'SIGTERM', ms = 15000) {
    if (this.done) return this.exited;
    this.child.kill(sig);
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}

export class Stack {
  // opts: server 'lighttpd'|'apache'; ws: start fcpush-ws when built (true);
  // worker: extra FCPUSH_* settings; workerArgs: fcpush.fcgi's arguments
  // (['--supervise']: this.worker is then the supervisor); wsEnv: extra
  // FCPUSH_* settings of fcpush-ws; token: a token publish() sends as
  // Authorization: Bearer (auth = publish or all).
  constructor(opts = {}) {
    this.server = opts.server || 'lighttpd';
    this.wantWs = opts.ws !== false;
    this.workerEnv = opts.worker || {};
    this.workerArgs = opts.workerArgs || [];
    this.wsEnv = opts.wsEnv || {};
    this.token = opts.token || null;
    this.dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `fcpush-browser-${this.server}-`));
    fs.chmodSync(this.dir, 0o755); // Apache's www-data reaches the socket and www/
    this.db = path.join(this.dir, 'fcpush.db');
    this.socket = path.join(this.dir, 'worker.sock');
    this.wsSocket = path.join(this.dir, 'ws.sock');
  }

  async start() {
    fs.cpSync(path.join(SRCDIR, 'www'), path.join(this.dir, 'www'), { recursive: true });
    execFileSync('chmod', ['-R', 'u+w,a+rX', path.join(this.dir, 'www')]);
    execFileSync(path.join(BUILDDIR, 'fcpush'), ['--database', this.db, 'init'], { stdio: 'pipe' });
    await this.startWorker();
    if (this.wantWs && HAVE_WS) await this.startWs();
    await this.startServer();
    return this;
  }

  async startWorker() {
    try { fs.unlinkSync(this.socket); } catch { /* none */ }
    this.worker = new Proc('worker', path.join(BUILDDIR, 'fcpush.fcgi'), this.workerArgs, {
      env: {
        ...process.env, FCPUSH_DATABASE: this.db, FCPUSH_LISTEN: this.socket,
        FCPUSH_LISTEN_MODE: '0666', FCPUSH_LOG_LEVEL: 'info', ...this.workerEnv,
      },
    }, path.join(this.dir, 'worker.err'));
    await waitFor('the worker socket', () => {
      if (this.worker.done) throw new Error('the worker exited: ' + this.log('worker.err'));
      return fs.existsSync(this.socket);
    }, 20000);
  }

  // fcpush-ws: the WebSocket companion on a unix socket (ws_listen), which
  // the rendered config proxies /push/ws/ to (@WSSOCKET@).
  async startWs() {
    this.ws = new Proc('ws', WS_BIN, [], {
      env: {
        ...process.env, FCPUSH_DATABASE: this.db, FCPUSH_WS_LISTEN: this.wsSocket,
        FCPUSH_LISTEN_MODE: '0666', FCPUSH_LOG_LEVEL: 'info', ...this.wsEnv,
      },
    }, path.join(this.dir, 'ws.err'));
    await waitFor('fcpush-ws to listen', () => new Promise((resolve) => {
      if (this.ws.done) return resolve(false);
      const s = net.connect(this.wsSocket);
      const t = setTimeout(() => { s.destroy(); resolve(false); }, 1000);
      s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
      s.once('error', () => { clearTimeout(t); resolve(false); });
    }), 20000);
  }

  // render(template): conf/*.conf.in with the placeholders filled. With
  // ws: false the WebSocket proxy is taken out of the config (lighttpd's
  // $HTTP["url"] =^ "/push/ws/" block, Apache's ProxyPass "/push/ws/"), so
  // /push/ws/ reaches the FastCGI worker, which answers no WebSocket.
  render(template) {
    let text = fs.readFileSync(template, 'utf8');
    if (!this.wantWs) {
      text = text.replace(/^\$HTTP\["url"\] =\^ "\/push\/ws\/" \{[\s\S]*?^\}[^\n]*\n/m, '')
        .replace(/^\s*ProxyPass\s+"?\/push\/ws\/.*\n/m, '');
      if (/\/push\/ws\//.test(text.replace(/^\s*#.*$/gm, ''))) {
        throw new Error(`cannot take the WebSocket proxy out of ${template}: update harness.mjs render()`);
      }
    }
    return text
      .replaceAll('@PORT@', String(this.port)).replaceAll('@STATE@', this.dir)
      .replaceAll('@SOCKET@', this.socket).replaceAll('@WWW@', path.join(this.dir, 'www'))
      .replaceAll('@MODULES@', process.env.APACHE_MODULES || '/usr/lib/apache2/modules')
      .replaceAll('@WSSOCKET@', this.wsSocket);
  }

  async startServer() {
    const bin = this.server === 'lighttpd' ? LIGHTTPD : APACHE2;
    if (!bin) throw new Error(`${this.server} not found`);
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = await freePort();
      const conf = path.join(this.dir, `${this.server}.conf`);
      fs.writeFileSync(conf, this.render(path.join(SRCDIR, 'conf', `${this.server}.conf.in`)));
      const args = this.server === 'lighttpd' ? ['-D', '-f', conf] : ['-f', conf, '-DFOREGROUND'];
      this.httpd = new Proc(this.server, bin, args, {}, path.join(this.dir, 'server.out'));
      this.base = `http://127.0.0.1:${this.port}`;
      try {
        await waitFor(`${this.server} on ${this.port}`, async () => {
          if (this.httpd.done) throw new Error('exited');
          const r = await fetch(this.base + '/', { signal: AbortSignal.timeout(1000) });
          return r.status > 0;
        }, 20000);
        return;
      } catch (e) {
        await this.httpd.stop();
        if (!/address already in use/i.test(this.log('server.out') + this.log(`${this.server === 'lighttpd' ? 'lighttpd' : 'apache'}-error.log`))) {
          throw new Error(`${this.server} did not start: ${e.message}\n${this.log('server.out')}`);
        }
      }
    }
    throw new Error(`${this.server}: no free port after 5 attempts`);
  }

  // restartWorker(): SIGTERM the worker (streams get their shutdown notice)
  // and start a new one on the same socket: a server restart.
  async restartWorker() {
    await this.worker.stop();
    await this.startWorker();
  }

  log(name) {
    try { return fs.readFileSync(path.join(this.dir, name), 'utf8'); } catch { return ''; }
  }

  url(p) { return this.base + p; }

  // publish(channel, body, {event, contentType}): POST, returns {channel, seq, time}.
  // A 503 (lighttpd's answer while it reconnects to a restarted worker) is
  // retried for up to 5 s, as a real publisher would.
  async publish(channel, body, opts = {}) {
    const q = opts.event ? `?event=${encodeURIComponent(opts.event)}` : '';
    const end = Date.now() + 5000;
    let r;
    for (;;) {
      r = await this.post(`/push/channels/${encodeURIComponent(channel)}${q}`, body, opts);
      if (r.status !== 503 || Date.now() > end) break;
      await r.arrayBuffer();
      await delay(50);
    }
    if (r.status !== 201) throw new Error(`publish to ${channel}: HTTP ${r.status} ${await r.text()}`);
    return r.json();
  }

  post(p, body, opts) {
    return fetch(this.url(p), {
      method: 'POST', body,
      headers: {
        'Content-Type': opts.contentType || 'text/plain; charset=utf-8',
        ...(this.token ? { Authorization: 'Bearer ' + this.token } : {}),
      },
      signal: AbortSignal.timeout(10000),
    });
  }

  // stop(): stop everything; returns a list of problems: a worker or
  // fcpush-ws that did not exit 0 on SIGTERM, or a sanitizer report in its
  // stderr. The temp dir is removed unless something failed.
  async stop() {
    const errors = [];
    if (this.httpd) await this.httpd.stop();
    for (const [proc, log] of [[this.ws, 'ws.err'], [this.worker, 'worker.err']]) {
      if (!proc) continue;
      const { code, sig } = await proc.stop();
      if (code !== 0) errors.push(`${proc.name} exited with ${code ?? sig} on SIGTERM (${path.join(this.dir, log)})`);
      if (/ERROR: AddressSanitizer|runtime error:|LeakSanitizer/.test(this.log(log))) {
        errors.push(`sanitizer report in ${path.join(this.dir, log)}`);
      }
    }
    if (errors.length === 0 && !this.keep && process.env.FCPUSH_TEST_KEEP !== '1') {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } else {
      console.log(`kept ${this.dir}${errors.length ? ': ' + errors.join('; ') : ''}`);
    }
    return errors;
  }
}

let pw;
// launchBrowser(): Debian's chromium, headless, a fresh profile (playwright
// creates a new temporary user-data-dir for every launch()).
export async function launchBrowser() {
  // run.sh names the node_modules that hold playwright-core; by default,
  // tests/browser/node_modules.
  pw ??= createRequire(path.join(process.env.FCPUSH_NODE_MODULES || path.join(here, 'node_modules'), 'x.js'))('playwright-core').chromium;
  return pw.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// onFailure(t, page, dir): save a screenshot of page into dir and print its path.
export async function screenshotOnFailure(page, dir, name) {
  try {
    const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.png`);
    await page.screenshot({ path: file, fullPage: true, timeout: 5000 });
    console.log(`screenshot of the failed page: ${file}`);
    return file;
  } catch (e) {
    console.log(`no screenshot: ${e.message}`);
    return null;
  }
}

// withPage(t, stack, browser, fn): run fn(page) in a new context; on
// failure keep the stack's temp dir, screenshot into it, and rethrow.
export async function withPages(stack, browser, n, name, fn) {
  const contexts = [];
  const pages = [];
  for (let i = 0; i < n; i++) {
    const c = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    contexts.push(c);
    const p = await c.newPage();
    p.setDefaultTimeout(10000);
    p.consoleLog = [];
    p.on('console', (m) => p.consoleLog.push(`${m.type()}: ${m.text()}`));
    p.on('pageerror', (e) => p.consoleLog.push(`pageerror: ${e.message}`));
    pages.push(p);
  }
  try {
    return await fn(...pages);
  } catch (e) {
    stack.keep = true; // the screenshots go into its temp dir
    for (let i = 0; i < pages.length; i++) {
      await screenshotOnFailure(pages[i], stack.dir, `${name}-${i}`);
      if (pages[i].consoleLog.length) console.log(`console of page ${i}:\n#   ${pages[i].consoleLog.slice(-20).join('\n#   ')}`);
    }
    throw e;
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
  }
}

// messages(page): the texts of the shown messages, in page order (oldest first).
export async function messages(page) {
  return page.$$eval('#messages li.msg', (lis) => lis.map((li) => li.dataset.text));
}

// unique(prefix): a channel no other case uses.
let counter = 0;
export function unique(prefix) {
  return `${prefix}-${process.pid}-${++counter}-${Math.floor(Math.random() * 1e6)}`;
}

// waitState(page, state, ms): #state reads `state` (prefix match).
export async function waitState(page, state, ms = 10000) {
  await page.waitForFunction((s) => (document.querySelector('#state')?.textContent || '').startsWith(s),
    state, { timeout: ms, polling: 25 });
}

// waitMessage(page, text, ms): a message line with this text is shown.
export async function waitMessage(page, text, ms = 2000) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages li.msg')].some((li) => li.dataset.text === t),
    text, { timeout: ms, polling: 20 });
}

export async function transportShown(page) {
  return page.textContent('#transport');
}

// A WAV file: `seconds` of a 440 Hz tone, 16-bit mono at 44.1 kHz.
export function wav(seconds) {
  const rate = 44100;
  const n = Math.floor(rate * seconds);
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + n * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / rate)), 44 + i * 2);
  return b;
}
