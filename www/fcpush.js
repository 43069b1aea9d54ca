// SPDX-License-Identifier: MIT
/* fcpush.js: a small client for fcpush, no dependencies, no build step.
 *
 *   <script src="/fcpush.js"></script>      (defines window.fcpush)
 *
 *   const sub = fcpush.subscribe('news', {
 *     onMessage: (m) => console.log(m.seq, m.event, m.data),
 *     onGap:     (g) => console.warn('missed messages before', g.oldest),
 *     onState:   (state, transport) => console.log(state, transport),
 *     onError:   (e) => console.error(e.status, e.error, e.detail),
 *   });
 *   await fcpush.publish('news', 'hello');      // → {channel, seq, time}
 *   sub.close();
 *
 * subscribe(channels, options): channels is a name, a comma-separated list or
 * an array. Options (all optional):
 *   transports  the order to try: 'websocket', 'sse', 'stream' (fetch +
 *               NDJSON), 'longpoll', 'poll'. Default websocket, sse,
 *               longpoll, poll. A transport that fails before it ever opens
 *               is skipped for the next one; one that has worked is retried
 *               (three failed reconnections in a row and it is skipped too).
 *   since       start after this seq. Default: the seq stored in
 *               sessionStorage for this channel set (so a reload resumes
 *               where the page was), else "now".
 *   last        with no cursor yet, first deliver the last N messages.
 *   events      SSE only: event names to listen for besides "message"
 *               (EventSource cannot listen to every name).
 *   base        the mount point, default '/push'.
 *   wait        long-poll wait in seconds (25: below browsers' and proxies'
 *               request time limits; the server caps it at 30).
 *   interval    interval-poll period in ms (2000).
 *   onMessage(m)  m = {channel, seq, time, event, content_type, data, ...}:
 *               data is the JSON value of a JSON body, else a string (base64
 *               with m.encoding === 'base64' for binary bodies; over the
 *               WebSocket, which carries them as binary messages, m.bytes
 *               is the body as a Uint8Array as well); bodies over
 *               1 MiB come as {data: null, omitted: true, size} (fetch them
 *               from fcpush.messageUrl(m)). Over SSE the server sends only
 *               seq, event name and body: data is the body's text, and
 *               channel is known only for a one-channel subscription.
 *               Each seq is delivered once: anything <= the last seq is dropped.
 *   onGap(g)    g = {oldest}: retention deleted messages after the cursor;
 *               what remains follows.
 *   onState(state, transport, detail)  'connecting', 'open',
 *               'reconnecting' (detail.delay ms, detail.reason), 'closed'.
 *   onError(e)  e = {status, error, detail, fatal}. Fatal errors (a 4xx: bad
 *               channel name 400, 401/403, 404, a deleted channel 410) stop
 *               the subscription; others (5xx) are retried with backoff.
 *   getToken    async () => a token (a JWT, README "Access control") or
 *               null; default fcpush.getToken. Called before the first
 *               request, again when the token is about to expire, and when
 *               the server says it has (a 401, SSE `event: auth`, an NDJSON
 *               {"type":"auth"}, WebSocket close 4401): the subscription then
 *               resumes from its last seq, losing nothing. A 401 that a fresh
 *               token does not cure (three in a row) is fatal. The token goes
 *               as Authorization: Bearer, except for EventSource and
 *               WebSocket, which cannot set headers: ?access_token= there.
 * Returns {close(), lastSeq, transport, state}.
 *
 * publish(channel, data, {event, contentType, base, idempotencyKey, retries, token, getToken}):
 * strings go as text/plain, Blobs/Files and ArrayBuffers with their own type
 * (or application/octet-stream), anything else as JSON. The token (or one
 * from getToken, default fcpush.getToken; asked again on a 401) goes as
 * Authorization: Bearer. Every publish carries an Idempotency-Key header
 * (idempotencyKey, else a random UUID), so when its answer is lost (a
 * network error) or is 408, 500, 502, 503 or 504 it is sent again, up to
 * `retries` times (default 3; 0.25 s, doubling), with the same key: the
 * server stores it once, and answers a retry of a stored publish with the
 * original seq. Resolves to {channel, seq, time, replayed} (replayed: the
 * answer came from such a retry); rejects with an Error carrying status,
 * error, detail.
 *
 * fcpush.getToken = async () => ...   the default token source of both.
 */
