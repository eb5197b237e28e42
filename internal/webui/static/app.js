// Paddock's web UI: one page routed by its fragment (#/environments, ...),
// talking to the public API with the token its login returns. Text from
// the API is only ever inserted as text: el() makes text nodes, never HTML.

const TOKEN = 'paddock.token';
const USER = 'paddock.user';

// ---- DOM ----

// el makes an element: attrs holds attributes, with class, text and on*
// handled specially; children are nodes or strings (made text nodes).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function badge(status) {
  return el('span', { class: 'badge ' + status, 'data-status': status, text: status });
}

function when(t) {
  if (!t) return '';
  const d = new Date(t);
  const s = (Date.now() - d.getTime()) / 1000;
  let rel;
  if (Math.abs(s) < 60) rel = 'just now';
  else if (s > 0 && s < 3600) rel = Math.round(s / 60) + ' min ago';
  else if (s > 0 && s < 86400) rel = Math.round(s / 3600) + ' h ago';
  else if (s < 0 && s > -86400) rel = 'in ' + Math.round(-s / 3600 * 10) / 10 + ' h';
  else rel = d.toLocaleDateString();
  return el('span', { title: d.toLocaleString(), text: rel });
}

// shellQuote writes argv as a shell would read it back.
function shellQuote(argv) {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\\''") + "'")).join(' ');
}

function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// armed makes a button that asks for a second click within five seconds
// before it acts: deleting is not undone.
function armed(label, action, attrs = {}) {
  let timer;
  const b = el('button', { type: 'button', class: 'danger', ...attrs, text: label });
  b.addEventListener('click', async () => {
    if (!b.classList.contains('armed')) {
      b.classList.add('armed');
      b.textContent = 'Confirm: ' + label.toLowerCase();
      timer = setTimeout(() => { b.classList.remove('armed'); b.textContent = label; }, 5000);
      return;
    }
    clearTimeout(timer);
    await busy(b, action);
    b.classList.remove('armed');
    b.textContent = label;
  });
  return b;
}

// busy runs fn with button disabled, giving an error to onError (flash by
// default): what every form's submit does.
async function busy(button, fn, onError = flash) {
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    onError(e);
  } finally {
    button.disabled = false;
  }
}

// cardForm makes a form card of children whose submit runs fn with
// button disabled: what most forms here do.
function cardForm(button, fn, ...children) {
  return el('form', { class: 'grid card', onsubmit: (e) => { e.preventDefault(); return busy(button, fn); } }, ...children);
}

// table makes a table of the headers and the rows in tbody.
function table(headers, tbody, attrs = {}) {
  return el('table', attrs, el('thead', {}, el('tr', {}, headers.map((h) => el('th', { text: h })))), tbody);
}

// pager pages through a list the API returns in slices (offset or page,
// and a total): Previous and Next buttons and a count, ids prefixed with
// id. load fetches the slice at p.offset and calls p.show with how many
// it got and the total.
function pager(id, size, load) {
  const p = { offset: 0, size };
  const go = (offset) => { p.offset = offset; load().catch(flash); };
  const count = el('span', { id: id + '-count', class: 'muted' });
  const prev = el('button', { id: id + '-prev', type: 'button', class: 'secondary', hidden: true, onclick: () => go(Math.max(0, p.offset - size)) }, 'Previous');
  const next = el('button', { id: id + '-next', type: 'button', class: 'secondary', hidden: true, onclick: () => go(p.offset + size) }, 'Next');
  p.el = el('p', { class: 'row' }, count, prev, next);
  p.show = (n, total) => {
    if (!n && p.offset > 0 && total > 0) { // the page emptied under us: show the last one
      go(Math.floor((total - 1) / size) * size);
      return;
    }
    count.textContent = n ? `${p.offset + 1}–${p.offset + n} of ${total}` : `0 of ${total}`;
    prev.hidden = p.offset === 0;
    next.hidden = p.offset + n >= total;
  };
  return p;
}

// flash shows an error at the top of the view.
function flash(err) {
  const view = document.getElementById('view');
  let box = document.getElementById('flash');
  if (!box) {
    box = el('p', { id: 'flash', class: 'error', role: 'alert' });
    view.prepend(box);
  }
  box.textContent = err instanceof Error ? err.message : String(err);
}

// ---- API ----

class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// errorMessage reads the message out of any of the API's error bodies:
// {"error": "...", "message": "..."} (environments), {"error": {"message"}}
// (agents, assistants) and {"detail": "..."} (platform).
function errorMessage(body, res) {
  if (body && typeof body === 'object') {
    if (typeof body.error === 'string') return body.message || body.error;
    if (body.error && body.error.message) return body.error.message;
    if (body.detail) return body.detail;
    if (body.message) return body.message;
  }
  return `${res.status} ${res.statusText}`;
}

function token() { return sessionStorage.getItem(TOKEN); }

// request sends an API request; it returns the Response of a success and
// throws an APIError with the server's message otherwise. A 401 signs out.
// A Blob body (a File) is sent as it is, as bytes; any other as JSON.
async function request(method, path, body, headers = {}, signal) {
  const h = { Accept: 'application/json', ...headers };
  if (token()) h.Authorization = 'Bearer ' + token();
  const raw = body instanceof Blob;
  if (body !== undefined) h['Content-Type'] = raw ? 'application/octet-stream' : 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined || raw ? body : JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'Paddock cannot be reached: ' + e.message);
  }
  if (res.ok) return res;
  let b = null;
  try { b = await res.json(); } catch { /* not JSON */ }
  const err = new APIError(res.status, errorMessage(b, res));
  if (res.status === 401 && path !== '/api/v1/auth/login') {
    signOut('Your session has ended: sign in again.');
  }
  throw err;
}

async function api(method, path, body) {
  const res = await request(method, path, body);
  return res.status === 204 ? null : res.json();
}

// stream reads the Server-Sent Events of a response, calling onEvent with
// {id, event, data} for each, until the stream ends or signal aborts.
async function stream(res, onEvent) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = { id: '', event: 'message', data: [] };
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'data') ev.data.push(val);
        else if (field === 'event') ev.event = val;
        else if (field === 'id') ev.id = val;
      }
      if (ev.data.length) onEvent({ ...ev, data: ev.data.join('\n') });
    }
  }
}

// ---- session ----

function signOut(message) {
  if (location.hash === '#/login') return; // a second request failing after the first
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(USER);
  loginMessage = message || '';
  location.hash = '#/login';
}

let loginMessage = '';

function user() {
  try { return JSON.parse(sessionStorage.getItem(USER)) || {}; } catch { return {}; }
}

// ---- views ----
// A view renders into main and returns a cleanup function, called when
// the user leaves it: it stops timers and aborts streams.

function loginView(main) {
  const err = el('p', { id: 'login-error', class: 'error', role: 'alert', text: loginMessage });
  loginMessage = '';
  const username = el('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = el('button', { id: 'login-submit', type: 'submit', text: 'Sign in' });
  const form = el('form', {
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      await busy(submit, async () => {
        const r = await api('POST', '/api/v1/auth/login', { username: username.value, password: password.value });
        sessionStorage.setItem(TOKEN, r.token);
        sessionStorage.setItem(USER, JSON.stringify(r.user));
        location.hash = '#/environments';
      }, (e2) => { err.textContent = e2.message; });
    },
  },
  el('label', {}, 'Username', username),
  el('label', {}, 'Password', password),
  submit);
  main.append(el('div', { class: 'login card' }, el('h1', { text: 'Sign in to Paddock' }), form, err));
}

