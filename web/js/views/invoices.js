// Placeholder while this screen is being built (issue 9).
import { h } from '../dom.js';

export function mount(root) {
  root.append(h('p', { class: 'muted' }, 'Sedang dibangun.'));
  return null;
}
