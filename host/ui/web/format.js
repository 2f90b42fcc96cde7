// Turning the API's JSON into what people read: statuses, times, durations, payloads.

import { h } from './dom.js';

/** The readable part of an enum value: WORKFLOW_EXECUTION_STATUS_TIMED_OUT -> Timed out. */
export function enumName(value, prefix) {
  if (value === undefined || value === null) return '';
  let s = String(value);
  if (prefix && s.startsWith(prefix)) s = s.slice(prefix.length);
  s = s.toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A status badge: the class is the status as a word (running, timed-out, ...). */
export function statusBadge(status) {
  const name = enumName(status, 'WORKFLOW_EXECUTION_STATUS_') || 'Unknown';
  const cls = name.toLowerCase().replace(/ /g, '-');
  return h('span', { class: `status ${cls}` }, name);
}

/** The statuses a list can filter on: label, query value, enum name. */
export const STATUSES = [
  ['Running', 'Running', 'WORKFLOW_EXECUTION_STATUS_RUNNING'],
  ['Completed', 'Completed', 'WORKFLOW_EXECUTION_STATUS_COMPLETED'],
  ['Failed', 'Failed', 'WORKFLOW_EXECUTION_STATUS_FAILED'],
  ['Canceled', 'Canceled', 'WORKFLOW_EXECUTION_STATUS_CANCELED'],
  ['Terminated', 'Terminated', 'WORKFLOW_EXECUTION_STATUS_TERMINATED'],
  ['Continued as new', 'ContinuedAsNew', 'WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW'],
  ['Timed out', 'TimedOut', 'WORKFLOW_EXECUTION_STATUS_TIMED_OUT'],
];

/** A timestamp in the reader's time zone, to the second. */
export function time(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** A span of milliseconds as people say it: 850 ms, 4.2 s, 3 m 10 s, 2 h 5 m, 3 d 4 h. */
export function span(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  // Two units at most; a zero second one is left out (1 h, not 1 h 0 m).
  const two = (a, unitA, b, unitB) => (b ? `${a} ${unitA} ${b} ${unitB}` : `${a} ${unitA}`);
  const m = Math.floor(s / 60);
  if (m < 60) return two(m, 'm', Math.floor(s % 60), 's');
  const hr = Math.floor(m / 60);
  if (hr < 24) return two(hr, 'h', m % 60, 'm');
  return two(Math.floor(hr / 24), 'd', hr % 24, 'h');
}

/** The time between two timestamps (to now when `to` is empty). */
export function between(from, to) {
  if (!from) return '';
  const end = to ? new Date(to) : new Date();
  return span(end - new Date(from));
}

/** A protobuf JSON duration ("12.5s") in milliseconds. */
export function durationMs(d) {
  if (!d) return undefined;
  const m = /^(-?[\d.]+)s$/.exec(String(d));
  return m ? Number(m[1]) * 1000 : undefined;
}

function base64ToText(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * The JSON with its payloads decoded: the API already writes JSON payloads as plain values
 * (its payload shorthand); a payload still in its {metadata, data} form whose encoding is
 * JSON or plain text is decoded here, and a binary one is shown as its size.
 */
export function decodePayloads(value) {
  if (Array.isArray(value)) return value.map(decodePayloads);
  if (!value || typeof value !== 'object') return value;
  if (value.metadata && typeof value.metadata === 'object' && 'encoding' in value.metadata) {
    try {
      const encoding = base64ToText(value.metadata.encoding);
      if (encoding === 'binary/null') return null;
      if (encoding.startsWith('json/')) return JSON.parse(base64ToText(value.data || ''));
      if (encoding === 'binary/plain') return `<${atob(value.data || '').length} bytes>`;
      return { encoding, data: value.data };
    } catch {
      return value;
    }
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = decodePayloads(v);
  return out;
}

/** A value as a readable JSON block, its payloads decoded. */
export function jsonBlock(value) {
  return h('pre', { class: 'json' }, JSON.stringify(decodePayloads(value), null, 2));
}

/** A workflow's input or result (a list of payloads): one value shows without its list. */
export function payloadsBlock(payloads) {
  let v = decodePayloads(payloads);
  if (v && typeof v === 'object' && Array.isArray(v.payloads)) v = v.payloads;
  if (Array.isArray(v) && v.length === 1) [v] = v;
  return h('pre', { class: 'json' }, v === undefined ? '—' : JSON.stringify(v, null, 2));
}

/** The short form of a run id for tables. */
export const shortId = (id) => (id && id.length > 13 ? `${id.slice(0, 8)}…` : id || '');