// poll calls fn now and every ms milliseconds until the cleanup it returns
// is called; an error is shown, and polling goes on.
function poll(fn, ms) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try { await fn(); } catch (e) { if (!stopped) flash(e); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function environmentsView(main) {
  const statusFilter = el('select', { id: 'env-filter', 'aria-label': 'Status' },
    ['', 'pending', 'running', 'paused', 'terminating', 'terminated', 'failed'].map((s) => el('option', { value: s, text: s || 'any status' })));
  const tbody = el('tbody');
  const pages = pager('env', 50, () => refresh());
  const form = newEnvironmentForm();
  form.hidden = true;
  main.append(
    el('h1', {}, 'Environments', el('span', { class: 'spacer' }), statusFilter,
      el('button', { id: 'env-new', type: 'button', onclick: () => { form.hidden = !form.hidden; } }, 'New environment')),
    form,
    table(['Name', 'ID', 'Image', 'Status', 'Runtime', 'Created'], tbody),
    pages.el);
  statusFilter.addEventListener('change', () => { pages.offset = 0; refresh().catch(flash); });
  const refresh = async () => {
    const q = new URLSearchParams({ limit: String(pages.size), offset: String(pages.offset) });
    if (statusFilter.value) q.set('status', statusFilter.value);
    const r = await api('GET', '/api/v1/environments?' + q);
    const envs = r.environments || [];
    tbody.replaceChildren(...envs.map((e) => el('tr', { 'data-id': e.id },
      el('td', {}, el('a', { href: '#/environments/' + e.id, text: e.name || e.id })),
      el('td', { class: 'mono', text: e.id }),
      el('td', { text: e.image }),
      el('td', {}, badge(e.status)),
      el('td', { text: (e.isolation && e.isolation.runtime_class) || 'runc' }),
      el('td', {}, when(e.created_at)))));
    if (!envs.length) tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No environments.' })));
    pages.show(envs.length, r.total ?? envs.length);
  };
  return poll(refresh, 3000);
}

function newEnvironmentForm() {
  const f = (id, label, attrs = {}) => {
    const input = el('input', { id, ...attrs });
    return [input, el('label', { class: attrs.wide ? 'wide' : undefined }, label, input)];
  };
  const [name, nameL] = f('env-name', 'Name', { required: true, placeholder: 'my-sandbox', maxlength: 128 });
  const [image, imageL] = f('env-image', 'Image', { required: true, list: 'env-images', placeholder: 'python:3.11-slim' });
  const [cpu, cpuL] = f('env-cpu', 'CPU', { value: '1' });
  const [memory, memoryL] = f('env-memory', 'Memory', { value: '512Mi' });
  const [storage, storageL] = f('env-storage', 'Storage', { value: '1Gi' });
  const [timeout, timeoutL] = f('env-timeout', 'Lifetime (seconds)', { type: 'number', min: 1, value: '3600' });
  const [command, commandL] = f('env-command', 'Command (optional, run with sh -c; its output is the log)', { wide: true, placeholder: 'python3 -m http.server 8000' });
  const runtime = el('select', { id: 'env-runtime' }, el('option', { value: '', text: 'default' }), el('option', { value: 'runc', text: 'runc' }), el('option', { value: 'gvisor', text: 'gVisor' }));
  const images = el('datalist', { id: 'env-images' });
  api('GET', '/api/v1/images').then((r) => images.replaceChildren(...(r.images || []).map((i) => el('option', { value: i.name })))).catch(() => {});
  const submit = el('button', { id: 'env-create', type: 'submit', text: 'Create' });
  const err = el('p', { class: 'error', role: 'alert' });
  const form = el('form', {
    class: 'grid card',
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {
        name: name.value,
        image: image.value,
        resources: { cpu: cpu.value, memory: memory.value, storage: storage.value },
        timeout: Number(timeout.value) || undefined,
      };
      if (runtime.value) body.isolation = { runtime_class: runtime.value };
      if (command.value.trim()) body.command = ['sh', '-c', command.value];
      err.textContent = '';
      await busy(submit, async () => {
        const env = await api('POST', '/api/v1/environments', body);
        location.hash = '#/environments/' + env.id;
      }, (e2) => { err.textContent = e2.message; });
    },
  }, nameL, imageL, el('label', {}, 'Runtime', runtime), cpuL, memoryL, storageL, timeoutL, commandL, images, el('div', {}, submit), el('div', { class: 'wide' }, err));
  return form;
}

const ended = (s) => s === 'terminated' || s === 'failed';

