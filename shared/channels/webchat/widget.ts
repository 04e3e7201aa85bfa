// The embeddable web chat widget, served by the web-chat function as /widget.js:
//
//   <script src="https://<project>/functions/v1/web-chat/widget.js" data-key="<widget key>" async></script>
// (data-widget-key is accepted too.)
//
// Plain browser JavaScript with no dependencies and no CDN: a launcher button and a small
// accessible chat panel; messages go to POST /messages; the agent's replies arrive live over
// Realtime through a minimal Phoenix (vsn 1.0.0) client: join the private topic with the
// visitor's session, heartbeat, broadcasts, rejoin with backoff and catch up from the history.
// The visitor is an anonymous Supabase user: the widget signs in anonymously with the
// project's publishable key (Auth's /signup with no email, as signInAnonymously() does),
// refreshes the session before it expires (and hands the new token to Realtime), and keeps
// it in localStorage, so a reload resumes the same conversation.
//
// Who says what: the visitor's messages are data-konstruct-message="visitor", the agent's
// "agent" (as before), a team member's reply "member" with a visible "Team member" label,
// and system notices (apologies, plan limits) "notice" with a visible "Notice" label; each
// has a screen-reader prefix ("You: ", "Agent: ", "Team member: ", "Notice: ").
// Who answers: the conversation status (session, history, POST /messages and live
// status_changed broadcasts) is kept on the root as data-konstruct-conversation-status.
// "The agent is typing…" shows only while the agent handles the conversation and the
// POST /messages answer says an agent reply is expected (agent_reply_expected: a reply job
// was queued); while a team member has it or it waits for one, the widget says "A team
// member will reply here." Held back by the inbound rate limit or answered by a notice
// (rate_limited, notice_expected): nothing more, the notice arrives live. Otherwise, with
// the agent paused or inactive or billing pausing the agents: "We'll get back to you soon."
// Optional attributes: data-title, data-open="true", data-position="left".
/** The widget for one project: where its Auth is and the publishable key it signs in with. */
export function webChatWidgetScript(project: { supabaseUrl: string; publishableKey: string }): string {
  return WIDGET_JS.replace('__KONSTRUCT_PROJECT__', JSON.stringify(project).replace(/</g, '\\u003c'))
}

