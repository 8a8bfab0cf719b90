// A tiny element builder. Every piece of data reaches the page as a text
// node or an attribute value set through the DOM, never as HTML, so a
// customer name such as "<img onerror=…>" stays text (and the strict CSP
// would refuse inline handlers anyway).

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, child) {
  if (child === null || child === undefined || child === false || child === true) return;
  if (Array.isArray(child)) {
    for (const c of child) append(el, c);
    return;
  }
  if (child instanceof Node) el.appendChild(child);
  else el.appendChild(document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    else if (k === 'value' && 'value' in el) el.value = String(v);
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = Boolean(v);
    else if (k === 'style' || /^on/i.test(k)) throw new Error(`h(): attribute ${k} is not allowed (CSP: use classes and the on: map)`);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h('div', {class, text, on:{click}, dataset, ...attrs}, ...children):
 *  an element; children are nodes, strings (as text) or arrays of those. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** svg('path', {d: ...}, ...children): an SVG element (icons). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

/** clear(el): remove every child. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** replace(el, ...children): clear then append. */
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// Icons: 24x24 strokes, drawn here so that no image request is needed.
const ICONS = {
  pin: ['M12 21s-7-6.2-7-11.5A7 7 0 0 1 19 9.5C19 14.8 12 21 12 21z', 'M12 12.2a2.6 2.6 0 1 0 0-5.2 2.6 2.6 0 0 0 0 5.2z'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3.5 2'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21c0-4 3.6-6.5 8-6.5s8 2.5 8 6.5'],
  users: ['M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M2.5 20c0-3.5 2.9-5.5 6.5-5.5s6.5 2 6.5 5.5', 'M16 4.3a3.5 3.5 0 0 1 0 6.4', 'M18 14.8c2.1.6 3.5 2.3 3.5 5.2'],
  phone: ['M5 3h4l2 5-2.5 1.5a11 11 0 0 0 6 6L16 13l5 2v4a2 2 0 0 1-2 2A17 17 0 0 1 3 5a2 2 0 0 1 2-2z'],
  alert: ['M12 3 2 20h20L12 3z', 'M12 10v4', 'M12 17.5v.01'],
  check: ['M5 12.5 10 17l9-10'],
  tool: ['M14.5 6.5a4 4 0 0 0 5 5L21 13l-8 8-3.5-3.5 8-8', 'M14.5 6.5 11 3 3 11l3.5 3.5'],
  refresh: ['M20 12a8 8 0 1 1-2.3-5.6', 'M20 4v5h-5'],
  camera: ['M4 8h3l2-3h6l2 3h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V9a1 1 0 0 1 1-1z', 'M12 17a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z'],
  file: ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5', 'M9 13h6', 'M9 17h6'],
  download: ['M12 4v11', 'M7 10.5 12 15.5l5-5', 'M5 20h14'],
  chat: ['M20 12a8 8 0 0 1-11.8 7L4 20l1.1-4A8 8 0 1 1 20 12z'],
  map: ['M9 4 3 6.5v13L9 17l6 2.5 6-2.5v-13L15 6.5 9 4z', 'M9 4v13', 'M15 6.5v13'],
  gps: ['M12 19a7 7 0 1 0 0-14 7 7 0 0 0 0 14z', 'M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z', 'M12 2v3', 'M12 19v3', 'M2 12h3', 'M19 12h3'],
  cloudOff: ['M3 3l18 18', 'M8.5 8.6A5 5 0 0 0 6.5 18H17', 'M20.4 16.4A4 4 0 0 0 17.5 11h-.1A6 6 0 0 0 10.8 6.1'],
  x: ['M6 6l12 12', 'M18 6 6 18'],
};

/** icon('pin'): an inline SVG icon, hidden from screen readers. */
export function icon(name, cls = 'icon') {
  const paths = ICONS[name] || [];
  return svg('svg', {
    class: cls, viewBox: '0 0 24 24', width: 20, height: 20, fill: 'none', stroke: 'currentColor',
    'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', focusable: 'false',
  }, ...paths.map((d) => svg('path', { d })));
}
