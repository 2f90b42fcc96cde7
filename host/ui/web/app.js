// The app: reads the address, draws the view it names, and follows links without a reload
// (the address always says what is shown, so it can be shared or reloaded).

import { get, onRefused, setToken, token } from './api.js';
import { errorBox, h, show } from './dom.js';
import { namespacesView } from './namespaces.js';
import { workflowsView } from './workflows.js';
import { workflowView } from './workflow.js';
import { taskQueueView } from './task_queue.js';
import { schedulesView, scheduleView } from './schedules.js';

const main = document.getElementById('main');
const picker = document.getElementById('namespace');
let namespace = 'default';

/** The views, each a pattern over the path's segments (decoded) and what draws it. */
const ROUTES = [
  [['namespaces'], () => namespacesView],
  [['namespaces', ':ns', 'workflows'], () => workflowsView],
  [['namespaces', ':ns', 'workflows', ':id', ':run'], () => workflowView],
  [['namespaces', ':ns', 'task-queues', ':queue'], () => taskQueueView],
  [['namespaces', ':ns', 'schedules'], () => schedulesView],
  [['namespaces', ':ns', 'schedules', ':id'], () => scheduleView],
];

function match(path) {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  for (const [pattern, view] of ROUTES) {
    if (pattern.length !== parts.length) continue;
    const params = {};
    const ok = pattern.every((p, i) => {
      if (p.startsWith(':')) params[p.slice(1)] = parts[i];
      return p.startsWith(':') || p === parts[i];
    });
    if (ok) return { view: view(), params };
  }
  return null;
}

/** Goes to `href` (a path with its query), adding it to the browser's history. */
export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  render();
}

let drawing = 0;

async function render() {
  const { pathname, search } = location;
  if (pathname === '/' || pathname === '') {
    navigate(`/namespaces/${encodeURIComponent(namespace)}/workflows`, true);
    return;
  }
  const found = match(pathname);
  const draw = ++drawing;
  if (found && found.params.ns) setNamespace(found.params.ns);
  markNav(pathname);
  if (!found) {
    show(main, h('h1', {}, 'Not found'), h('p', {}, 'Nothing is shown at ', h('code', {}, pathname), '.'));
    return;
  }
  const query = new URLSearchParams(search);
  // A view draws into its own element, shown once it is this render's.
  const el = h('div', { class: 'view' });
  show(main, el);
  try {
    await found.view(el, found.params, query, { navigate, stale: () => draw !== drawing });
  } catch (e) {
    if (draw === drawing) show(el, errorBox(e));
  }
}

function setNamespace(ns) {
  namespace = ns;
  if (![...picker.options].some((o) => o.value === ns)) picker.append(h('option', { value: ns }, ns));
  picker.value = ns;
  document.getElementById('nav-workflows').href = `/namespaces/${encodeURIComponent(ns)}/workflows`;
  document.getElementById('nav-schedules').href = `/namespaces/${encodeURIComponent(ns)}/schedules`;
}

function markNav(pathname) {
  for (const a of document.querySelectorAll('.bar nav a')) {
    const target = new URL(a.href).pathname;
    // The namespaces list is its own page only; the other sections own what lies below them.
    const here = pathname === target || (a.id !== 'nav-namespaces' && pathname.startsWith(`${target}/`));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function loadNamespaces() {
  try {
    const reply = await get('/api/v1/namespaces', { pageSize: 1000 }, true);
    const names = (reply.namespaces || []).map((n) => n.namespaceInfo.name).sort();
    picker.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
    setNamespace(namespace);
  } catch {
    setNamespace(namespace); // the list may need a sign-in; the view says so
  }
}

function signInLabel() {
  document.getElementById('sign-in').textContent = token() ? 'Signed in' : 'Sign in';
}

function askToken() {
  const dialog = document.getElementById('token-dialog');
  const input = document.getElementById('token-input');
  input.value = '';
  dialog.showModal();
  input.focus();
}

document.getElementById('token-dialog').addEventListener('close', (ev) => {
  const value = ev.target.returnValue;
  if (value === 'save') setToken(document.getElementById('token-input').value);
  if (value === 'clear') setToken('');
  document.getElementById('token-input').value = '';
  signInLabel();
  if (value === 'save' || value === 'clear') {
    loadNamespaces();
    render();
  }
});
document.getElementById('sign-in').addEventListener('click', askToken);
onRefused(() => {
  if (document.querySelector('.notice.sign-in')) return;
  main.prepend(h('div', { class: 'notice sign-in', role: 'status' },
    token() ? 'The server refused your token for this. ' : 'This server needs you to sign in. ',
    h('button', { type: 'button', class: 'primary', onclick: askToken }, 'Sign in')));
});

picker.addEventListener('change', () => navigate(`/namespaces/${encodeURIComponent(picker.value)}/workflows`));

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-nav]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
  main.focus({ preventScroll: true });
});
window.addEventListener('popstate', render);

signInLabel();
loadNamespaces();
render();