function environmentView(main, id) {
  const title = el('span', { text: id });
  const status = el('span', { id: 'env-status' });
  const info = el('dl', { id: 'env-info' });
  const abort = new AbortController();
  const del = armed('Delete', async () => { await api('DELETE', `/api/v1/environments/${id}`); }, { id: 'env-delete' });
  const logs = el('pre', { id: 'logs', class: 'console' });
  let following = false;

  // Exec console.
  const cmd = el('input', { id: 'exec-command', placeholder: 'ls -la /', autocomplete: 'off', 'aria-label': 'Command' });
  const run = el('button', { id: 'exec-run', type: 'submit', text: 'Run' });
  let running = null; // the AbortController of the command running
  const stopExec = el('button', {
    id: 'exec-stop', type: 'button', class: 'secondary', hidden: true,
    onclick: () => { if (running) running.abort(); },
  }, 'Stop');
  const out = el('pre', { id: 'exec-output', class: 'console' });
  const bg = el('input', { id: 'exec-background', type: 'checkbox' });
  const procs = processList(id);
  const history = [];
  let hpos = 0;
  cmd.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && hpos > 0) { cmd.value = history[--hpos]; e.preventDefault(); }
    if (e.key === 'ArrowDown' && hpos < history.length) { hpos++; cmd.value = history[hpos] || ''; e.preventDefault(); }
  });
  const execForm = el('form', {
    class: 'row',
    onsubmit: async (e) => {
      e.preventDefault();
      const line = cmd.value.trim();
      if (!line || cmd.disabled) return;
      history.push(line);
      hpos = history.length;
      cmd.value = '';
      if (bg.checked) {
        await busy(run, async () => {
          const p = await api('POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', line], background: true });
          out.append(el('span', { class: 'meta', text: `$ ${line} &\nstarted in the background as ${p.pid}\n` }));
          await procs.refresh();
        });
        return;
      }
      run.disabled = true;
      stopExec.hidden = false;
      running = new AbortController();
      // Leaving the page stops the command too: closing the stream kills it.
      const stopped = AbortSignal.any([abort.signal, running.signal]);
      out.append(el('span', { class: 'meta', text: '$ ' + line + '\n' }));
      try {
        const res = await request('POST', `/api/v1/environments/${id}/exec`, { command: ['sh', '-c', line], timeout: 3600 }, { Accept: 'text/event-stream' }, stopped);
        await stream(res, (ev) => {
          const d = JSON.parse(ev.data);
          if (ev.event === 'stdout' || ev.event === 'stderr') out.append(el('span', { class: ev.event, text: d.data }));
          else if (ev.event === 'exit') {
            let s = `exit ${d.exit_code} · ${d.duration_ms} ms`;
            if (d.timed_out) s += ' · timed out';
            if (d.oom_killed) s += ' · killed: out of memory';
            out.append(el('span', { class: 'meta exit', 'data-exit': d.exit_code, text: s + '\n' }));
          } else if (ev.event === 'error') out.append(el('span', { class: 'err', text: errorMessage(d, {}) + '\n' }));
          out.scrollTop = out.scrollHeight;
        });
      } catch (e2) {
        if (e2.name !== 'AbortError') out.append(el('span', { class: 'err', text: e2.message + '\n' }));
        else if (running.signal.aborted) out.append(el('span', { class: 'meta stopped', text: 'stopped\n' }));
      } finally {
        running = null;
        stopExec.hidden = true;
        run.disabled = false;
        cmd.focus();
      }
    },
  }, el('code', { text: '$' }), cmd, el('label', { class: 'inline' }, bg, 'in the background'), run, stopExec);

  const appendLog = (entry) => {
    const line = (entry.timestamp ? new Date(entry.timestamp).toLocaleTimeString() + ' ' : '') + entry.message + '\n';
    logs.append(el('span', { class: entry.stream === 'stderr' ? 'stderr' : entry.stream === 'system' ? 'meta' : '', text: line }));
    logs.scrollTop = logs.scrollHeight;
  };
  const followLogs = async () => {
    following = true;
    try {
      const res = await request('GET', `/api/v1/environments/${id}/logs?follow=true&tail=500&timestamps=true`, undefined, { Accept: 'text/event-stream' }, abort.signal);
      await stream(res, (ev) => appendLog(JSON.parse(ev.data)));
    } catch (e) {
      if (e.name !== 'AbortError') logs.append(el('span', { class: 'err', text: e.message + '\n' }));
    }
  };
  const loadLogs = async () => {
    const r = await api('GET', `/api/v1/environments/${id}/logs?tail=500&timestamps=true`);
    logs.replaceChildren();
    (r.logs || []).forEach(appendLog);
  };

  const files = fileBrowser(id);
  const term = terminal(id);
  const ports = portList(id);
  main.append(
    el('h1', {}, el('a', { href: '#/environments', text: 'Environments' }), '/', title, status, el('span', { class: 'spacer' }), del),
    el('div', { class: 'card' }, info),
    el('h2', { text: 'Run a command' }), el('div', { class: 'card' }, execForm, el('p'), out),
    el('h2', { text: 'Background processes' }), procs.box,
    el('h2', { text: 'Terminal' }), term.box,
    el('h2', { text: 'Ports' }), ports.box,
    el('h2', { text: 'Files' }), files.box,
    el('h2', { text: 'Log' }), logs);

  const refresh = async () => {
    const e = await api('GET', `/api/v1/environments/${id}`);
    title.textContent = e.name || e.id;
    status.replaceChildren(badge(e.status));
    const rows = [
      ['ID', el('span', { class: 'mono', text: e.id })],
      ['Image', e.image],
      ['Runtime', (e.isolation && e.isolation.runtime_class) || 'runc'],
      ['Resources', e.resources ? `${e.resources.cpu || '-'} CPU · ${e.resources.memory || '-'} memory · ${e.resources.storage || '-'} storage` : ''],
      ['Use', e.metrics && (e.metrics.cpu_usage || e.metrics.memory_usage) ? `${e.metrics.cpu_usage} CPU · ${e.metrics.memory_usage} memory` : ''],
      ['Command', e.command && e.command.length ? el('code', { text: shellQuote(e.command) }) : ''],
      ['Created', when(e.created_at)],
      ['Expires', when(e.expires_at)],
      ['Ended', when(e.ended_at)],
      ['Reason', e.reason ? el('span', { id: 'env-reason', class: 'error', text: e.reason }) : ''],
      ['Labels', Object.entries(e.labels || {}).map(([k, v]) => k + '=' + v).join(', ')],
    ];
    info.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    const live = e.status === 'running' || e.status === 'paused';
    cmd.disabled = !live;
    del.hidden = ended(e.status);
    files.live(live);
    term.live(e.status === 'running');
    if (e.status === 'running') await procs.refresh();
    await ports.live(e.status === 'running');
    if (e.status === 'running' && !following) followLogs();
    else if (!live && !following) await loadLogs();
    return e;
  };
  const stop = poll(refresh, 2000);
  return () => { stop(); abort.abort(); term.close(); procs.close(); };
}

// processList shows environment id's background processes: each with its
// state, its output (followed while it runs) and a kill button. refresh
// reloads the list; close stops following.
function processList(id) {
  const base = `/api/v1/environments/${id}/processes`;
  const tbody = el('tbody', { id: 'procs' });
  const empty = el('p', { class: 'muted', text: 'None: tick "in the background" to start one from the command line above.' });
  const title = el('p', { class: 'mono', id: 'proc-title' });
  const output = el('pre', { id: 'proc-output', class: 'console', hidden: true });
  let following = null; // the AbortController of the output followed
  const show = async (p) => {
    if (following) following.abort();
    following = new AbortController();
    const signal = following.signal;
    title.textContent = `${p.pid}: ${shellQuote(p.command)}`;
    output.replaceChildren();
    output.hidden = false;
    output.dataset.pid = p.pid;
    try {
      const res = await request('GET', `${base}/${p.pid}/output?follow=true`, undefined, { Accept: 'text/event-stream' }, signal);
      await stream(res, (ev) => {
        const d = JSON.parse(ev.data);
        if (ev.event === 'stdout' || ev.event === 'stderr') output.append(el('span', { class: ev.event, text: d.data }));
        else if (ev.event === 'exit') output.append(el('span', { class: 'meta exit', text: `[${processEnd(d)}]\n` }));
        else if (ev.event === 'error') output.append(el('span', { class: 'err', text: errorMessage(d, {}) + '\n' }));
        output.scrollTop = output.scrollHeight;
      });
    } catch (e) {
      if (e.name !== 'AbortError') output.append(el('span', { class: 'err', text: e.message + '\n' }));
    }
  };
  let shown = '';
  const refresh = async () => {
    const { processes } = await api('GET', base);
    // The list is polled: rows are made again only when it changed, so a
    // button is not swapped for another under the pointer.
    const now = JSON.stringify(processes);
    if (now === shown) return;
    shown = now;
    empty.hidden = processes.length > 0;
    tbody.replaceChildren(...processes.map((p) => el('tr', { 'data-pid': p.pid },
      el('td', {}, el('code', { text: shellQuote(p.command) })),
      el('td', {}, badge(p.status), ' ', el('span', { class: 'muted', text: p.status === 'exited' ? processEnd(p) : '' })),
      el('td', {}, when(p.started_at)),
      el('td', {},
        el('button', { type: 'button', class: 'secondary output', onclick: () => show(p) }, 'Output'), ' ',
        p.status === 'running' ? el('button', {
          type: 'button', class: 'danger kill',
          onclick: (e) => busy(e.currentTarget, async () => { await api('POST', `${base}/${p.pid}/kill`); await refresh(); }),
        }, 'Kill') : ''))));
  };
  return {
    box: el('div', { class: 'card' }, empty, table(['Command', 'State', 'Started', ''], tbody), title, output),
    refresh,
    close() { if (following) following.abort(); },
  };
}

