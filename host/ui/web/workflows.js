// The workflow list: a visibility query, status filters with their counts, server-side
// paging. The address holds the query, the status and the page token.

import { get, nsPath } from './api.js';
import { errorBox, h, link, show } from './dom.js';
import { STATUSES, between, decodePayloads, shortId, statusBadge, time } from './format.js';

const PAGE_SIZE = 50;

/** The query the list runs: the status filter and the user's query, both. */
export function combined(query, status) {
  const parts = [];
  if (status) parts.push(`ExecutionStatus="${status}"`);
  if (query.trim()) parts.push(status ? `(${query.trim()})` : query.trim());
  return parts.join(' AND ');
}

export async function workflowsView(el, { ns }, params, { navigate, stale }) {
  const query = params.get('query') || '';
  const status = params.get('status') || '';
  const pageToken = params.get('page') || '';
  const tokens = (params.get('back') || '').split(',').filter(Boolean);
  const base = `/namespaces/${encodeURIComponent(ns)}/workflows`;
  const to = (q, s, page, back) => {
    const u = new URLSearchParams();
    if (q) u.set('query', q);
    if (s) u.set('status', s);
    if (page) u.set('page', page);
    if (back && back.length) u.set('back', back.join(','));
    const qs = u.toString();
    return qs ? `${base}?${qs}` : base;
  };

  const input = h('input', {
    class: 'query', type: 'search', name: 'query', value: query, 'aria-label': 'List filter query',
    placeholder: 'WorkflowType = "Greet" AND StartTime > "2026-01-01T00:00:00Z"', spellcheck: 'false',
  });
  const form = h('form', {
    class: 'toolbar', role: 'search',
    onsubmit: (ev) => { ev.preventDefault(); navigate(to(input.value, status)); },
  }, input, h('button', { type: 'submit', class: 'primary' }, 'Search'),
  query ? h('button', { type: 'button', onclick: () => navigate(to('', status)) }, 'Clear') : null);

  const counts = h('div', { class: 'filters', role: 'group', 'aria-label': 'Filter by status' });
  const total = h('span', { class: 'muted' });
  const list = h('div', {}, h('p', { class: 'loading' }, 'Loading…'));
  show(el, h('h1', {}, 'Workflows ', total), form, counts, list);

  const filterButton = (label, value, n) => h('button', {
    type: 'button', 'aria-pressed': String(status === value),
    onclick: () => navigate(to(query, value)),
  }, label, n === undefined ? null : h('span', { class: 'n' }, n.toLocaleString()));

  // Counts by status (for the user's query, all statuses) beside the page of runs.
  const countsLoaded = get(`${nsPath(ns)}/workflow-count`, {
    query: `${query.trim() ? `${query.trim()} ` : ''}GROUP BY ExecutionStatus`,
  }).then((reply) => {
    if (stale()) return;
    const byStatus = {};
    for (const g of reply.groups || []) {
      const v = decodePayloads((g.groupValues || [])[0]);
      byStatus[typeof v === 'string' ? v : JSON.stringify(v)] = Number(g.count || 0);
    }
    const all = Number(reply.count || 0);
    show(counts, filterButton('All', '', all),
      STATUSES.map(([label, value]) => filterButton(label, value, byStatus[value] || 0)));
    total.textContent = `· ${(status ? byStatus[status] || 0 : all).toLocaleString()}`;
  }).catch((e) => {
    if (stale()) return;
    show(counts, filterButton('All', ''), STATUSES.map(([label, value]) => filterButton(label, value)));
    if (e.status !== 401 && e.status !== 403) counts.append(h('span', { class: 'muted' }, ` counts: ${e.message}`));
  });

  let reply;
  try {
    reply = await get(`${nsPath(ns)}/workflows`, {
      query: combined(query, status), pageSize: PAGE_SIZE, nextPageToken: pageToken,
    });
  } catch (e) {
    show(list, errorBox(e));
    await countsLoaded;
    return;
  }
  if (stale()) return;
  const runs = reply.executions || [];
  const rows = runs.map((r) => {
    const id = r.execution.workflowId;
    const run = r.execution.runId;
    return h('tr', {},
      h('td', {}, statusBadge(r.status)),
      h('td', { class: 'mono' }, link(`${base}/${encodeURIComponent(id)}/${encodeURIComponent(run)}`, id)),
      h('td', { class: 'mono', title: run }, shortId(run)),
      h('td', {}, (r.type || {}).name || ''),
      h('td', {}, time(r.startTime)),
      h('td', {}, time(r.closeTime)),
      h('td', {}, between(r.startTime, r.closeTime)),
      h('td', {}, r.taskQueue ? link(`/namespaces/${encodeURIComponent(ns)}/task-queues/${encodeURIComponent(r.taskQueue)}`, r.taskQueue) : ''));
  });
  const pager = h('div', { class: 'pager' },
    h('button', {
      type: 'button', disabled: !pageToken,
      onclick: () => navigate(to(query, status, tokens[tokens.length - 1] || '', tokens.slice(0, -1))),
    }, '← Newer'),
    h('button', {
      type: 'button', disabled: !reply.nextPageToken,
      onclick: () => navigate(to(query, status, reply.nextPageToken, pageToken ? [...tokens, pageToken] : tokens)),
    }, 'Older →'));
  show(list, rows.length
    ? [h('table', { 'aria-label': 'Workflows' },
      h('thead', {}, h('tr', {}, ['Status', 'Workflow ID', 'Run ID', 'Type', 'Started', 'Closed', 'Duration', 'Task queue'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)), pager]
    : h('p', { class: 'empty' }, query || status ? 'No workflows match.' : 'No workflows yet.'));
  await countsLoaded;
}
