// A run's event history as a timeline: one line per event (its id, time since the start,
// type and the gist of it), expanding to the event's whole JSON with payloads decoded.

import { get } from './api.js';
import { h } from './dom.js';
import { decodePayloads, enumName, span } from './format.js';

/** Every event of the run, page after page. */
export async function loadHistory(base, run) {
  const events = [];
  let nextPageToken = '';
  do {
    const page = await get(`${base}/history`, { 'execution.runId': run, maximumPageSize: 1000, nextPageToken });
    events.push(...((page.history || {}).events || []));
    nextPageToken = page.nextPageToken || '';
  } while (nextPageToken && events.length < 50000);
  return events;
}

function attributesOf(event) {
  const found = Object.entries(event).find(([k]) => k.endsWith('EventAttributes'));
  return found ? found[1] : {};
}

/** Which family an event is of, for its dot's colour. */
function family(type) {
  if (/FAILED|TIMED_OUT|TERMINATED/.test(type)) return 'bad';
  if (type.includes('ACTIVITY')) return 'activity';
  if (type.includes('TIMER')) return 'timer';
  if (type.includes('SIGNAL')) return 'signal';
  if (type.includes('CHILD')) return 'child';
  return 'workflow';
}

/** The gist of an event on its line. */
function brief(event) {
  const a = attributesOf(event);
  const parts = [];
  if (a.activityType) parts.push(a.activityType.name);
  if (a.workflowType) parts.push(a.workflowType.name);
  if (a.signalName) parts.push(a.signalName);
  if (a.timerId) parts.push(`timer ${a.timerId}`);
  if (a.startToFireTimeout) parts.push(`fires after ${a.startToFireTimeout}`);
  if (a.identity) parts.push(a.identity);
  if (a.failure && a.failure.message) parts.push(a.failure.message);
  if (a.reason) parts.push(a.reason);
  if (a.workflowId) parts.push(a.workflowId);
  if (a.result !== undefined) parts.push(JSON.stringify(decodePayloads(a.result)).slice(0, 120));
  return parts.filter(Boolean).join(' · ');
}

export function historyTimeline(events) {
  if (!events.length) return h('p', { class: 'empty' }, 'No events.');
  const start = new Date(events[0].eventTime);
  const items = events.map((e) => {
    const type = e.eventType || '';
    const offset = new Date(e.eventTime) - start;
    const details = h('details', { 'data-event-id': e.eventId },
      h('summary', {},
        h('span', { class: 'id' }, e.eventId),
        h('span', { class: 'when', title: e.eventTime }, offset > 0 ? `+${span(offset)}` : span(0)),
        h('span', { class: `dot ${family(type)}`, 'aria-hidden': 'true' }),
        h('span', { class: 'type' }, enumName(type, 'EVENT_TYPE_')),
        h('span', { class: 'brief' }, brief(e))));
    // The JSON is drawn when the event is first opened: a long history stays quick.
    details.addEventListener('toggle', () => {
      if (details.open && !details.querySelector('.detail')) {
        details.append(h('div', { class: 'detail' }, h('pre', { class: 'json' }, JSON.stringify(decodePayloads(e), null, 2))));
      }
    });
    return h('li', {}, details);
  });
  const list = h('ol', { class: 'timeline', 'aria-label': 'Event history' }, items);
  const setAll = (open) => list.querySelectorAll('details').forEach((d) => {
    d.open = open;
  });
  return [h('div', { class: 'toolbar' },
    h('button', { type: 'button', onclick: () => setAll(true) }, 'Expand all'),
    h('button', { type: 'button', onclick: () => setAll(false) }, 'Collapse all'),
    h('span', { class: 'muted' }, `${events.length} events`)), list];
}