// portList shows the ports of environment id that Paddock's proxy serves,
// exposes more, and opens one in a new tab through a single-use sign-in
// URL (the tab gets a cookie for that port alone). live says whether the
// environment runs: the list loads once it does.
function portList(id) {
  const base = `/api/v1/environments/${id}/ports`;
  const tbody = el('tbody', { id: 'ports' });
  const number = el('input', { id: 'port-number', type: 'number', min: 1, max: 65535, placeholder: '8080', required: true, 'aria-label': 'Port' });
  const expose = el('button', { id: 'port-expose', type: 'submit', text: 'Expose' });
  let loaded = false;
  const open = (button, port) => busy(button, async () => {
    const { url } = await api('POST', `${base}/${port}/ticket`);
    window.open(url, '_blank', 'noopener');
  });
  const refresh = async () => {
    const { ports } = await api('GET', base);
    loaded = true;
    tbody.replaceChildren(...ports.map((p) => el('tr', { 'data-port': p.port },
      el('td', { class: 'mono', text: p.port }),
      el('td', {}, el('code', { text: p.url })),
      el('td', {}, el('button', { type: 'button', class: 'secondary open', onclick: (e) => open(e.currentTarget, p.port) }, 'Open')))));
  };
  const form = el('form', {
    class: 'row',
    onsubmit: (e) => {
      e.preventDefault();
      return busy(expose, async () => {
        await api('POST', base, { port: Number(number.value) });
        number.value = '';
        await refresh();
      });
    },
  }, number, expose);
  return {
    box: el('div', { class: 'card' },
      el('p', { class: 'muted', text: 'A server listening inside the environment, reached through Paddock: Open signs this browser in to that port alone.' }),
      form, table(['Port', 'URL', ''], tbody)),
    async live(running) {
      number.disabled = expose.disabled = !running;
      if (running && !loaded) await refresh();
    },
  };
}

// processEnd says how a background process ended.
function processEnd(p) {
  if (p.status === 'killed') return 'killed';
  if (p.timed_out) return 'timed out';
  if (p.oom_killed) return 'killed: out of memory';
  if (p.exit_code !== undefined) return `exit ${p.exit_code}`;
  return p.status;
}

// loadXterm loads xterm.js, its fit addon and its stylesheet, once. The
// page's policy lets in only style elements that carry its nonce, and
// xterm.js makes its own: from here on, each style element the page makes
// gets the nonce as it is made, before it is in the document.
let xtermLoaded = null;
function loadXterm() {
  if (xtermLoaded) return xtermLoaded;
  const nonce = document.querySelector('meta[name="style-nonce"]').content;
  const create = document.createElement;
  document.createElement = function (tag, options) {
    const e = create.call(this, tag, options);
    if (String(tag).toLowerCase() === 'style') e.setAttribute('nonce', nonce);
    return e;
  };
  const load = (tag, attrs, url) => new Promise((resolve, reject) => {
    document.head.append(el(tag, { ...attrs, onload: resolve, onerror: () => reject(new Error(`could not load ${url}`)) }));
  });
  const base = '/ui/vendor/xterm/';
  xtermLoaded = Promise.all([
    load('link', { rel: 'stylesheet', href: base + 'xterm.css' }, base + 'xterm.css'),
    load('script', { src: base + 'xterm.js' }, base + 'xterm.js'),
    load('script', { src: base + 'addon-fit.js' }, base + 'addon-fit.js'),
  ]).catch((e) => { xtermLoaded = null; throw e; });
  return xtermLoaded;
}

