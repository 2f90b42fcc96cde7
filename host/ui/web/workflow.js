// One run: its summary, input, result or failure, what is pending, its history, and the
// actions that change it.

import { get, nsPath, seg } from './api.js';
import { h, link, show } from './dom.js';
import { between, enumName, jsonBlock, payloadsBlock, statusBadge, time } from './format.js';
import { historyTimeline, loadHistory } from './history.js';
import { actionButtons } from './actions.js';

export async function workflowView(el, { ns, id, run }, _params, ctx) {
  const base = `${nsPath(ns)}/workflows/${seg(id)}`;
  show(el, h('p', { class: 'loading' }, 'Loading…'));
  const [described, events] = await Promise.all([
    get(base, { 'execution.runId': run }),
    loadHistory(base, run),
  ]);
  if (ctx.stale()) return;
  const info = described.workflowExecutionInfo || {};
  const config = described.executionConfig || {};
  const running = info.status === 'WORKFLOW_EXECUTION_STATUS_RUNNING';
  const nsBase = `/namespaces/${encodeURIComponent(ns)}`;
  const queue = (config.taskQueue || {}).name || info.taskQueue;

  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const closing = [...events].reverse().find((e) => /EXECUTION_(COMPLETED|FAILED|TIMED_OUT|CANCELED|TERMINATED|CONTINUED_AS_NEW)$/.test(e.eventType));

  const field = (label, value) => h('div', {}, h('dt', {}, label), h('dd', {}, value || '—'));
  const parent = info.parentExecution;
  const summary = h('dl', { class: 'summary panel' },
    field('Type', (info.type || {}).name),
    field('Run ID', h('span', { class: 'mono' }, info.execution.runId)),
    field('Task queue', queue ? link(`${nsBase}/task-queues/${encodeURIComponent(queue)}`, queue) : ''),
    field('Started', time(info.startTime)),
    field('Closed', time(info.closeTime)),
    field('Duration', between(info.startTime, info.closeTime)),
    field('History', `${info.historyLength || events.length} events`),
    field('State transitions', info.stateTransitionCount),
    parent ? field('Parent', link(`${nsBase}/workflows/${encodeURIComponent(parent.workflowId)}/${encodeURIComponent(parent.runId)}`, parent.workflowId)) : null,
    described.pendingWorkflowTask ? field('Workflow task', `${enumName(described.pendingWorkflowTask.state, 'PENDING_WORKFLOW_TASK_STATE_')} (attempt ${described.pendingWorkflowTask.attempt || 1})`) : null);

  const io = h('div', { class: 'io' },
    h('section', { 'aria-label': 'Input' }, h('h2', {}, 'Input'),
      started ? payloadsBlock(started.workflowExecutionStartedEventAttributes.input) : h('p', { class: 'muted' }, '—')),
    closing ? outcome(closing) : null);

  show(el,
    h('div', { class: 'crumbs' }, link(`${nsBase}/workflows`, 'Workflows'), ' / ', ns),
    h('h1', {}, h('span', { class: 'mono' }, id), statusBadge(info.status),
      h('span', { class: 'actions' }, actionButtons({ base, id, run, running, events, ns, ctx }))),
    summary, io,
    pendingActivities(described.pendingActivities || []),
    pendingChildren(described.pendingChildren || [], nsBase),
    h('h2', {}, `Event history`),
    historyTimeline(events));
}

function outcome(event) {
  const attrs = Object.entries(event).find(([k]) => k.endsWith('EventAttributes'));
  const a = attrs ? attrs[1] : {};
  const kind = enumName(event.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_');
  let body;
  if (a.result !== undefined) body = payloadsBlock(a.result);
  else if (a.failure) body = failureBlock(a.failure);
  else body = jsonBlock(a);
  return h('section', { 'aria-label': kind }, h('h2', {}, kind === 'Completed' ? 'Result' : kind), body);
}

/** A failure and its causes, message first. */
export function failureBlock(failure) {
  const lines = [];
  for (let f = failure, depth = 0; f && depth < 10; f = f.cause, depth++) {
    const type = (f.applicationFailureInfo || {}).type;
    lines.push(h('div', {}, h('strong', {}, type ? `${type}: ` : ''), f.message || ''));
    if (f.stackTrace) lines.push(h('pre', { class: 'json' }, f.stackTrace));
  }
  return h('div', { class: 'error' }, lines);
}

function pendingActivities(list) {
  if (!list.length) return null;
  return [h('h2', {}, `Pending activities (${list.length})`),
    h('table', { 'aria-label': 'Pending activities' },
      h('thead', {}, h('tr', {}, ['Activity ID', 'Type', 'State', 'Attempt', 'Scheduled', 'Last started', 'Last failure'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((a) => h('tr', {},
        h('td', { class: 'mono' }, a.activityId),
        h('td', {}, (a.activityType || {}).name || ''),
        h('td', {}, enumName(a.state, 'PENDING_ACTIVITY_STATE_')),
        h('td', {}, a.attempt || 1),
        h('td', {}, time(a.scheduledTime)),
        h('td', {}, time(a.lastStartedTime)),
        h('td', {}, a.lastFailure ? a.lastFailure.message : '')))))];
}

function pendingChildren(list, nsBase) {
  if (!list.length) return null;
  return [h('h2', {}, `Pending child workflows (${list.length})`),
    h('table', { 'aria-label': 'Pending child workflows' },
      h('thead', {}, h('tr', {}, ['Workflow ID', 'Type', 'Initiated by event'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((c) => h('tr', {},
        h('td', { class: 'mono' }, c.runId ? link(`${nsBase}/workflows/${encodeURIComponent(c.workflowId)}/${encodeURIComponent(c.runId)}`, c.workflowId) : c.workflowId),
        h('td', {}, c.workflowTypeName || ''),
        h('td', {}, c.initiatedId || '')))))];
}

