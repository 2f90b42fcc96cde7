// Schedules: the list and one schedule's spec, state and recent actions.

import { get, nsPath, seg } from './api.js';
import { h, link, show } from './dom.js';
import { durationMs, jsonBlock, span, time } from './format.js';

function specText(spec) {
  if (!spec) return '';
  const parts = [];
  for (const c of spec.cronString || []) parts.push(`cron ${c}`);
  for (const i of spec.interval || []) parts.push(`every ${span(durationMs(i.interval))}${i.phase ? ` (offset ${span(durationMs(i.phase))})` : ''}`);
  if ((spec.calendar || []).length || (spec.structuredCalendar || []).length) parts.push('calendar');
  return parts.join(', ');
}

export async function schedulesView(el, { ns }, params, { navigate }) {
  const nsBase = `/namespaces/${encodeURIComponent(ns)}`;
  show(el, h('h1', {}, 'Schedules'), h('p', { class: 'loading' }, 'Loading…'));
  const reply = await get(`${nsPath(ns)}/schedules`, { maximumPageSize: 100, nextPageToken: params.get('page') || '' });
  const rows = (reply.schedules || []).map((s) => {
    const info = s.info || {};
    return h('tr', {},
      h('td', { class: 'mono' }, link(`${nsBase}/schedules/${encodeURIComponent(s.scheduleId)}`, s.scheduleId)),
      h('td', {}, (info.workflowType || {}).name || ''),
      h('td', {}, specText(info.spec)),
      h('td', {}, info.paused ? 'Paused' : 'Active'),
      h('td', {}, (info.futureActionTimes || []).slice(0, 1).map(time)));
  });
  show(el, h('h1', {}, 'Schedules'),
    rows.length
      ? h('table', { 'aria-label': 'Schedules' },
        h('thead', {}, h('tr', {}, ['Schedule ID', 'Workflow type', 'Spec', 'State', 'Next run'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'empty' }, 'No schedules.'),
    reply.nextPageToken ? h('div', { class: 'pager' }, h('button', {
      type: 'button', onclick: () => navigate(`${nsBase}/schedules?page=${encodeURIComponent(reply.nextPageToken)}`),
    }, 'More →')) : null);
}

export async function scheduleView(el, { ns, id }) {
  const nsBase = `/namespaces/${encodeURIComponent(ns)}`;
  show(el, h('p', { class: 'loading' }, 'Loading…'));
  const s = await get(`${nsPath(ns)}/schedules/${seg(id)}`);
  const schedule = s.schedule || {};
  const info = s.info || {};
  const state = schedule.state || {};
  const recent = (info.recentActions || []).slice().reverse();
  show(el,
    h('div', { class: 'crumbs' }, link(`${nsBase}/schedules`, 'Schedules'), ' / ', ns),
    h('h1', {}, h('span', { class: 'mono' }, id), h('span', { class: `status ${state.paused ? 'canceled' : 'running'}` }, state.paused ? 'Paused' : 'Active')),
    h('dl', { class: 'summary panel' },
      h('div', {}, h('dt', {}, 'Spec'), h('dd', {}, specText(schedule.spec) || '—')),
      h('div', {}, h('dt', {}, 'Next runs'), h('dd', {}, (info.futureActionTimes || []).slice(0, 3).map((t) => h('div', {}, time(t))), (info.futureActionTimes || []).length ? null : '—')),
      h('div', {}, h('dt', {}, 'Actions taken'), h('dd', {}, info.actionCount || '0')),
      h('div', {}, h('dt', {}, 'Note'), h('dd', {}, state.notes || '—'))),
    h('h2', {}, 'Recent runs'),
    recent.length
      ? h('table', { 'aria-label': 'Recent runs' },
        h('thead', {}, h('tr', {}, ['Scheduled for', 'Started', 'Workflow'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, recent.map((a) => {
          const run = a.startWorkflowResult || {};
          return h('tr', {},
            h('td', {}, time(a.scheduleTime)),
            h('td', {}, time(a.actualTime)),
            h('td', { class: 'mono' }, run.runId ? link(`${nsBase}/workflows/${encodeURIComponent(run.workflowId)}/${encodeURIComponent(run.runId)}`, run.workflowId) : ''));
        })))
      : h('p', { class: 'empty' }, 'No runs yet.'),
    h('h2', {}, 'Action'),
    jsonBlock(schedule.action || {}));
}
