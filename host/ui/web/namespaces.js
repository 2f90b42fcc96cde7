// The namespaces this server has.

import { get } from './api.js';
import { h, link, show } from './dom.js';
import { enumName, span, durationMs } from './format.js';

export async function namespacesView(el) {
  show(el, h('h1', {}, 'Namespaces'), h('p', { class: 'loading' }, 'Loading…'));
  const reply = await get('/api/v1/namespaces', { pageSize: 1000 });
  const rows = (reply.namespaces || []).map((n) => {
    const info = n.namespaceInfo || {};
    const config = n.config || {};
    return h('tr', {},
      h('td', {}, link(`/namespaces/${encodeURIComponent(info.name)}/workflows`, info.name)),
      h('td', {}, enumName(info.state, 'NAMESPACE_STATE_')),
      h('td', {}, span(durationMs(config.workflowExecutionRetentionTtl))),
      h('td', {}, info.description || ''),
      h('td', {}, info.ownerEmail || ''));
  });
  show(el,
    h('h1', {}, 'Namespaces'),
    rows.length
      ? h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'State', 'Retention', 'Description', 'Owner'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'empty' }, 'No namespaces.'));
}