const WIDGET_JS = String.raw`(function () {
  'use strict';
  var project = __KONSTRUCT_PROJECT__;
  var script = document.currentScript;
  if (!script || !script.src) return;
  var widgetKey = script.getAttribute('data-key') || script.getAttribute('data-widget-key');
  if (!widgetKey) { console.error('Konstruct chat: data-key is missing on the script tag'); return; }
  var base = script.src.replace(/\/widget\.js(?:[?#].*)?$/, '');
  var storageKey = 'konstruct:webchat:' + widgetKey;
  var state = { answers: 0, session: null, refreshTimer: null, topic: null, realtime: null, lastSeq: 0, seen: {}, socket: null, joined: false, ref: 0, heartbeat: null, retry: 0, closed: false, conversation: null };
  var TYPING = 'The agent is typing\u2026';
  var HUMAN_WILL_REPLY = 'A team member will reply here.';
  var LATER = 'We\u2019ll get back to you soon.';
  var AUTHORS = {
    visitor: { sr: 'You: ' },
    agent: { sr: 'Agent: ' },
    member: { sr: 'Team member: ', label: 'Team member' },
    notice: { sr: 'Notice: ', label: 'Notice' }
  };

  // ---- UI --------------------------------------------------------------------------------
  var left = script.getAttribute('data-position') === 'left';
  var css = '.kw-root{position:fixed;bottom:20px;' + (left ? 'left' : 'right') + ':20px;display:flex;flex-direction:column;align-items:' + (left ? 'flex-start' : 'flex-end') + ';z-index:2147483000;font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111}' +
    '.kw-launch{border:0;border-radius:999px;padding:12px 18px;background:#1f2937;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.2)}' +
    '.kw-launch:focus-visible,.kw-send:focus-visible,.kw-close:focus-visible{outline:3px solid #2563eb;outline-offset:2px}' +
    '.kw-panel{display:flex;flex-direction:column;width:340px;max-width:calc(100vw - 40px);height:460px;max-height:calc(100vh - 100px);background:#fff;border:1px solid #d1d5db;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.18);overflow:hidden;margin-bottom:10px}' +
    '.kw-panel[hidden]{display:none}' +
    '.kw-head{display:flex;align-items:center;justify-content:space-between;padding:10px 14px;background:#1f2937;color:#fff}' +
    '.kw-head h2{font-size:15px;margin:0}.kw-close{background:transparent;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}' +
    '.kw-log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;margin:0;list-style:none}' +
    '.kw-msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}' +
    '.kw-in{align-self:flex-end;background:#2563eb;color:#fff}.kw-out{align-self:flex-start;background:#f3f4f6}' +
    '.kw-member{background:#ecfdf5;border:1px solid #a7f3d0}.kw-notice{background:#fffbeb;border:1px solid #fde68a}' +
    '.kw-who{display:block;font-size:12px;font-weight:600;color:#374151;margin-bottom:2px}' +
    '.kw-status{font-size:12px;color:#4b5563;padding:0 14px 6px;min-height:1em}' +
    '.kw-form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb}' +
    '.kw-form textarea{flex:1;resize:none;border:1px solid #9ca3af;border-radius:8px;padding:8px;font:inherit;min-height:38px;max-height:120px}' +
    '.kw-send{border:0;border-radius:8px;padding:0 14px;background:#2563eb;color:#fff;cursor:pointer}.kw-send:disabled{opacity:.6;cursor:default}' +
    '.kw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}';
  var style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);

  var root = el('div', { 'class': 'kw-root', 'data-konstruct-widget': '' });
  var panelId = 'kw-panel-' + Math.random().toString(36).slice(2, 8);
  var panel = el('section', { 'class': 'kw-panel', id: panelId, role: 'dialog', 'aria-label': 'Chat', hidden: '' });
  var title = el('h2', {}, script.getAttribute('data-title') || 'Chat with us');
  var close = el('button', { type: 'button', 'class': 'kw-close', 'aria-label': 'Close chat' }, '\u00d7');
  var head = el('div', { 'class': 'kw-head' }, null, [title, close]);
  var log = el('ol', { 'class': 'kw-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', 'data-konstruct-log': '' });
  var status = el('p', { 'class': 'kw-status', role: 'status', 'data-konstruct-status': '' });
  var inputId = panelId + '-input';
  var label = el('label', { 'for': inputId, 'class': 'kw-sr' }, 'Your message');
  var input = el('textarea', { id: inputId, rows: '1', maxlength: '4000', placeholder: 'Write a message\u2026', 'data-konstruct-input': '' });
  var send = el('button', { type: 'submit', 'class': 'kw-send', 'data-konstruct-send': '' }, 'Send');
  var form = el('form', { 'class': 'kw-form' }, null, [label, input, send]);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(status); panel.appendChild(form);
  var launch = el('button', { type: 'button', 'class': 'kw-launch', 'aria-expanded': 'false', 'aria-controls': panelId, 'data-konstruct-launch': '' }, 'Chat');
  root.appendChild(panel); root.appendChild(launch);
  (document.body || document.documentElement).appendChild(root);

  function el(tag, attrs, text, children) {
    var node = document.createElement(tag);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text != null) node.textContent = text;
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function setOpen(open) {
    if (open) panel.removeAttribute('hidden'); else panel.setAttribute('hidden', '');
    launch.setAttribute('aria-expanded', String(open));
    if (open) { input.focus(); start(); } else launch.focus();
  }
  launch.addEventListener('click', function () { setOpen(panel.hasAttribute('hidden')); });
  close.addEventListener('click', function () { setOpen(false); });
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') setOpen(false); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : submit(e); }
  });
  form.addEventListener('submit', submit);

  // Shows a message once (by id), in seq order: a reply that arrives over Realtime before the
  // POST that sent the question has returned still lands below it. An update (same id, new
  // text) rewrites the message in place.
  function show(message) {
    if (!message || !message.id) return;
    if (message.text == null || message.text === '') return;
    if (message.seq && message.seq > state.lastSeq) state.lastSeq = message.seq;
    var existing = state.seen[message.id];
    if (existing) {
      if (message.seq && !existing.getAttribute('data-seq')) existing.setAttribute('data-seq', String(message.seq));
      if (existing.lastChild && existing.lastChild.nodeValue !== message.text) existing.lastChild.nodeValue = message.text;
      return;
    }
    var mine = message.direction === 'in';
    var kind = mine ? 'visitor' : message.author_kind === 'member' ? 'member' : message.author_kind === 'system' ? 'notice' : 'agent';
    var author = AUTHORS[kind];
    var item = el('li', { 'class': 'kw-msg ' + (mine ? 'kw-in' : 'kw-out') + (author.label ? ' kw-' + kind : ''), 'data-konstruct-message': kind, 'data-id': message.id });
    if (message.seq) item.setAttribute('data-seq', String(message.seq));
    // The visible label is for the eyes; screen readers get the prefix (read once).
    if (author.label) item.appendChild(el('span', { 'class': 'kw-who', 'aria-hidden': 'true', 'data-konstruct-author': '' }, author.label));
    item.appendChild(el('span', { 'class': 'kw-sr' }, author.sr));
    item.appendChild(document.createTextNode(message.text));
    state.seen[message.id] = item;
    var before = null;
    if (message.seq) {
      for (var i = 0; i < log.children.length && !before; i++) {
        var seq = Number(log.children[i].getAttribute('data-seq') || 0);
        if (seq > message.seq) before = log.children[i];
      }
    }
    log.insertBefore(item, before);
    log.scrollTop = log.scrollHeight;
    if (!mine) { state.answers += 1; status.textContent = ''; }
  }

  // Who handles the conversation now: 'open' (the agent), 'waiting_for_human', 'human' (a
  // team member) or 'closed'; null before the first message. A waiting "typing" turns into
  // the honest note when a human takes over, and the note goes when the agent is back.
  function humanHandles() { return state.conversation === 'human' || state.conversation === 'waiting_for_human'; }
  function setConversation(value) {
    if (typeof value !== 'string' && value !== null) return;
    state.conversation = value;
    if (value) root.setAttribute('data-konstruct-conversation-status', value); else root.removeAttribute('data-konstruct-conversation-status');
    if (humanHandles() && (status.textContent === TYPING || status.textContent === LATER)) status.textContent = HUMAN_WILL_REPLY;
    else if (!humanHandles() && status.textContent === HUMAN_WILL_REPLY) status.textContent = '';
  }

  // ---- Session (an anonymous Supabase user) ----------------------------------------------
  function auth(path, body) {
    return fetch(project.supabaseUrl + '/auth/v1' + path, { method: 'POST', headers: { apikey: project.publishableKey, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { if (!r.ok) throw new Error('auth ' + r.status); return r.json(); });
  }
  function keep(session) {
    state.session = { access_token: session.access_token, refresh_token: session.refresh_token, expires_at: session.expires_at };
    try { localStorage.setItem(storageKey, JSON.stringify(state.session)); } catch (e) { /* private mode */ }
    clearTimeout(state.refreshTimer);
    // Refresh a minute before it expires, and give Realtime the new token.
    var inMs = Math.max(5000, state.session.expires_at * 1000 - Date.now() - 60000);
    state.refreshTimer = setTimeout(function () {
      session_().then(function () { push('realtime:' + state.topic, 'access_token', { access_token: state.session.access_token }); }).catch(function () {});
    }, inMs);
    return state.session;
  }
  function session_() {
    if (!state.session) { try { state.session = JSON.parse(localStorage.getItem(storageKey) || 'null'); } catch (e) { state.session = null; } }
    var s = state.session;
    if (s && s.access_token && s.expires_at * 1000 - Date.now() > 60000) return Promise.resolve(s);
    var signIn = function () { return auth('/signup', { data: {} }).then(keep); };
    if (s && s.refresh_token) return auth('/token?grant_type=refresh_token', { refresh_token: s.refresh_token }).then(keep, signIn);
    return signIn();
  }
  function forget() {
    state.session = null;
    try { localStorage.removeItem(storageKey); } catch (e) { /* no storage */ }
  }

  // ---- HTTP ------------------------------------------------------------------------------
  function api(method, path, body) {
    return session_().then(function (s) {
      var headers = { 'content-type': 'application/json', authorization: 'Bearer ' + s.access_token, 'x-widget-key': widgetKey };
      return fetch(base + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined });
    }).then(function (r) { return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data, retryAfter: r.headers.get('retry-after') }; }); });
  }
  var starting = null;
  function start() {
    if (starting) return starting;
    var open = function () { return api('POST', '/session', { widget_key: widgetKey }); };
    starting = open()
      .then(function (res) {
        // A session that no longer works (its user is gone): start over as a new visitor.
        if (res.status === 401) { forget(); return open(); }
        return res;
      })
      .then(function (res) {
        if (res.status >= 300) throw new Error('session ' + res.status);
        state.topic = res.data.topic; state.realtime = res.data.realtime;
        setConversation(res.data.status === undefined ? null : res.data.status);
        if (res.data.widget && res.data.widget.greeting && !log.children.length) show({ id: 'greeting', direction: 'out', text: res.data.widget.greeting });
        return catchUp();
      })
      .then(connect)
      .catch(function () { starting = null; status.textContent = 'Chat is unavailable right now. Please try again later.'; });
    return starting;
  }
  function catchUp() {
    return api('GET', '/messages' + (state.lastSeq ? '?after_seq=' + state.lastSeq : '')).then(function (res) {
      if (res.status === 200 && res.data.messages) res.data.messages.forEach(show);
      if (res.status === 200 && res.data.status !== undefined) setConversation(res.data.status);
    });
  }
  function submit(e) {
    if (e && e.preventDefault) e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    send.disabled = true;
    var answersBefore = state.answers;
    var id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2)).replace(/[^A-Za-z0-9_-]/g, '');
    start().then(function () {
      return api('POST', '/messages', { text: text, client_message_id: id });
    }).then(function (res) {
      if (res.status === 429) { status.textContent = (res.data && res.data.message) || 'Please wait a moment.'; return; }
      if (res.status >= 300) { status.textContent = 'Your message could not be sent. Please try again.'; return; }
      input.value = '';
      show({ id: res.data.message_id, direction: 'in', text: text });
      if (res.data.status !== undefined) setConversation(res.data.status);
      // Unless the answer already came in over Realtime while the POST was returning.
      if (state.answers === answersBefore) status.textContent = afterSend(res.data);
    }).catch(function () { status.textContent = 'Your message could not be sent. Please try again.'; })
      .then(function () { send.disabled = false; input.focus(); });
  }

  // What the status line says once a message is sent, from what ingest decided for it.
  function afterSend(data) {
    if (humanHandles()) return HUMAN_WILL_REPLY;
    if (data.agent_reply_expected === true) return TYPING;
    if (data.rate_limited || data.notice_expected) return '';
    return state.conversation === 'open' ? LATER : '';
  }

  // ---- Realtime (Phoenix vsn 1.0.0) --------------------------------------------------------
  function push(topic, event, payload) {
    if (!state.socket || state.socket.readyState !== 1) return;
    state.ref += 1;
    state.socket.send(JSON.stringify({ topic: topic, event: event, payload: payload, ref: String(state.ref), join_ref: topic === 'phoenix' ? null : '1' }));
  }
  function connect() {
    if (!state.realtime || state.closed) return;
    if (state.socket && state.socket.readyState <= 1) return;
    // Join with a session that is still valid (a rejoin after a long pause refreshes first).
    if (!state.session || state.session.expires_at * 1000 - Date.now() < 60000) { session_().then(connect, function () {}); return; }
    var url = state.realtime.url + '?apikey=' + encodeURIComponent(state.realtime.apikey) + '&vsn=1.0.0';
    var socket = new WebSocket(url);
    var channelTopic = 'realtime:' + state.topic;
    state.socket = socket;
    socket.onopen = function () {
      state.joined = false;
      push(channelTopic, 'phx_join', { config: { broadcast: { self: false, ack: false }, presence: { key: '' }, postgres_changes: [], private: true }, access_token: state.session && state.session.access_token });
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(function () { push('phoenix', 'heartbeat', {}); }, 25000);
    };
    socket.onmessage = function (event) {
      var msg; try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.topic !== channelTopic) return;
      if (msg.event === 'phx_reply' && msg.payload && msg.payload.status === 'ok' && !state.joined) {
        state.joined = true; state.retry = 0; root.setAttribute('data-konstruct-live', 'true');
        catchUp();
      } else if (msg.event === 'broadcast' && msg.payload && msg.payload.payload) {
        if (msg.payload.event === 'status_changed') setConversation(msg.payload.payload.status);
        else show(msg.payload.payload);
      } else if (msg.event === 'phx_error' || msg.event === 'phx_close') {
        socket.close();
      }
    };
    socket.onclose = function () {
      clearInterval(state.heartbeat);
      root.removeAttribute('data-konstruct-live');
      if (state.closed) return;
      state.retry = Math.min(state.retry + 1, 6);
      setTimeout(connect, Math.min(30000, 500 * Math.pow(2, state.retry)));
    };
  }
  window.addEventListener('pagehide', function () { state.closed = true; if (state.socket) state.socket.close(); });

  if (script.getAttribute('data-open') === 'true') setOpen(true);
  else {
    // Resume a conversation in progress without waiting for a click.
    try { if (localStorage.getItem(storageKey)) start(); } catch (e) { /* no storage */ }
  }
})();
`
