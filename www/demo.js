// SPDX-License-Identifier: MIT
/* demo.js: the page furniture shared by the fcpush example pages (not part of
 * the client: fcpush.js is). It reads the channel from ?channel=, fills the
 * status panel (transport, state, last seq), adds messages to #messages and
 * publishes what the form holds. Each page's own <script> does the push part.
 *
 *   demo.channel                 the channel (input name="channel", ?channel=)
 *   demo.url(path)               '/push/channels/{channel}' + path
 *   demo.transport(name)         demo.state(text, cls)     demo.seq(n)
 *   demo.show(m)                 a message {seq, event, time, data, ...}
 *   demo.note(text, cls)         a line in the list: cls 'gap', 'error', 'note'
 *   demo.onPublish = async (text, event) => {...}   replaces the POST
 *   demo.token()                 the page's access token, or null (below)
 *
 * Access control: ./quickstart writes fcpush-token.json next to the pages
 * when auth is on, standing in for a site's backend handing its users a
 * token (README "Access control"). demo.token() reads it (null when there is
 * none: auth off), and demo.js makes it fcpush.js's default token source.
 */
(function () {
  'use strict';
  const $ = (sel) => document.querySelector(sel);
  const params = new URLSearchParams(location.search);
  const form = $('#publish');
  const input = form && form.elements.channel;
  const channel = (params.get('channel') || (input && input.value) || 'demo').trim();
  if (input) input.value = channel;

  // Change the channel: reload the page with ?channel= (each example page
  // subscribes once, at load, which keeps its code short).
  if (input) {
    input.addEventListener('change', () => {
      const p = new URLSearchParams(location.search);
      p.set('channel', input.value.trim());
      location.search = p.toString();
    });
  }

  function text(m) {
    if (m.omitted) return '(' + (m.content_type || 'a body') + ', ' + m.size + ' bytes: not inlined)';
    if (m.encoding === 'base64') return '(' + m.content_type + ', base64) ' + m.data;
    return typeof m.data === 'string' ? m.data : JSON.stringify(m.data);
  }

  const list = $('#messages');
  function append(li) {
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.appendChild(li);
    while (list.children.length > 500) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function span(cls, s) {
    const e = document.createElement('span');
    e.className = cls;
    e.textContent = s;
    return e;
  }

  let tokenPromise = null;
  const demo = {
    channel: channel,
    base: '/push',
    url: (path) => '/push/channels/' + encodeURIComponent(channel) + (path || ''),
    text: text,
    transport(name) { $('#transport').textContent = name; },
    state(s, cls) {
      const e = $('#state');
      e.textContent = s;
      e.className = cls || s;
    },
    seq(n) { if (n != null) $('#seq').textContent = n; },
    // show(m[, render]): render(li, m) may fill the line itself (chat).
    show(m, render) {
      const li = document.createElement('li');
      li.className = 'msg';
      li.dataset.seq = m.seq;
      li.dataset.text = text(m);
      if (render) render(li, m);
      else {
        if (m.time) li.appendChild(span('time', new Date(m.time).toLocaleTimeString()));
        li.appendChild(span('seq', '#' + m.seq));
        if (m.event && m.event !== 'message') li.appendChild(span('event', m.event));
        li.appendChild(document.createTextNode(li.dataset.text));
      }
      append(li);
      demo.seq(m.seq);
      return li;
    },
    note(s, cls) {
      const li = document.createElement('li');
      li.className = cls || 'note';
      li.textContent = s;
      append(li);
      return li;
    },
    gap(oldest) {
      demo.note('missed messages: retention deleted them; the history now starts at #' + oldest, 'gap');
    },
    token() {
      if (!tokenPromise) {
        tokenPromise = fetch('fcpush-token.json', { cache: 'no-store' })
          .then((r) => (r.ok ? r.json() : {}))
          .then((j) => j.token || null, () => null);
      }
      return tokenPromise;
    },
    // The default publish: POST /push/channels/{channel} with the text.
    async onPublish(body, event) {
      const token = await demo.token();
      const headers = { 'Content-Type': 'text/plain; charset=utf-8' };
      if (token) headers.Authorization = 'Bearer ' + token;
      const r = await fetch(demo.url(event ? '?event=' + encodeURIComponent(event) : ''), {
        method: 'POST', headers: headers, body: body,
      });
      if (r.status !== 201) {
        const e = await r.json().catch(() => ({}));
        throw new Error('HTTP ' + r.status + (e.detail ? ': ' + e.detail : ''));
      }
    },
  };

  if (form) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const msg = form.elements.message;
      if (!msg || !msg.value) return;
      if (input && input.value.trim() !== channel) return input.dispatchEvent(new Event('change'));
      const ev2 = form.elements.event;
      try {
        await demo.onPublish(msg.value, ev2 && ev2.value);
        msg.value = '';
      } catch (e) {
        demo.note('publish failed: ' + e.message, 'error');
      }
    });
  }
  window.demo = demo;
  if (window.fcpush) window.fcpush.getToken = demo.token;
})();