// terminal is a shell in environment id on a pseudo-terminal, over the
// attach WebSocket (a single-use ticket authenticates it, since a browser
// cannot send headers there). xterm.js draws it and reads the keys; the
// terminal follows the size of its box. live says whether the
// environment runs; close ends the shell (closing the socket kills it).
function terminal(id) {
  const screen = el('div', { id: 'terminal', class: 'terminal', hidden: true });
  const state = el('span', { id: 'term-state', class: 'muted' });
  const open = el('button', { id: 'term-open', type: 'button' }, 'Open a terminal');
  const end = el('button', { id: 'term-close', type: 'button', class: 'secondary', hidden: true, onclick: () => ws && ws.close() }, 'Close');
  let ws = null, term = null, fit = null, resized = null;
  const send = (m) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); };
  const start = async () => {
    await loadXterm();
    screen.hidden = false;
    if (!term) {
      term = new window.Terminal({
        cursorBlink: true, scrollback: 5000, fontSize: 13,
        fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
        theme: { background: '#10151b', foreground: '#d8dee6' },
      });
      fit = new window.FitAddon.FitAddon();
      term.loadAddon(fit);
      term.open(screen);
      term.onData((data) => send({ type: 'stdin', data }));
      term.onResize(({ cols, rows }) => {
        Object.assign(screen.dataset, { cols, rows });
        send({ type: 'resize', cols, rows });
      });
      resized = new ResizeObserver(() => fit.fit());
      resized.observe(screen);
    } else {
      term.reset();
    }
    fit.fit();
    Object.assign(screen.dataset, { cols: term.cols, rows: term.rows });
    const { ticket } = await api('POST', `/api/v1/environments/${id}/attach-ticket`);
    const q = new URLSearchParams({ ticket, cols: term.cols, rows: term.rows });
    const sock = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/environments/${encodeURIComponent(id)}/attach?${q}`);
    ws = sock;
    let exit = null;
    state.textContent = 'connecting…';
    delete state.dataset.exit;
    sock.onopen = () => {
      state.textContent = 'connected';
      open.hidden = true;
      end.hidden = false;
      term.focus();
    };
    sock.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === 'stdout' || m.type === 'stderr') term.write(m.data);
      else if (m.type === 'exit') exit = m.exit_code;
      else if (m.type === 'error') term.write(`\r\n[${m.data}]\r\n`);
    };
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      open.hidden = false;
      end.hidden = true;
      open.textContent = 'Open a new terminal';
      if (exit !== null) {
        state.textContent = `exited with code ${exit}`;
        state.dataset.exit = exit;
      } else {
        state.textContent = ev.code === 1000 ? 'closed' : 'disconnected' + (ev.reason ? ': ' + ev.reason : '');
      }
    };
  };
  open.addEventListener('click', () => busy(open, start));
  return {
    box: el('div', { class: 'card' }, el('div', { class: 'row' }, open, end, state), screen),
    live(running) {
      open.disabled = !running;
      if (!running && ws) ws.close();
    },
    close() {
      if (ws) ws.close();
      if (resized) resized.disconnect();
      if (term) term.dispose();
    },
  };
}

// fileBrowser lists a directory of environment id, goes into its
// subdirectories, downloads its files and uploads into it. live tells it
// whether the environment runs: it lists once it does.
function fileBrowser(id) {
  const base = `/api/v1/environments/${id}/files`;
  let dir = '';
  let shown = false;
  const where = el('code', { id: 'files-path' });
  const tbody = el('tbody');
  const upload = el('input', { id: 'file-upload', type: 'file', multiple: true, 'aria-label': 'Upload files' });
  const note = el('span', { class: 'muted' });
  const list = async (path) => {
    const r = await api('GET', `${base}/list?path=${encodeURIComponent(path)}`);
    dir = r.path;
    where.textContent = dir;
    const parent = dir === '/' ? null : dir.replace(/\/[^/]*$/, '') || '/';
    const rows = (r.files || []).sort((a, b) => (b.type === 'dir') - (a.type === 'dir') || a.name.localeCompare(b.name));
    tbody.replaceChildren(
      parent ? el('tr', {}, el('td', {}, el('a', { href: '#', onclick: (e) => { e.preventDefault(); list(parent).catch(flash); }, text: '..' })), el('td'), el('td'), el('td')) : '',
      ...rows.map((f) => el('tr', { 'data-name': f.name, 'data-type': f.type },
        el('td', {}, f.type === 'dir'
          ? el('a', { href: '#', class: 'dir', onclick: (e) => { e.preventDefault(); list(f.path).catch(flash); }, text: f.name + '/' })
          : f.type === 'file'
            ? el('a', { href: '#', class: 'file', title: 'Download', onclick: (e) => { e.preventDefault(); download(f).catch(flash); }, text: f.name })
            : el('span', { text: f.name + (f.link_target ? ' → ' + f.link_target : '') })),
        el('td', { class: 'mono', text: f.mode }),
        el('td', { text: f.type === 'dir' ? '' : bytes(f.size) }),
        el('td', {}, when(f.mtime)))));
  };
  const download = async (f) => {
    const res = await request('GET', `${base}?path=${encodeURIComponent(f.path)}`, undefined, { Accept: '*/*' });
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: f.name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };
  upload.addEventListener('change', async () => {
    const target = dir;
    try {
      for (const file of upload.files) {
        note.textContent = 'Uploading ' + file.name + '…';
        const path = (target === '/' ? '' : target) + '/' + file.name;
        try {
          await request('PUT', `${base}?path=${encodeURIComponent(path)}`, file);
        } catch (e) {
          throw new APIError(e.status, file.name + ': ' + e.message);
        }
      }
      note.textContent = 'Uploaded.';
      await list(target);
    } catch (e) {
      note.textContent = '';
      flash(e);
    } finally {
      upload.value = '';
    }
  });
  const box = el('div', { class: 'card' },
    el('div', { class: 'row' }, where, el('span', { class: 'spacer' }), note, el('label', {}, 'Upload here', upload)),
    el('p'),
    table(['Name', 'Mode', 'Size', 'Modified'], tbody, { id: 'files' }));
  box.hidden = true;
  return {
    box,
    live(running) {
      box.hidden = !running;
      if (running && !shown) {
        shown = true;
        list('.').catch(flash); // the working directory
      }
    },
  };
}

function agentsView(main) {
  const tbody = el('tbody');
  const pages = pager('agents', 50, () => refresh());
  const form = newAgentForm();
  form.hidden = true;
  main.append(
    el('h1', {}, 'Agents', el('span', { class: 'spacer' }), el('button', { id: 'agent-new', type: 'button', onclick: () => { form.hidden = !form.hidden; } }, 'New agent')),
    form,
    table(['Name', 'Model', 'Tools', 'Created'], tbody),
    pages.el);
  const refresh = async () => {
    const r = await api('GET', `/v1/agents?limit=${pages.size}&offset=${pages.offset}`);
    const items = r.items || [];
    tbody.replaceChildren(...items.map((a) => el('tr', { 'data-id': a.id },
      el('td', {}, el('a', { href: '#/agents/' + a.id, text: a.name }), a.description ? el('div', { class: 'muted', text: a.description }) : null),
      el('td', { class: 'mono', text: a.model }),
      el('td', { text: (a.tools || []).join(', ') || 'none' }),
      el('td', {}, when(a.created_at)))));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No agents yet.' })));
    pages.show(items.length, r.total ?? items.length);
  };
  return poll(refresh, 10000);
}

function newAgentForm() {
  const name = el('input', { id: 'agent-name', required: true, placeholder: 'coder' });
  const model = el('select', { id: 'agent-model' }, el('option', { value: '', text: 'server default' }));
  const prompt = el('textarea', { id: 'agent-prompt', placeholder: 'You are a careful software engineer…' });
  const description = el('input', { id: 'agent-description' });
  api('GET', '/api/v1/agent/config').then((c) => {
    for (const m of c.models || []) {
      model.append(el('option', { value: m.model, text: m.name && m.name !== m.model ? `${m.name} (${m.model})` : m.model, disabled: m.available === false }));
    }
  }).catch(() => {});
  const submit = el('button', { id: 'agent-create', type: 'submit', text: 'Create' });
  const err = el('p', { class: 'error', role: 'alert' });
  return el('form', {
    class: 'grid card',
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      await busy(submit, async () => {
        const a = await api('POST', '/v1/agents', { name: name.value, model: model.value || undefined, system_prompt: prompt.value, description: description.value || undefined });
        location.hash = '#/agents/' + a.id;
      }, (e2) => { err.textContent = e2.message; });
    },
  }, el('label', {}, 'Name', name), el('label', {}, 'Model', model), el('label', { class: 'wide' }, 'Description', description),
  el('label', { class: 'wide' }, 'System prompt', prompt), el('div', {}, submit), el('div', { class: 'wide' }, err));
}

function agentView(main, id) {
  const title = el('span', { text: id });
  const info = el('dl');
  const tbody = el('tbody');
  const pages = pager('sessions', 50, () => refresh());
  const archive = armed('Archive', async () => { await api('DELETE', `/v1/agents/${id}`); location.hash = '#/agents'; });
  const start = el('button', {
    id: 'session-new', type: 'button',
    onclick: async () => {
      try {
        const s = await api('POST', `/v1/agents/${id}/sessions`, {});
        location.hash = `#/agents/${id}/sessions/${s.id}`;
      } catch (e) { flash(e); }
    },
  }, 'New session');
  main.append(
    el('h1', {}, el('a', { href: '#/agents', text: 'Agents' }), '/', title, el('span', { class: 'spacer' }), start, archive),
    el('div', { class: 'card' }, info),
    el('h2', { text: 'Sessions' }),
    table(['Title', 'Status', 'Environment', 'Updated'], tbody),
    pages.el);
  const refresh = async () => {
    const [a, ss] = await Promise.all([api('GET', `/v1/agents/${id}`), api('GET', `/v1/agents/${id}/sessions?limit=${pages.size}&offset=${pages.offset}`)]);
    title.textContent = a.name;
    const rows = [['ID', el('span', { class: 'mono', text: a.id })], ['Model', a.model], ['Description', a.description],
      ['Tools', (a.tools || []).join(', ') || 'none'], ['MCP servers', (a.mcp_servers || []).join(', ')],
      ['System prompt', a.system_prompt ? el('pre', { text: a.system_prompt }) : ''], ['Status', a.status]];
    info.replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    archive.hidden = !!a.archived_at;
    start.hidden = !!a.archived_at;
    const items = ss.items || [];
    tbody.replaceChildren(...items.map((s) => el('tr', { 'data-id': s.id },
      el('td', {}, el('a', { href: `#/agents/${id}/sessions/${s.id}`, text: s.title || s.id })),
      el('td', {}, badge(s.status)),
      el('td', {}, s.environment_id ? el('a', { class: 'mono', href: '#/environments/' + s.environment_id, text: s.environment_id }) : ''),
      el('td', {}, when(s.updated_at)))));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'No sessions yet.' })));
    pages.show(items.length, ss.total ?? items.length);
  };
  return poll(refresh, 5000);
}

