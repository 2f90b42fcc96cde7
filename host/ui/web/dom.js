// Building DOM nodes without HTML strings: every text a server sent goes in as text.

/** h('a', {href: '/x', class: 'y'}, 'text', child, [more]) makes an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** A link that the app follows without reloading the page. */
export function link(href, ...children) {
  return h('a', { href, 'data-nav': true }, ...children);
}

/** Replaces what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}

/**
 * Asks for a confirmation in a modal dialog: `fields` are extra inputs, each
 * {name, label, value, multiline, options}. Resolves with the fields' values, or null.
 */
export function confirmDialog({ title, text, fields = [], confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const inputs = {};
    const rows = fields.map((f) => {
      let input;
      if (f.options) {
        input = h('select', { name: f.name }, f.options.map((o) => h('option', { value: o.value }, o.label)));
      } else if (f.multiline) {
        input = h('textarea', { name: f.name, spellcheck: 'false' });
      } else {
        input = h('input', { name: f.name, autocomplete: 'off' });
      }
      if (f.value !== undefined) input.value = f.value;
      inputs[f.name] = input;
      return h('label', {}, f.label, input);
    });
    const dialog = h('dialog', { 'aria-labelledby': 'confirm-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, title),
        text ? h('p', {}, text) : null,
        rows,
        h('div', { class: 'buttons' },
          h('button', { type: 'submit', value: 'cancel', class: 'quiet' }, 'Cancel'),
          h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary' }, confirm))));
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok';
      const values = {};
      for (const [k, el] of Object.entries(inputs)) values[k] = el.value;
      dialog.remove();
      resolve(ok ? values : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = rows.length ? dialog.querySelector('input, textarea, select') : dialog.querySelector('button.quiet');
    if (first) first.focus();
  });
}
