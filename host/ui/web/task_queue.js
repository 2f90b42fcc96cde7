// A task queue: the workers polling it for workflow and activity tasks.

import { get, nsPath, seg } from './api.js';
import { h, show } from './dom.js';
import { time } from './format.js';

export async function taskQueueView(el, { ns, queue }) {
  show(el, h('p', { class: 'loading' }, 'Loading…'));
  const kinds = [['Workflow', 'TASK_QUEUE_TYPE_WORKFLOW'], ['Activity', 'TASK_QUEUE_TYPE_ACTIVITY']];
  const replies = await Promise.all(kinds.map(([, type]) =>
    get(`${nsPath(ns)}/task-queues/${seg(queue)}`, { taskQueueType: type })));
  const pollers = [];
  replies.forEach((r, i) => {
    for (const p of r.pollers || []) pollers.push({ kind: kinds[i][0], ...p });
  });
  show(el,
    h('div', { class: 'crumbs' }, 'Task queue'),
    h('h1', {}, h('span', { class: 'mono' }, queue)),
    h('h2', {}, `Pollers (${pollers.length})`),
    pollers.length
      ? h('table', { 'aria-label': 'Pollers' },
        h('thead', {}, h('tr', {}, ['Worker identity', 'Polls for', 'Last poll', 'Rate limit (tasks/s)'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, pollers.map((p) => h('tr', {},
          h('td', { class: 'mono' }, p.identity),
          h('td', {}, p.kind),
          h('td', {}, time(p.lastAccessTime)),
          h('td', {}, p.ratePerSecond ? String(p.ratePerSecond) : '')))))
      : h('p', { class: 'empty' }, 'No worker has polled this queue lately.'));
}