// chatView is a session: its history and live progress both come from the
// session's events, replayed from the first and then followed, so the page
// shows exactly what the store holds, and a reconnect picks up where the
// stream broke (Last-Event-ID).
function chatView(main, agentID, sid) {
  const base = `/v1/agents/${agentID}/sessions/${sid}`;
  const log = el('div', { id: 'chat-log', class: 'chat' });
  const status = el('span', { id: 'session-status' });
  const input = el('textarea', { id: 'chat-input', placeholder: 'Message the agent (Enter sends, Shift+Enter for a new line)', 'aria-label': 'Message' });
  const send = el('button', { id: 'chat-send', type: 'submit', text: 'Send' });
  const cancel = el('button', {
    id: 'chat-cancel', type: 'button', class: 'secondary', hidden: true,
    onclick: () => api('POST', base + '/cancel').catch(flash),
  }, 'Cancel');
  const title = el('span', { text: sid });
  const form = el('form', {
    class: 'composer',
    onsubmit: async (e) => {
      e.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      await busy(send, async () => {
        await api('POST', base + '/messages', { message: { role: 'user', content: [{ type: 'text', text }] } });
        input.value = '';
      });
      input.focus();
    },
  }, input, send, cancel);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  const agentLink = el('a', { href: '#/agents/' + agentID, text: 'Agent' });
  main.append(el('h1', {}, agentLink, '/', title, status), log, form);
  api('GET', '/v1/agents/' + agentID).then((a) => { agentLink.textContent = a.name; }).catch(() => {});

  api('GET', base).then((s) => {
    title.textContent = s.title || s.id;
    setStatus(s.status);
  }).catch(flash);

  function setStatus(s) {
    status.replaceChildren(badge(s));
    cancel.hidden = s !== 'running';
  }

  // live is the assistant message being streamed, per run and step.
  let live = null;
  const tools = new Map();
  const scroll = () => window.scrollTo(0, document.body.scrollHeight);

  const message = (role) => {
    const text = el('div', { class: 'text' });
    const m = el('div', { class: 'msg ' + role, 'data-role': role }, el('div', { class: 'role', text: role }), text);
    log.append(m);
    return { m, text };
  };
  const textOf = (msg) => (msg.content || []).filter((p) => p.type === 'text').map((p) => p.text).join('\n');

  const onEvent = (ev) => {
    const e = JSON.parse(ev.data);
    const d = e.data || {};
    switch (e.type) {
      case 'message.user': {
        const { text } = message('user');
        text.textContent = textOf(d);
        break;
      }
      case 'message.delta':
        if (!live || live.run !== e.run_id || live.step !== d.step) {
          live = { run: e.run_id, step: d.step, ...message('assistant') };
        }
        live.text.textContent += d.delta;
        break;
      case 'message.assistant': {
        const t = textOf(d);
        if (!live || live.run !== e.run_id) live = { run: e.run_id, ...message('assistant') };
        live.text.textContent = t;
        if (!t) live.text.hidden = true;
        live.m.dataset.final = 'true';
        live = { run: e.run_id, step: -1, m: live.m, text: live.text, done: true };
        break;
      }
      case 'tool.started': {
        const out = el('pre', { class: 'console output' });
        const box = el('div', { class: 'tool', 'data-tool': d.name },
          el('div', {}, el('span', { class: 'name', text: d.name }), ' ', el('code', { text: d.arguments ? JSON.stringify(d.arguments) : '' })), out);
        out.hidden = true;
        (live && live.m ? live.m : message('assistant').m).append(box);
        tools.set(d.tool_call_id, { box, out });
        break;
      }
      case 'tool.output': {
        const t = tools.get(d.tool_call_id);
        if (t) { t.out.hidden = false; t.out.append(el('span', { class: d.stream === 'stderr' ? 'stderr' : '', text: d.output })); }
        break;
      }
      case 'tool.completed': {
        const t = tools.get(d.tool_call_id);
        if (t) {
          t.out.hidden = false;
          t.out.replaceChildren(el('span', { class: 'result', text: d.result ?? '' }));
          t.box.dataset.done = 'true';
          if (d.is_error) t.box.classList.add('error');
        }
        break;
      }
      case 'run.failed':
        log.append(el('p', { class: 'error run-error', text: 'The run failed: ' + (d.error || 'unknown error') }));
        live = null;
        break;
      case 'run.cancelled':
        log.append(el('p', { class: 'muted', text: 'Cancelled.' }));
        live = null;
        break;
      case 'run.completed':
        if (d.note) log.append(el('p', { class: 'muted', text: d.note }));
        live = null;
        break;
      case 'session.status':
        setStatus(d.status);
        break;
      case 'context.compacted':
        log.append(el('p', { class: 'muted', text: `Older messages were summarized for the model (${d.summarized_messages}).` }));
        break;
      default:
    }
    scroll();
  };

  const abort = new AbortController();
  let last = '';
  (async () => {
    for (let delay = 1000; !abort.signal.aborted; delay = Math.min(delay * 2, 15000)) {
      try {
        const headers = { Accept: 'text/event-stream' };
        if (last) headers['Last-Event-ID'] = last;
        const res = await request('GET', base + '/events', undefined, headers, abort.signal);
        delay = 1000;
        await stream(res, (ev) => { if (ev.id) last = ev.id; onEvent(ev); });
      } catch (e) {
        if (e.name === 'AbortError' || (e.status && e.status < 500 && e.status !== 429)) {
          if (e.name !== 'AbortError') flash(e);
          return;
        }
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  })();
  return () => abort.abort();
}

function imagesView(main) {
  const admin = user().role === 'admin';
  const tbody = el('tbody');
  const name = el('input', { id: 'image-name', required: true, placeholder: 'python:3.11-slim' });
  const pull = el('button', { id: 'image-pull', type: 'submit', text: 'Pull' });
  const note = el('p', { class: 'muted' });
  const form = el('form', {
    class: 'row card',
    onsubmit: async (e) => {
      e.preventDefault();
      note.textContent = 'Pulling ' + name.value + '…';
      await busy(pull, async () => {
        await api('POST', '/api/v1/images', { action: 'pull', name: name.value });
        note.textContent = 'Pulled ' + name.value + '.';
        name.value = '';
        await refresh();
      }, (e2) => { note.textContent = ''; flash(e2); });
    },
  }, el('label', {}, 'Pull an image', name), pull);
  main.append(el('h1', { text: 'Images' }), admin ? form : null, note,
    table(['Name', 'Digest', 'Size', 'Source', 'Added', ''], tbody));
  const refresh = async () => {
    const r = await api('GET', '/api/v1/images');
    const items = r.images || [];
    tbody.replaceChildren(...items.map((i) => el('tr', { 'data-name': i.name },
      el('td', { text: i.name }),
      el('td', { class: 'mono', title: i.digest, text: (i.digest || '').replace(/^sha256:/, '').slice(0, 12) }),
      el('td', { text: bytes(i.size) }),
      el('td', { text: i.source }),
      el('td', {}, when(i.created_at)),
      el('td', {}, admin ? armed('Remove', async () => { await api('DELETE', '/api/v1/images/' + i.name); await refresh(); }) : ''))));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No images.' })));
  };
  return poll(refresh, 15000);
}

function keysView(main) {
  const tbody = el('tbody');
  const description = el('input', { id: 'key-description', placeholder: 'CI pipeline', maxlength: 500 });
  const days = el('input', { id: 'key-days', type: 'number', min: 1, max: 36500, placeholder: 'never' });
  const create = el('button', { id: 'key-create', type: 'submit', text: 'Create key' });
  const secret = el('div');
  const form = cardForm(create, async () => {
    const k = await api('POST', '/api/v1/api-keys', { description: description.value, expires_in: days.value ? Number(days.value) : undefined });
    secret.replaceChildren(el('div', { class: 'secret' },
      el('p', { text: 'Your new key. Copy it now: it is not shown again.' }),
      el('code', { id: 'key-secret', text: k.key })));
    description.value = '';
    days.value = '';
    await refresh();
  }, el('label', {}, 'Description', description), el('label', {}, 'Expires in (days)', days), el('div', {}, create));
  main.append(el('h1', { text: 'API keys' }), form, secret,
    table(['ID', 'Description', 'Created', 'Expires', 'Last used', ''], tbody),
    providerKeys(), codingAgents());
  const refresh = async () => {
    const r = await api('GET', '/api/v1/api-keys');
    const items = r.api_keys || [];
    tbody.replaceChildren(...items.map((k) => el('tr', { 'data-id': k.id },
      el('td', { class: 'mono', text: k.id }),
      el('td', { text: k.description }),
      el('td', {}, when(k.created_at)),
      el('td', {}, k.expires_at ? when(k.expires_at) : 'never'),
      el('td', {}, k.last_used_at ? when(k.last_used_at) : 'never'),
      el('td', {}, armed('Revoke', async () => { await api('DELETE', '/api/v1/api-keys/' + k.id); await refresh(); })))));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'muted', text: 'No API keys.' })));
  };
  return poll(refresh, 30000);
}

