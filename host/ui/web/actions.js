// What a user can do to a run: signal, cancel, terminate, reset. Each asks for a
// confirmation first, then redraws the run (or shows the new run a reset made).

import { post, seg } from './api.js';
import { confirmDialog, errorBox, h } from './dom.js';

const IDENTITY = 'sundial-ui';

/** A request id: the server dedupes a retried action by it. */
function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** The JSON a user typed as a signal's input: empty means none. */
function parseInput(text) {
  const t = text.trim();
  if (!t) return undefined;
  return [JSON.parse(t)];
}

export function actionButtons({ base, id, run, running, events, ns, ctx }) {
  const execution = { workflowId: id, runId: run };
  const here = () => location.pathname + location.search;
  const act = async (what) => {
    try {
      await what();
    } catch (e) {
      document.querySelector('.view').prepend(errorBox(e));
    }
  };

  const signal = () => act(async () => {
    const v = await confirmDialog({
      title: 'Signal this workflow',
      fields: [
        { name: 'name', label: 'Signal name' },
        { name: 'input', label: 'Input (JSON, optional)', multiline: true },
      ],
      confirm: 'Send signal',
    });
    if (!v || !v.name.trim()) return;
    await post(`${base}/signal/${seg(v.name.trim())}`, {
      workflowExecution: execution, input: parseInput(v.input), identity: IDENTITY, requestId: requestId(),
    });
    ctx.navigate(here(), true);
  });

  const cancel = () => act(async () => {
    const v = await confirmDialog({
      title: 'Request cancellation',
      text: `The workflow ${id} is asked to cancel; its code decides how.`,
      fields: [{ name: 'reason', label: 'Reason (optional)' }],
      confirm: 'Request cancellation', danger: true,
    });
    if (!v) return;
    await post(`${base}/cancel`, { workflowExecution: execution, reason: v.reason, identity: IDENTITY, requestId: requestId() });
    ctx.navigate(here(), true);
  });

  const terminate = () => act(async () => {
    const v = await confirmDialog({
      title: 'Terminate this workflow',
      text: `The run of ${id} ends at once; its code runs no further. This cannot be undone.`,
      fields: [{ name: 'reason', label: 'Reason (optional)' }],
      confirm: 'Terminate', danger: true,
    });
    if (!v) return;
    await post(`${base}/terminate`, { workflowExecution: execution, reason: v.reason, identity: IDENTITY });
    ctx.navigate(here(), true);
  });

  const points = events.filter((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  const reset = () => act(async () => {
    const v = await confirmDialog({
      title: 'Reset this workflow',
      text: 'A new run replays the history up to the chosen workflow task and goes on from there; this run is terminated if it is still running.',
      fields: [
        {
          name: 'event', label: 'Reset to the workflow task that completed at',
          options: points.map((e) => ({ value: e.eventId, label: `event ${e.eventId}` })).reverse(),
        },
        { name: 'reason', label: 'Reason (optional)' },
      ],
      confirm: 'Reset', danger: true,
    });
    if (!v) return;
    const reply = await post(`${base}/reset`, {
      workflowExecution: execution, workflowTaskFinishEventId: v.event, reason: v.reason, requestId: requestId(), identity: IDENTITY,
    });
    ctx.navigate(`/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(id)}/${encodeURIComponent(reply.runId)}`);
  });

  return [
    running ? h('button', { type: 'button', onclick: signal }, 'Signal') : null,
    running ? h('button', { type: 'button', onclick: cancel }, 'Cancel') : null,
    running ? h('button', { type: 'button', class: 'danger', onclick: terminate }, 'Terminate') : null,
    points.length ? h('button', { type: 'button', onclick: reset }, 'Reset') : null,
  ];
}