(function (global) {
  'use strict';

  const DEFAULTS = {
    transports: ['websocket', 'sse', 'longpoll', 'poll'],
    base: '/push',
    wait: 25,
    interval: 2000,
    minDelay: 500, // reconnection backoff: 0.5 s doubling up to 30 s, with jitter
    maxDelay: 30000,
    connectTimeout: 10000, // a transport that has not opened by then has failed
    events: [],
  };

  function channelList(channels) {
    return (Array.isArray(channels) ? channels : String(channels).split(','))
      .map((c) => c.trim()).filter(Boolean);
  }

  function channelsUrl(base, channels) {
    return base + '/channels/' + channels.map(encodeURIComponent).join(',');
  }

  // An Error from an HTTP error response (fcpush answers {"error","detail"}).
  async function httpError(res) {
    let body = {};
    try { body = await res.json(); } catch (e) { /* not JSON (a proxy's page) */ }
    const err = new Error(body.detail || ('HTTP ' + res.status));
    err.status = res.status;
    err.error = body.error || 'http_' + res.status;
    err.detail = body.detail || res.statusText || ('HTTP ' + res.status);
    return err;
  }

  // 4xx answers mean "this request will never succeed": stop. 408 and 429
  // are the exceptions (try later), like every 5xx.
  function isFatal(status) {
    return status >= 400 && status < 500 && status !== 408 && status !== 429;
  }

  // Whether a JWT expires within 5 s (its payload's exp), so it is renewed
  // before a connection the server would refuse or cut at once.
  function expiring(token) {
    try {
      const p = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return typeof p.exp === 'number' && p.exp * 1000 < Date.now() + 5000;
    } catch (e) { return false; }
  }

  function authHeaders(token) {
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  function deletedError() {
    const err = new Error('the channel was deleted');
    err.status = 410;
    err.error = 'deleted';
    err.detail = 'the channel was deleted';
    return err;
  }

  // ---- the transports ------------------------------------------------------
  // Each one is start(ctx) → {close()}; ctx: url(extraQuery), wsUrl(),
  // since, opened(), message(m), gap(g), fatal(err), failed(reason).

  const transports = {};

  // A binary WebSocket message (README): a 4-byte big-endian header length,
  // the JSON header, then the body. data/encoding as the other transports
  // give it, plus the bytes themselves.
  function binaryMessage(buf) {
    const n = new DataView(buf).getUint32(0);
    const m = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    m.bytes = new Uint8Array(buf, 4 + n);
    let s = '';
    for (let i = 0; i < m.bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, m.bytes.subarray(i, i + 0x8000));
    }
    m.data = btoa(s);
    m.encoding = 'base64';
    return m;
  }

  transports.websocket = function (ctx) {
    const ws = new WebSocket(ctx.wsUrl(), 'fcpush.v1');
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => ctx.opened();
    ws.onmessage = (ev) => {
      let m;
      try {
        m = typeof ev.data === 'string' ? JSON.parse(ev.data) : binaryMessage(ev.data);
      } catch (e) { return; }
      if (m.type === 'message') ctx.message(m);
      else if (m.type === 'gap') ctx.gap(m);
      else if (m.type === 'deleted') ctx.fatal(deletedError());
      else if (m.type === 'error') ctx.error(m);
    };
    ws.onclose = (ev) => {
      if (ev.code === 4410) ctx.fatal(deletedError());
      else if (ev.code === 4401 || ev.code === 4403) ctx.auth('WebSocket closed ' + ev.code);
      else if (ev.code === 4404 || ev.code === 4400 || ev.code === 1008) {
        ctx.fatal(Object.assign(new Error(ev.reason || 'refused'), {
          status: ev.code === 4404 ? 404 : 400, error: 'ws_' + ev.code, detail: ev.reason || 'closed ' + ev.code,
        }));
      } else ctx.failed('WebSocket closed (' + ev.code + ')');
    };
    return { close: () => { ws.onclose = null; ws.close(); } };
  };

  transports.sse = function (ctx) {
    const es = new EventSource(ctx.url(''));
    const onEvent = (ev) => ctx.message({
      channel: ctx.channels.length === 1 ? ctx.channels[0] : undefined,
      seq: Number(ev.lastEventId), event: ev.type, data: ev.data,
    });
    es.onopen = () => ctx.opened();
    es.onmessage = onEvent;
    ctx.events.forEach((name) => es.addEventListener(name, onEvent));
    es.addEventListener('gap', (ev) => ctx.gap(JSON.parse(ev.data)));
    es.addEventListener('deleted', () => ctx.fatal(deletedError()));
    es.addEventListener('auth', () => ctx.auth('token expired'));
    // EventSource would reconnect by itself (to its first URL, with
    // Last-Event-ID); we close it and reconnect ourselves, so that every
    // transport shares the same backoff and the same cursor.
    es.onerror = () => ctx.failed(es.readyState === EventSource.CLOSED
      ? 'EventSource refused (not an event stream)' : 'EventSource connection lost');
    return { close: () => es.close() };
  };

  // fetch + ReadableStream: one JSON object per line.
  transports.stream = function (ctx) {
    const ac = new AbortController();
    let idle;
    const watchdog = () => { // heartbeats come every 15 s: 45 s of silence is a dead stream
      clearTimeout(idle);
      idle = setTimeout(() => { ac.abort(); ctx.failed('stream silent for 45 s'); }, 45000);
    };
    (async () => {
      const res = await fetch(ctx.url('stream=ndjson'), { signal: ac.signal, cache: 'no-store', headers: ctx.headers() });
      if (res.status === 401) return ctx.auth(await httpError(res));
      if (!res.ok) return res.status >= 400 && isFatal(res.status) ? ctx.fatal(await httpError(res)) : ctx.failed('HTTP ' + res.status);
      ctx.opened();
      watchdog();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watchdog();
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.trim()) continue;
          const m = JSON.parse(line);
          if (m.type === 'message') ctx.message(m);
          else if (m.type === 'gap') ctx.gap(m);
          else if (m.type === 'deleted') return ctx.fatal(deletedError());
          else if (m.type === 'auth') return ctx.auth('token expired');
        }
      }
      ctx.failed('stream ended');
    })().catch((e) => { if (!ac.signal.aborted) ctx.failed(e.message); })
      .finally(() => clearTimeout(idle));
    return { close: () => { clearTimeout(idle); ac.abort(); } };
  };

  // Long poll (wait > 0) and interval poll (wait 0): one request per answer.
  function pollTransport(longPoll) {
    return function (ctx) {
      const ac = new AbortController();
      let timer;
      let first = true; // a long poll opens with a plain poll: it answers at once
      (async () => {
        for (;;) {
          const wait = longPoll && !first;
          first = false;
          const limit = setTimeout(() => ac.abort(), (wait ? ctx.wait + 15 : 15) * 1000);
          let res;
          try {
            res = await fetch(ctx.url(''), {
              signal: ac.signal, cache: 'no-store',
              headers: Object.assign(wait ? { Prefer: 'wait=' + ctx.wait } : {}, ctx.headers()),
            });
          } finally { clearTimeout(limit); }
          if (res.status === 410) return ctx.fatal(deletedError());
          if (res.status === 401) return ctx.auth(await httpError(res));
          if (res.status >= 400) return isFatal(res.status) ? ctx.fatal(await httpError(res)) : ctx.failed(await httpError(res));
          ctx.opened();
          let more = false;
          if (res.status === 200) {
            const body = await res.json();
            if (body.gap) ctx.gap({ oldest: body.oldest });
            body.messages.forEach((m) => ctx.message(m));
            ctx.cursor(body.last_seq);
            more = !!body.more;
          }
          if (!longPoll && !more) await new Promise((r) => { timer = setTimeout(r, ctx.interval); });
        }
      })().catch((e) => { if (!ac.signal.aborted) ctx.failed(e.message); });
      return { close: () => { clearTimeout(timer); ac.abort(); } };
    };
  }
  transports.longpoll = pollTransport(true);
  transports.poll = pollTransport(false);

  // ---- subscribe -----------------------------------------------------------

  function subscribe(channels, options) {
    const o = Object.assign({}, DEFAULTS, options);
    const chs = channelList(channels);
    const names = o.transports.filter((t) => transports[t]);
    const key = 'fcpush:' + o.base + ':' + chs.slice().sort().join(',');
    let last = o.since != null ? Number(o.since) : load();
    let index = 0; // the transport being tried
    let proven = false; // it has opened once: retry it rather than skip it
    let failures = 0; // failed connections since the last open (the backoff exponent)
    let tries = 0; // failed connections of the current transport
    let attempt = 0; // ignores callbacks from connections already dropped
    let current = null;
    let timer = null;
    let closed = false;
    let token = null;
    let needToken = true; // ask getToken before the next connection
    let authFailures = 0; // 401s (or auth ends) since the last open
    const tokenSource = () => o.getToken || api.getToken;

    const sub = {
      state: 'connecting', transport: names[0],
      get lastSeq() { return last; },
      close() { stop('closed by the page'); },
    };

    function load() {
      try {
        const v = sessionStorage.getItem(key);
        return v === null ? null : Number(v);
      } catch (e) { return null; }
    }
    function save() {
      try { sessionStorage.setItem(key, String(last)); } catch (e) { /* private mode */ }
    }
    function setState(state, detail) {
      sub.state = state;
      if (o.onState) o.onState(state, sub.transport, detail);
    }
    function stop(why) {
      closed = true;
      attempt++;
      clearTimeout(timer);
      if (current) current.close();
      current = null;
      setState('closed', { reason: why });
    }

    // Run next once the token is fresh: getToken is asked when there is
    // none yet, when the server refused or ended the last one, and when it
    // expires within seconds. A getToken that fails is retried with backoff.
    function withToken(next) {
      const get = tokenSource();
      if (closed) return;
      if (!get || !(needToken || expiring(token))) return next();
      needToken = false;
      const my = ++attempt;
      Promise.resolve().then(get).then((t) => {
        token = t || null;
        if (my === attempt && !closed) next();
      }, (e) => {
        if (my !== attempt || closed) return;
        needToken = true;
        failures++;
        if (o.onError) o.onError({ status: 0, error: 'get_token', detail: String(e && e.message || e), fatal: false });
        const base = Math.min(o.maxDelay, o.minDelay * Math.pow(2, failures));
        setState('reconnecting', { delay: base, reason: 'getToken failed' });
        timer = setTimeout(() => withToken(next), base / 2 + Math.random() * base / 2);
      });
    }

    // The server refused or ended our token (err: the 401 as an Error, or a
    // reason): with a token source, get a fresh one and reconnect at once
    // from the last seq; without one, or when fresh tokens keep failing,
    // stop as on any other 4xx.
    function authEnded(err) {
      const e = err instanceof Error ? err : Object.assign(new Error(String(err)), {
        status: 401, error: 'invalid_token', detail: String(err),
      });
      if (!tokenSource() || ++authFailures > 2) {
        if (o.onError) o.onError({ status: e.status, error: e.error, detail: e.detail, fatal: true });
        return stop(e.detail);
      }
      needToken = true;
      setState('reconnecting', { delay: 0, reason: e.detail });
      connect();
    }

    function connect() {
      withToken(connectNow);
    }

    function connectNow() {
      if (closed) return;
      const my = ++attempt;
      const name = names[index];
      let opened = false;
      sub.transport = name;
      setState('connecting');
      const live = (fn) => (...args) => { if (my === attempt && !closed) fn(...args); };
      // EventSource and WebSocket cannot send headers: their token goes in
      // the URL (where the web server's access log sees it).
      const query = (extra, withToken) => {
        const q = ['since=' + last];
        if (extra) q.push(extra);
        if (withToken && token) q.push('access_token=' + encodeURIComponent(token));
        return '?' + q.join('&');
      };
      const connectTimer = setTimeout(live(() => ctx.failed('no answer in ' + o.connectTimeout / 1000 + ' s')), o.connectTimeout);
      const ctx = {
        channels: chs, wait: o.wait, interval: o.interval, events: o.events,
        url: (extra) => channelsUrl(o.base, chs) + query(extra, name === 'sse'),
        wsUrl: () => (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
          o.base + '/ws/channels/' + chs.map(encodeURIComponent).join(',') + query('', true),
        headers: () => authHeaders(token),
        opened: live(() => {
          clearTimeout(connectTimer);
          if (opened) return;
          opened = proven = true;
          failures = tries = authFailures = 0;
          setState('open');
        }),
        message: live((m) => {
          if (!(m.seq > last)) return; // already delivered (or older): never twice
          last = m.seq;
          save();
          if (o.onMessage) o.onMessage(m);
        }),
        cursor: live((seq) => {
          if (seq > last) { last = seq; save(); }
        }),
        gap: live((g) => { if (o.onGap) o.onGap(g); }),
        error: live((e) => { if (o.onError) o.onError(Object.assign({ fatal: false }, e)); }),
        auth: live((err) => {
          clearTimeout(connectTimer);
          if (current) current.close();
          current = null;
          attempt++;
          authEnded(err);
        }),
        fatal: live((err) => {
          clearTimeout(connectTimer);
          if (o.onError) o.onError({ status: err.status, error: err.error, detail: err.detail, fatal: true });
          stop(err.detail);
        }),
        failed: live((reason) => {
          clearTimeout(connectTimer);
          if (reason instanceof Error) {
            if (o.onError) o.onError({ status: reason.status, error: reason.error, detail: reason.detail, fatal: false });
            reason = reason.message;
          }
          if (current) current.close();
          current = null;
          attempt++;
          retry(opened, String(reason));
        }),
      };
      try {
        current = transports[name](ctx);
      } catch (e) { // e.g. no WebSocket or EventSource in this browser
        ctx.failed(e.message);
      }
    }

    // After a failure: a transport that never opened (and was never proven)
    // gives way to the next one at once; a proven one is retried, and skipped
    // after three failed reconnections. Retries wait with exponential
    // backoff and jitter, so that a restarted server is not hit by every
    // client at the same instant.
    function retry(wasOpen, reason) {
      if (wasOpen) tries = 0;
      else { failures++; tries++; }
      if (!wasOpen && (!proven || tries > 3)) {
        proven = false;
        tries = 0;
        if (index + 1 < names.length) {
          index++;
          return connect();
        }
        index = 0; // every transport failed: start over after the backoff
      }
      const base = Math.min(o.maxDelay, o.minDelay * Math.pow(2, failures));
      const delay = Math.round(base / 2 + Math.random() * base / 2);
      setState('reconnecting', { delay: delay, reason: reason });
      timer = setTimeout(connect, delay);
    }

    // No cursor yet: learn "now" (and the last N messages) with one poll.
    async function start() {
      if (last !== null) return connect();
      try {
        // ?last=1 when only "now" is wanted: last_seq (or the ETag of a 204) is the cursor.
        const res = await fetch(channelsUrl(o.base, chs) + '?last=' + (o.last || 1),
          { cache: 'no-store', headers: authHeaders(token) });
        if (closed) return;
        if (res.status === 401 && tokenSource() && ++authFailures <= 2) {
          needToken = true;
          return withToken(start);
        }
        if (res.status >= 400) {
          const err = await httpError(res);
          if (isFatal(res.status)) {
            if (o.onError) o.onError({ status: err.status, error: err.error, detail: err.detail, fatal: true });
            return stop(err.detail);
          }
          throw err;
        }
        if (res.status === 200) {
          const body = await res.json();
          if (o.last) body.messages.forEach((m) => { if (o.onMessage) o.onMessage(m); });
          last = body.last_seq;
        } else {
          last = Number((res.headers.get('ETag') || '0').replace(/\D/g, '')) || 0;
        }
        save();
        connect();
      } catch (e) {
        if (closed) return;
        failures++;
        const base = Math.min(o.maxDelay, o.minDelay * Math.pow(2, failures));
        setState('reconnecting', { delay: base, reason: e.message });
        timer = setTimeout(start, base / 2 + Math.random() * base / 2);
      }
    }

    withToken(start);
    return sub;
  }

  // ---- publish ---------------------------------------------------------------

  async function publish(channel, data, options) {
    const o = Object.assign({ base: DEFAULTS.base }, options);
    let body = data;
    let type = o.contentType;
    if (!type) {
      if (typeof data === 'string') type = 'text/plain; charset=utf-8';
      else if (typeof Blob !== 'undefined' && data instanceof Blob) type = data.type || 'application/octet-stream';
      else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) type = 'application/octet-stream';
      else { body = JSON.stringify(data); type = 'application/json'; }
    }
    const url = channelsUrl(o.base, [channel]) + (o.event ? '?event=' + encodeURIComponent(o.event) : '');
    const get = o.getToken || api.getToken;
    let token = o.token || (get ? await get() : null);
    const key = o.idempotencyKey || newKey();
    const retries = o.retries === undefined ? 3 : o.retries;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let res = null;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: Object.assign({ 'Content-Type': type, 'Idempotency-Key': key }, authHeaders(token)),
          body: body,
        });
      } catch (e) {
        if (attempt >= retries) throw e; // the network: the publish may or may not be stored
      }
      if (res && res.status === 201) {
        const r = await res.json();
        r.replayed = res.headers.get('Idempotent-Replayed') === 'true';
        return r;
      }
      if (res && res.status === 401 && get && !o.token && !refreshed) {
        // expired meanwhile: nothing was stored, so send again with a new one
        token = await get();
        refreshed = true;
        attempt--;
        continue;
      }
      if (res && (attempt >= retries || ![408, 500, 502, 503, 504].includes(res.status))) throw await httpError(res);
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }

  // A fresh idempotency key: a UUID, or 32 random hex digits.
  function newKey() {
    const c = global.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    let k = '';
    for (let i = 0; i < 32; i++) k += Math.floor(Math.random() * 16).toString(16);
    return k;
  }

  // The URL of one message's raw body (Range requests work on it).
  function messageUrl(m, base) {
    return (base || DEFAULTS.base) + '/channels/' + encodeURIComponent(m.channel) + '/messages/' + m.seq;
  }

  const api = {
    subscribe: subscribe, publish: publish, messageUrl: messageUrl, transports: transports,
    getToken: null, // async () => token: the default of subscribe's and publish's getToken
  };
  global.fcpush = api;
})(typeof window !== 'undefined' ? window : globalThis);