// providerKeys is the section of the user's own model provider keys:
// their agents call the provider with them instead of the server's key.
function providerKeys() {
  const tbody = el('tbody', { id: 'provider-keys' });
  const provider = el('select', { id: 'provider-name' }, ['openai', 'anthropic', 'google'].map((p) => el('option', { value: p, text: p })));
  const key = el('input', { id: 'provider-key', type: 'password', required: true, autocomplete: 'off', placeholder: 'sk-…' });
  const save = el('button', { id: 'provider-save', type: 'submit', text: 'Save key' });
  const refresh = async () => {
    const r = await api('GET', '/v1/provider-keys');
    const items = r.items || [];
    tbody.replaceChildren(...items.map((k) => el('tr', { 'data-provider': k.provider },
      el('td', { text: k.provider }),
      el('td', { class: 'mono', text: k.key_hint }),
      el('td', {}, when(k.updated_at)),
      el('td', {}, armed('Remove', async () => { await api('DELETE', '/v1/provider-keys/' + k.provider); await refresh(); })))));
    if (!items.length) tbody.append(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: "None: your agents use the server's keys." })));
  };
  const form = cardForm(save, async () => {
    await api('PUT', '/v1/provider-keys/' + provider.value, { api_key: key.value });
    key.value = '';
    await refresh();
  }, el('label', {}, 'Provider', provider), el('label', {}, 'API key', key), el('div', {}, save));
  refresh().catch(flash);
  return el('section', {},
    el('h2', { text: 'Model provider keys' }),
    el('p', { class: 'muted', text: "Your agents call a model's provider with your key when you set one, instead of the server's. Keys are stored encrypted and never shown again." }),
    form,
    table(['Provider', 'Key', 'Updated', ''], tbody));
}

