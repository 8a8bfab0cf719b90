// Login: username + password → POST /api/v1/auth/login. The answer sets the
// session cookie; we keep only the CSRF token and the user.

import { post, errorText } from '../api.js';
import { h } from '../dom.js';

export const layout = 'bare';

export function mount(root, ctx) {
  let countdown = null;
  let busy = false;

  const username = h('input', {
    id: 'login-username', name: 'username', type: 'text', autocomplete: 'username', autocapitalize: 'none',
    spellcheck: 'false', required: true, maxlength: '64', inputmode: 'text',
  });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    maxlength: '256',
  });
  const submit = h('button', { class: 'btn btn-primary btn-lg btn-block', type: 'submit' }, 'Masuk');
  const message = h('div', { class: 'form-message', role: 'alert', hidden: true });

  const showMessage = (text, kind = 'error') => {
    message.hidden = !text;
    message.className = `form-message form-message-${kind}`;
    message.textContent = text || '';
  };

  const stopCountdown = () => {
    clearInterval(countdown);
    countdown = null;
  };

  const startCountdown = (seconds) => {
    stopCountdown();
    let left = Math.max(1, seconds);
    const tick = () => {
      if (left <= 0) {
        stopCountdown();
        submit.disabled = false;
        showMessage('Silakan coba masuk lagi.', 'info');
        return;
      }
      showMessage(`Terlalu banyak percobaan, coba lagi dalam ${left} detik`);
      left -= 1;
    };
    submit.disabled = true;
    tick();
    countdown = setInterval(tick, 1000);
  };

  const onSubmit = async (ev) => {
    ev.preventDefault();
    if (busy || countdown) return;
    const u = username.value.trim();
    const p = password.value;
    if (!u || !p) {
      showMessage('Isi username dan password.');
      (u ? password : username).focus();
      return;
    }
    busy = true;
    submit.disabled = true;
    submit.textContent = 'Memproses…';
    showMessage('');
    try {
      const res = await post('/auth/login', { username: u, password: p }, { auth: false });
      password.value = '';
      ctx.loggedIn(res.user, res.csrf_token);
      return;
    } catch (err) {
      password.value = '';
      if (err.status === 429) {
        startCountdown(err.retryAfter || 60);
      } else {
        showMessage(errorText(err, {
          invalid_credentials: 'Username atau password salah',
          validation_failed: 'Isi username dan password.',
        }));
        password.focus();
      }
    } finally {
      busy = false;
      submit.textContent = 'Masuk';
      if (!countdown) submit.disabled = false;
    }
  };

  const form = h('form', { class: 'login-form', novalidate: true, on: { submit: onSubmit } },
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    message,
    submit);

  if (ctx.notice) showMessage(ctx.notice.text, ctx.notice.kind);

  root.append(h('div', { class: 'login-wrap' },
    h('section', { class: 'login-card', 'aria-labelledby': 'login-title' },
      h('div', { class: 'login-brand' },
        h('span', { class: 'brand-mark brand-mark-lg', 'aria-hidden': 'true' }, 'G'),
        h('div', null,
          h('h1', { id: 'login-title' }, 'GSS Dispatch'),
          h('p', { class: 'muted' }, 'Masuk untuk melihat papan job dan tiket.'))),
      form),
    h('p', { class: 'login-foot muted' }, 'Lupa password? Hubungi admin.')));
  setTimeout(() => username.focus(), 0);

  return () => stopCountdown();
}
