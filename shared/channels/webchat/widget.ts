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
// Replies are Markdown, rendered as DOM nodes (never innerHTML): paragraphs, lists, quotes,
// code, bold, italic and links to http(s) or mailto only, like the portal's chat views; the
// visitor's own messages stay plain text.
// Once the conversation is closed the widget asks for a rating (1 to 5 and an optional
// comment), sent once to POST /rating; the server takes it only for the visitor's own
// closed conversation.
// Look: the channel's settings (the greeting, the title in the header and the accent colour)
// come with the session; data-title only fills in while they have not arrived.
// Typing, both ways: once the conversation exists the widget also joins its private topic
// typing:<conversation id> (RLS lets only this visitor and the tenant's members in). While
// the visitor types it sends a `typing` broadcast at most every 3 seconds; a team member
// typing in the inbox shows "<their name> is typing…" (data-konstruct-typing), which goes 6
// seconds after their last keystroke or when their message arrives.
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
  var state = { rated: false, answers: 0, session: null, refreshTimer: null, topic: null, realtime: null, lastSeq: 0, seen: {}, socket: null, joined: false, ref: 0, heartbeat: null, retry: 0, closed: false, conversation: null, conversationId: null, typingTopic: null, typingJoined: false, typingSentAt: 0, typingTimer: null, joinRefs: {} };
  var TYPING_EVERY_MS = 3000;
  var TYPING_SHOWN_MS = 6000;
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
    '.kw-launch:focus-visible,.kw-send:focus-visible,.kw-close:focus-visible,.kw-log:focus-visible{outline:3px solid #2563eb;outline-offset:2px}' +
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
    '.kw-typing{font-size:12px;font-style:italic;color:#4b5563;padding:0 14px;margin:0;min-height:1em}' +
    '.kw-form{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb}' +
    '.kw-form textarea{flex:1;resize:none;border:1px solid #9ca3af;border-radius:8px;padding:8px;font:inherit;min-height:38px;max-height:120px}' +
    '.kw-send{border:0;border-radius:8px;padding:0 14px;background:#2563eb;color:#fff;cursor:pointer}.kw-send:disabled{opacity:.6;cursor:default}' +
    '.kw-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    '.kw-out .kw-body{white-space:normal}.kw-body p,.kw-body ul,.kw-body ol,.kw-body blockquote,.kw-body pre{margin:0 0 6px}.kw-body>:last-child{margin-bottom:0}' +
    '.kw-body ul,.kw-body ol{padding-left:20px}.kw-body blockquote{border-left:3px solid #9ca3af;padding-left:8px;color:#374151}' +
    '.kw-body code{font-family:ui-monospace,monospace;font-size:13px;background:rgba(0,0,0,.06);padding:0 3px;border-radius:4px}' +
    '.kw-body pre{white-space:pre-wrap;background:rgba(0,0,0,.06);padding:6px;border-radius:6px}.kw-body pre code{background:none;padding:0}' +
    '.kw-body a{color:#1d4ed8;text-decoration:underline}' +
    '.kw-rate{border-top:1px solid #e5e7eb;padding:10px;margin:0}.kw-rate[hidden]{display:none}.kw-rate fieldset{border:0;margin:0;padding:0}' +
    '.kw-rate legend{font-weight:600;padding:0;margin-bottom:6px}.kw-stars{display:flex;gap:4px;margin-bottom:6px}' +
    '.kw-stars label{flex:1;text-align:center;border:1px solid #9ca3af;border-radius:8px;padding:4px 0;cursor:pointer}' +
    '.kw-stars input{position:absolute;opacity:0;width:1px;height:1px}.kw-stars input:checked+span{font-weight:700}' +
    '.kw-stars label:has(input:checked){background:#1f2937;color:#fff;border-color:#1f2937}.kw-stars label:has(input:focus-visible){outline:3px solid #2563eb;outline-offset:2px}' +
    '.kw-rate textarea{width:100%;box-sizing:border-box;border:1px solid #9ca3af;border-radius:8px;padding:6px;font:inherit;resize:none}' +
    '.kw-rate button{margin-top:6px;border:0;border-radius:8px;padding:6px 14px;background:#2563eb;color:#fff;cursor:pointer}.kw-rate button:focus-visible{outline:3px solid #2563eb;outline-offset:2px}' +
    '.kw-thanks{padding:10px;margin:0;border-top:1px solid #e5e7eb}' +
    '.kw-prechat{display:flex;flex-direction:column;gap:6px;padding:10px 14px;border-top:1px solid #e5e7eb}.kw-prechat[hidden],.kw-form[hidden]{display:none}' +
    '.kw-prechat p{margin:0}.kw-prechat input{border:1px solid #9ca3af;border-radius:8px;padding:8px;font:inherit}.kw-prechat .kw-send{padding:9px 14px}';
  var style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);

  var root = el('div', { 'class': 'kw-root', 'data-konstruct-widget': '' });
  var panelId = 'kw-panel-' + Math.random().toString(36).slice(2, 8);
  var panel = el('section', { 'class': 'kw-panel', id: panelId, role: 'dialog', 'aria-label': 'Chat', hidden: '' });
  var title = el('h2', {}, script.getAttribute('data-title') || 'Chat with us');
  var close = el('button', { type: 'button', 'class': 'kw-close', 'aria-label': 'Close chat' }, '\u00d7');
  var head = el('div', { 'class': 'kw-head' }, null, [title, close]);
  var log = el('div', { 'class': 'kw-log', role: 'log', tabindex: '0', 'aria-live': 'polite', 'aria-label': 'Messages', 'data-konstruct-log': '' });
  var status = el('p', { 'class': 'kw-status', role: 'status', 'data-konstruct-status': '' });
  var memberTyping = el('p', { 'class': 'kw-typing', 'aria-live': 'polite', 'data-konstruct-typing': '' });
  var inputId = panelId + '-input';
  var label = el('label', { 'for': inputId, 'class': 'kw-sr' }, 'Your message');
  var input = el('textarea', { id: inputId, rows: '1', maxlength: '4000', placeholder: 'Write a message\u2026', 'data-konstruct-input': '' });
  var send = el('button', { type: 'submit', 'class': 'kw-send', 'data-konstruct-send': '' }, 'Send');
  var form = el('form', { 'class': 'kw-form' }, null, [label, input, send]);
  // The rating, asked once the conversation is closed.
  var rateId = panelId + '-rate';
  var stars = el('div', { 'class': 'kw-stars' });
  [1, 2, 3, 4, 5].forEach(function (n) {
    var radio = el('input', { type: 'radio', name: rateId, value: String(n), 'aria-label': n + (n === 1 ? ' star' : ' stars') + (n === 1 ? ' (poor)' : n === 5 ? ' (excellent)' : '') });
    stars.appendChild(el('label', {}, null, [radio, el('span', { 'aria-hidden': 'true' }, n + '\u2605')]));
  });
  var commentId = rateId + '-comment';
  var comment = el('textarea', { id: commentId, rows: '2', maxlength: '1000', placeholder: 'Anything to add? (optional)' });
  var rateSend = el('button', { type: 'submit' }, 'Send rating');
  var rateNote = el('p', { 'class': 'kw-status', role: 'status' });
  var rate = el('form', { 'class': 'kw-rate', hidden: '', 'data-konstruct-rating': '' }, null, [
    el('fieldset', {}, null, [el('legend', {}, 'How was this conversation?'), stars]),
    el('label', { 'for': commentId, 'class': 'kw-sr' }, 'Comment (optional)'), comment, rateSend, rateNote
  ]);
  var thanks = el('p', { 'class': 'kw-thanks', role: 'status', hidden: '', 'data-konstruct-rated': '' }, 'Thank you for your rating.');
  // The pre-chat form (when the widget's settings switch it on): a name, optionally an
  // email, before the first message; stored on the visitor's own contact by the api.
  var nameInput = el('input', { id: panelId + '-name', name: 'name', maxlength: '200', autocomplete: 'name', 'aria-required': 'true' });
  var emailInput = el('input', { id: panelId + '-email', name: 'email', type: 'email', maxlength: '320', autocomplete: 'email' });
  var prechat = el('form', { 'class': 'kw-prechat', hidden: '', 'data-konstruct-prechat': '' }, null, [
    el('p', {}, 'Before we start, tell us who you are.'),
    el('label', { 'for': panelId + '-name' }, 'Your name'), nameInput,
    el('label', { 'for': panelId + '-email' }, 'Email (optional)'), emailInput,
    el('button', { type: 'submit', 'class': 'kw-send' }, 'Start chat')
  ]);
  panel.appendChild(head); panel.appendChild(log); panel.appendChild(memberTyping); panel.appendChild(status); panel.appendChild(prechat); panel.appendChild(rate); panel.appendChild(thanks); panel.appendChild(form);
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
    if (open) { (prechat.hasAttribute('hidden') ? input : nameInput).focus(); start(); } else launch.focus();
  }
  launch.addEventListener('click', function () { setOpen(panel.hasAttribute('hidden')); });
  close.addEventListener('click', function () { setOpen(false); });
  panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') setOpen(false); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : submit(e); }
  });
  form.addEventListener('submit', submit);
  input.addEventListener('input', typed);
  prechat.addEventListener('submit', introduce);
  function askWhoFirst(ask) {
    if (ask) { prechat.removeAttribute('hidden'); form.setAttribute('hidden', ''); }
    else { prechat.setAttribute('hidden', ''); form.removeAttribute('hidden'); }
  }
  function introduce(e) {
    e.preventDefault();
    var name = nameInput.value.trim();
    if (!name) { status.textContent = 'Please enter your name.'; nameInput.focus(); return; }
    session_().then(function (s) {
      return fetch(project.supabaseUrl + '/rest/v1/rpc/set_visitor_profile', {
        method: 'POST',
        headers: { apikey: project.publishableKey, authorization: 'Bearer ' + s.access_token, 'content-type': 'application/json', 'content-profile': 'api' },
        body: JSON.stringify({ widget_key: widgetKey, display_name: name, email: emailInput.value.trim() || null })
      });
    }).then(function (r) {
      if (!r.ok) { status.textContent = r.status === 400 ? 'Please check your name and email.' : 'Your details could not be saved. Please try again.'; return; }
      try { localStorage.setItem(storageKey + ':introduced', '1'); } catch (err) { /* private mode */ }
      status.textContent = '';
      askWhoFirst(false);
      input.focus();
    }).catch(function () { status.textContent = 'Your details could not be saved. Please try again.'; });
  }
  function introduced() { try { return localStorage.getItem(storageKey + ':introduced') === '1'; } catch (err) { return false; } }

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
      var body = existing.querySelector('.kw-body');
      if (body && body.getAttribute('data-text') !== message.text) fill(body, message.text, existing.getAttribute('data-konstruct-message') === 'visitor');
      return;
    }
    var mine = message.direction === 'in';
    var kind = mine ? 'visitor' : message.author_kind === 'member' ? 'member' : message.author_kind === 'system' ? 'notice' : 'agent';
    var author = AUTHORS[kind];
    var item = el('div', { 'class': 'kw-msg ' + (mine ? 'kw-in' : 'kw-out') + (author.label ? ' kw-' + kind : ''), 'data-konstruct-message': kind, 'data-id': message.id });
    if (message.seq) item.setAttribute('data-seq', String(message.seq));
    // The visible label is for the eyes; screen readers get the prefix (read once).
    if (author.label) item.appendChild(el('span', { 'class': 'kw-who', 'aria-hidden': 'true', 'data-konstruct-author': '' }, author.label));
    item.appendChild(el('span', { 'class': 'kw-sr' }, author.sr));
    var bodyNode = el('span', { 'class': 'kw-body' });
    fill(bodyNode, message.text, mine);
    item.appendChild(bodyNode);
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
    if (kind === 'member') hideMemberTyping();
  }

  // A message's text: the visitor's as written, everyone else's as Markdown.
  function fill(node, text, plain) {
    node.setAttribute('data-text', text);
    while (node.firstChild) node.removeChild(node.firstChild);
    node.appendChild(plain ? document.createTextNode(text) : renderMarkdown(text));
  }

  // ---- Markdown (replies) ------------------------------------------------------------------
  // A safe subset built as nodes: text stays text, so HTML in a reply shows as the characters it is.
  var FENCE = /^\x60\x60\x60/;
  var QUOTE = /^\s*>/;
  var BULLET = /^\s*[-*+]\s+/;
  var NUMBERED = /^\s*\d{1,9}[.)]\s+/;
  function blockStart(line) { return FENCE.test(line.trim()) || QUOTE.test(line) || BULLET.test(line) || NUMBERED.test(line); }
  function renderMarkdown(text) {
    var out = document.createDocumentFragment();
    var lines = String(text).replace(/\r\n?/g, '\n').split('\n');
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (!line.trim()) { i++; continue; }
      if (FENCE.test(line.trim())) {
        var code = [];
        i++;
        while (i < lines.length && !FENCE.test(lines[i].trim())) code.push(lines[i++]);
        i++;
        out.appendChild(el('pre', {}, null, [el('code', {}, code.join('\n'))]));
      } else if (QUOTE.test(line)) {
        var quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ''));
        var quote = el('blockquote');
        quote.appendChild(renderMarkdown(quoted.join('\n')));
        out.appendChild(quote);
      } else if (BULLET.test(line) || NUMBERED.test(line)) {
        var marker = BULLET.test(line) ? BULLET : NUMBERED;
        var list = el(marker === BULLET ? 'ul' : 'ol');
        while (i < lines.length && marker.test(lines[i])) {
          var item = el('li');
          inline(item, lines[i++].replace(marker, ''));
          list.appendChild(item);
        }
        out.appendChild(list);
      } else {
        var para = el('p');
        var first = true;
        while (i < lines.length && lines[i].trim() && (first || !blockStart(lines[i]))) {
          if (!first) para.appendChild(el('br'));
          inline(para, lines[i++].replace(/^#{1,6}\s+/, ''));
          first = false;
        }
        out.appendChild(para);
      }
    }
    return out;
  }
  // Code spans first (their content is literal), then links, bold and italic.
  var INLINE = /\x60([^\x60]+)\x60|\[([^\]]+)\]\(([^()\s]+)\)|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/;
  function inline(parent, text) {
    var m;
    while ((m = INLINE.exec(text))) {
      if (m.index) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
      if (m[1] != null) parent.appendChild(el('code', {}, m[1]));
      else if (m[2] != null || m[6] != null) {
        var href = safeHref(m[2] != null ? m[3] : m[6]);
        if (href) {
          var a = el('a', { href: href, target: '_blank', rel: 'noopener noreferrer' });
          if (m[2] != null) inline(a, m[2]); else a.textContent = m[6];
          parent.appendChild(a);
        } else parent.appendChild(document.createTextNode(m[0]));
      } else {
        var strong = el(m[4] != null ? 'strong' : 'em');
        inline(strong, m[4] != null ? m[4] : m[5]);
        parent.appendChild(strong);
      }
      text = text.slice(m.index + m[0].length);
    }
    if (text) parent.appendChild(document.createTextNode(text));
  }
  function safeHref(address) {
    if (!/^(https?:\/\/|mailto:)/i.test(address)) return null;
    try { return new URL(address).href; } catch (e) { return null; }
  }

  // Who handles the conversation now: 'open' (the agent), 'waiting_for_human', 'human' (a
  // team member) or 'closed'; null before the first message. A waiting "typing" turns into
  // the honest note when a human takes over, and the note goes when the agent is back.
  function humanHandles() { return state.conversation === 'human' || state.conversation === 'waiting_for_human'; }
  function setConversation(value) {
    if (typeof value !== 'string' && value !== null) return;
    var previous = state.conversation;
    state.conversation = value;
    if (value) root.setAttribute('data-konstruct-conversation-status', value); else root.removeAttribute('data-konstruct-conversation-status');
    if (humanHandles() && (status.textContent === TYPING || status.textContent === LATER)) status.textContent = HUMAN_WILL_REPLY;
    else if (!humanHandles() && status.textContent === HUMAN_WILL_REPLY) status.textContent = '';
    if (value === 'closed' && !state.rated) { rate.removeAttribute('hidden'); if (value !== previous && status.textContent === TYPING) status.textContent = ''; }
    else rate.setAttribute('hidden', '');
  }

  // ---- Rating ------------------------------------------------------------------------------
  rate.addEventListener('submit', function (e) {
    e.preventDefault();
    var chosen = rate.querySelector('input[type=radio]:checked');
    if (!chosen) { rateNote.textContent = 'Choose from 1 to 5 stars first.'; stars.querySelector('input').focus(); return; }
    rateSend.disabled = true;
    api('POST', '/rating', { rating: Number(chosen.value), comment: comment.value.trim() || undefined }).then(function (res) {
      if (res.status === 200 || res.status === 201) {
        state.rated = true;
        rate.setAttribute('hidden', '');
        thanks.removeAttribute('hidden');
        input.focus();
      } else if (res.status === 409) {
        rateNote.textContent = 'This conversation is open again; rate it once it is closed.';
      } else {
        rateNote.textContent = 'Your rating could not be sent. Please try again.';
      }
    }).catch(function () { rateNote.textContent = 'Your rating could not be sent. Please try again.'; })
      .then(function () { rateSend.disabled = false; });
  });

  // The channel's title and accent colour; text on the accent is white or near-black,
  // whichever reads better on it (WCAG contrast).
  function look(widget) {
    if (typeof widget.title === 'string' && widget.title) title.textContent = widget.title;
    var color = typeof widget.color === 'string' && /^#[0-9a-fA-F]{6}$/.test(widget.color) ? widget.color : null;
    if (!color) return;
    var on = contrastOn(color);
    var accent = document.createElement('style');
    accent.textContent = '.kw-launch,.kw-head,.kw-send,.kw-in,.kw-rate button,.kw-stars label:has(input:checked){background:' + color + ';color:' + on + ';border-color:' + color + '}.kw-close{color:' + on + '}';
    document.head.appendChild(accent);
  }
  function contrastOn(hex) {
    var channel = function (i) { var c = parseInt(hex.slice(i, i + 2), 16) / 255; return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    var l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    return (1.05 / (l + 0.05)) >= ((l + 0.05) / (0.0056 + 0.05)) ? '#ffffff' : '#111111';
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
      session_().then(function () {
        push('realtime:' + state.topic, 'access_token', { access_token: state.session.access_token });
        if (state.typingTopic) push(state.typingTopic, 'access_token', { access_token: state.session.access_token });
      }).catch(function () {});
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
        if (res.data.widget) look(res.data.widget);
        if (res.data.widget && res.data.widget.greeting && !log.children.length) show({ id: 'greeting', direction: 'out', text: res.data.widget.greeting });
        var ask = !!(res.data.widget && res.data.widget.prechat_form) && res.data.status == null && !introduced();
        var focusName = ask && prechat.hasAttribute('hidden') && document.activeElement === input;
        askWhoFirst(ask);
        if (focusName) nameInput.focus();
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
      if (res.status === 200) watchTyping(res.data.conversation_id);
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
      // The server wants the pre-chat form first (this browser's record of it may be stale).
      if (res.status === 428) {
        try { localStorage.removeItem(storageKey + ':introduced'); } catch (err) { /* private mode */ }
        askWhoFirst(true);
        status.textContent = (res.data && res.data.message) || 'Please tell us your name first.';
        nameInput.focus();
        return;
      }
      if (res.status >= 300) { status.textContent = 'Your message could not be sent. Please try again.'; return; }
      input.value = '';
      show({ id: res.data.message_id, direction: 'in', text: text });
      if (res.data.status !== undefined) setConversation(res.data.status);
      watchTyping(res.data.conversation_id);
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
    if (event === 'phx_join') state.joinRefs[topic] = String(state.ref);
    state.socket.send(JSON.stringify({ topic: topic, event: event, payload: payload, ref: String(state.ref), join_ref: state.joinRefs[topic] || null }));
  }
  function joinPayload() {
    return { config: { broadcast: { self: false, ack: false }, presence: { key: '' }, postgres_changes: [], private: true }, access_token: state.session && state.session.access_token };
  }

  // ---- Typing ------------------------------------------------------------------------------
  // The conversation's typing topic, joined once its id is known (after the first message).
  function watchTyping(conversationId) {
    if (typeof conversationId !== 'string' || !conversationId || conversationId === state.conversationId) return;
    state.conversationId = conversationId;
    state.typingTopic = 'realtime:typing:' + conversationId;
    state.typingJoined = false;
    if (state.joined) push(state.typingTopic, 'phx_join', joinPayload());
  }
  function typed() {
    if (!state.typingJoined || !input.value.trim()) return;
    var now = Date.now();
    if (now - state.typingSentAt < TYPING_EVERY_MS) return;
    state.typingSentAt = now;
    push(state.typingTopic, 'broadcast', { type: 'broadcast', event: 'typing', payload: { role: 'visitor' } });
  }
  function showMemberTyping(name) {
    var who = typeof name === 'string' && name.trim() ? name.trim().slice(0, 60) : 'A team member';
    memberTyping.textContent = who + ' is typing\u2026';
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideMemberTyping, TYPING_SHOWN_MS);
  }
  function hideMemberTyping() {
    clearTimeout(state.typingTimer);
    memberTyping.textContent = '';
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
      state.typingJoined = false;
      state.joinRefs = {};
      push(channelTopic, 'phx_join', joinPayload());
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(function () { push('phoenix', 'heartbeat', {}); }, 25000);
    };
    socket.onmessage = function (event) {
      var msg; try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (state.typingTopic && msg.topic === state.typingTopic) {
        if (msg.event === 'phx_reply' && msg.payload && msg.payload.status === 'ok') state.typingJoined = true;
        else if (msg.event === 'broadcast' && msg.payload && msg.payload.event === 'typing' && msg.payload.payload && msg.payload.payload.role === 'member') showMemberTyping(msg.payload.payload.name);
        else if (msg.event === 'phx_error' || msg.event === 'phx_close') state.typingJoined = false;
        return;
      }
      if (msg.topic !== channelTopic) return;
      if (msg.event === 'phx_reply' && msg.payload && msg.payload.status === 'ok' && !state.joined) {
        state.joined = true; state.retry = 0; root.setAttribute('data-konstruct-live', 'true');
        if (state.typingTopic) push(state.typingTopic, 'phx_join', joinPayload());
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