// Claude Code's OAuth client, as the CLI signs in: the page it leads to
// shows "code#state" to paste back, the state being the PKCE verifier.
const CLAUDE_AUTHORIZE = 'https://claude.ai/oauth/authorize';
const CLAUDE_CLIENT = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
const CLAUDE_REDIRECT = 'https://console.anthropic.com/oauth/code/callback';

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// claudeAuthorizeURL makes a PKCE verifier and the sign-in address that
// goes with it.
async function claudeAuthorizeURL() {
  if (!crypto.subtle) throw new Error('Signing in to Claude needs this page over HTTPS (or on localhost).');
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const u = new URL(CLAUDE_AUTHORIZE);
  const params = {
    code: 'true', client_id: CLAUDE_CLIENT, response_type: 'code', redirect_uri: CLAUDE_REDIRECT,
    scope: 'org:create_api_key user:profile user:inference', code_challenge: challenge, code_challenge_method: 'S256', state: verifier,
  };
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

// codingAgents is the section of the user's coding agents, Codex and
// Claude Code: agents that name codex or claude-code among their MCP
// servers hand tasks to them, run in the session's environment.
function codingAgents() {
  const tools = {
    codex: { status: el('p', { id: 'codex-status', class: 'muted' }), actions: el('span', { class: 'row' }) },
    'claude-code': { status: el('p', { id: 'claude-code-status', class: 'muted' }), actions: el('span', { class: 'row' }) },
  };
  const describe = (tool, s) => (tool === 'codex'
    ? `Configured with key ${s.apikey}${s.model ? ', model ' + s.model : ''}${s.model_reasoning_effort ? ', ' + s.model_reasoning_effort + ' effort' : ''}${s.search ? ', web search' : ''}`
    : `Signed in${s.account ? ' as ' + s.account : ''}`) + (s.is_active ? '; on.' : '; off.');
  const refresh = async () => {
    for (const [tool, t] of Object.entries(tools)) {
      const path = '/api/v1/agent/user-settings/mcp/' + tool;
      let s = null;
      try { s = await api('GET', path); } catch (e) { if (e.status !== 404) throw e; }
      t.status.textContent = s ? describe(tool, s) : 'Not configured.';
      if (!s) { t.actions.replaceChildren(); continue; }
      const toggle = el('button', { id: tool + '-toggle', type: 'button', class: 'secondary', text: s.is_active ? 'Turn off' : 'Turn on' });
      toggle.addEventListener('click', () => busy(toggle, async () => { await api('PATCH', path + '/toggle'); await refresh(); }));
      t.actions.replaceChildren(toggle, armed('Remove', async () => { await api('DELETE', path); await refresh(); }, { id: tool + '-remove' }));
    }
  };

  const apikey = el('input', { id: 'codex-key', type: 'password', autocomplete: 'off', placeholder: 'sk-… (kept when left empty)' });
  const model = el('input', { id: 'codex-model', placeholder: "Codex's default" });
  const effort = el('select', { id: 'codex-effort' }, ['', 'minimal', 'low', 'medium', 'high'].map((v) => el('option', { value: v, text: v || 'default' })));
  const search = el('input', { id: 'codex-search', type: 'checkbox' });
  const saveCodex = el('button', { id: 'codex-save', type: 'submit', text: 'Save' });
  const codexForm = cardForm(saveCodex, async () => {
    await api('POST', '/api/v1/agent/user-settings/mcp/codex', {
      apikey: apikey.value || undefined, model: model.value || undefined, model_reasoning_effort: effort.value || undefined, search: search.checked,
    });
    apikey.value = '';
    await refresh();
  }, el('label', {}, 'OpenAI API key', apikey), el('label', {}, 'Model', model), el('label', {}, 'Reasoning effort', effort),
  el('label', {}, el('span', {}, search, ' Let Codex search the web')), el('div', {}, saveCodex));

  const link = el('a', { id: 'claude-link', target: '_blank', rel: 'noopener noreferrer', hidden: true, text: "Claude's sign-in page" });
  const signIn = el('button', { id: 'claude-signin', type: 'button', class: 'secondary', text: 'Sign in to Claude' });
  signIn.addEventListener('click', () => busy(signIn, async () => { link.href = await claudeAuthorizeURL(); link.hidden = false; }));
  const code = el('input', { id: 'claude-code-input', autocomplete: 'off', required: true, placeholder: 'the code it shows: code#…' });
  const saveClaude = el('button', { id: 'claude-save', type: 'submit', text: 'Connect' });
  const claudeForm = cardForm(saveClaude, async () => {
    await api('POST', '/api/v1/agent/user-settings/mcp/claude-code', { authorization_code: code.value.trim() });
    code.value = '';
    await refresh();
  }, el('div', { class: 'wide row' }, signIn, link), el('label', { class: 'wide' }, 'Authorization code', code), el('div', {}, saveClaude));
  refresh().catch(flash);
  return el('section', { id: 'coding-agents' },
    el('h2', { text: 'Coding agents' }),
    el('p', { class: 'muted', text: 'Agents that name codex or claude-code among their MCP servers hand tasks to them; they run in the session\'s environment, whose image must have them (npm install -g @openai/codex, @anthropic-ai/claude-code).' }),
    el('h3', { text: 'Codex' }), tools.codex.status, tools.codex.actions, codexForm,
    el('h3', { text: 'Claude Code' }), tools['claude-code'].status, tools['claude-code'].actions,
    el('p', { class: 'muted', text: 'Sign in to Claude, authorize Claude Code, and paste the code the page shows.' }), claudeForm);
}

// usersView is the admins' list of users: create one, change a role,
// delete (never the last admin: the server refuses).
function usersView(main) {
  const tbody = el('tbody');
  const username = el('input', { id: 'user-name', required: true, placeholder: 'carol' });
  const password = el('input', { id: 'user-password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const email = el('input', { id: 'user-email', type: 'email', placeholder: 'carol@example.com' });
  const role = el('select', { id: 'user-role' }, el('option', { value: 'user', text: 'user' }), el('option', { value: 'admin', text: 'admin' }));
  const create = el('button', { id: 'user-create', type: 'submit', text: 'Create user' });
  const form = cardForm(create, async () => {
    await api('POST', '/api/v1/admin/sys/users', { username: username.value, password: password.value, email: email.value || undefined, role: role.value });
    username.value = password.value = email.value = '';
    await refresh();
  }, el('label', {}, 'Username', username), el('label', {}, 'Password (8 or more characters)', password), el('label', {}, 'Email', email),
  el('label', {}, 'Role', role), el('div', {}, create));
  const pages = pager('users', 50, () => refresh());
  main.append(el('h1', { text: 'Users' }), form,
    table(['Username', 'Email', 'Role', 'Created', ''], tbody), pages.el);
  const refresh = async () => {
    const r = await api('GET', `/api/v1/admin/sys/users?size=${pages.size}&page=${pages.offset / pages.size + 1}`);
    tbody.replaceChildren(...(r.items || []).map((u) => {
      const pick = el('select', { 'aria-label': 'Role of ' + u.username },
        ['user', 'admin'].map((v) => el('option', { value: v, text: v, selected: v === u.role })));
      pick.addEventListener('change', async () => {
        try {
          await api('PUT', '/api/v1/admin/sys/users/' + u.id, { role: pick.value });
        } catch (e) {
          pick.value = u.role;
          flash(e);
        }
      });
      return el('tr', { 'data-username': u.username },
        el('td', {}, u.username, u.nickname ? el('span', { class: 'muted', text: ' (' + u.nickname + ')' }) : null),
        el('td', { text: u.email }),
        el('td', {}, pick),
        el('td', {}, when(u.created_at)),
        el('td', {}, u.username === user().username ? '' : armed('Delete', async () => { await api('DELETE', '/api/v1/admin/sys/users/' + u.id); await refresh(); })));
    }));
    pages.show((r.items || []).length, r.total ?? 0);
  };
  return poll(refresh, 30000);
}

// ---- router ----

const routes = [
  [/^#\/login$/, loginView, 'login'],
  [/^#\/environments$/, environmentsView, 'environments'],
  [/^#\/environments\/([\w-]+)$/, environmentView, 'environments'],
  [/^#\/agents$/, agentsView, 'agents'],
  [/^#\/agents\/([\w-]+)$/, agentView, 'agents'],
  [/^#\/agents\/([\w-]+)\/sessions\/([\w-]+)$/, chatView, 'agents'],
  [/^#\/images$/, imagesView, 'images'],
  [/^#\/keys$/, keysView, 'keys'],
  [/^#\/users$/, usersView, 'users'],
];

let cleanup = null;

function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  let hash = location.hash;
  if (!token() && hash !== '#/login') { location.hash = '#/login'; return; }
  if (!hash || hash === '#' || hash === '#/') { location.hash = '#/environments'; return; }
  const main = document.getElementById('view');
  main.replaceChildren();
  const signedIn = !!token();
  document.getElementById('top').hidden = !signedIn;
  if (signedIn) {
    const u = user();
    document.getElementById('who').textContent = u.username ? `${u.username} (${u.role})` : '';
    document.getElementById('nav-users').hidden = u.role !== 'admin';
  }
  for (const [re, view, nav] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
    cleanup = view(main, ...m.slice(1).map(decodeURIComponent)) || null;
    return;
  }
  main.append(el('h1', { text: 'Not found' }), el('p', {}, 'There is no page at ', el('code', { text: hash }), '. ', el('a', { href: '#/environments', text: 'Environments' })));
}

window.addEventListener('hashchange', render);
document.getElementById('signout').addEventListener('click', () => signOut('Signed out.'));
render();
