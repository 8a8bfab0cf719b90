// /r/{token}: the customer rates the visit, on a phone, once.
// GET /api/v1/public/ratings/{token} → {ticket_code, company, techs, rated,
// expires_at}; POST the same path {score, comment?, techs?: [{id, score}]}
// → 201 {rated: true}, 409 already_rated, 422 validation_failed
// (docs/money.md "Public API").
//
// The stars are real radio buttons (one group per fieldset, named by its
// legend: "Layanan", then each technician by name when the crew had two or
// more), so arrows, Tab, Space and a screen reader work as on any form; the
// input is hidden under a large star that is its label, so a thumb hits it
// and nothing depends on hover. A send that fails for a passing reason (no
// signal, 429) keeps what the customer chose and wrote.

import { h, svg, replace } from '../dom.js';
import { call, problemView, loadingView, brand, longDate, contactLine, focusHeading, problem } from './common.js';

const COMMENT_MAX = 1000;
const WORDS = ['', 'Sangat buruk', 'Buruk', 'Cukup', 'Baik', 'Sangat baik'];
const STAR = 'M12 2.6l2.9 5.9 6.5.95-4.7 4.6 1.1 6.45L12 17.45l-5.8 3.05 1.1-6.45-4.7-4.6 6.5-.95z';

function starIcon() {
  return svg('svg', { class: 'star-icon', viewBox: '0 0 24 24', width: 40, height: 40, 'aria-hidden': 'true', focusable: 'false' },
    svg('path', { d: STAR }));
}

/** starGroup(name, legend, {required, onChange}) → {el, value(), focus()}: a fieldset of
 *  five radios. value() is 1..5, or 0 while none is chosen. */
function starGroup(name, legend, { required = false, onChange = null } = {}) {
  const said = h('span', { class: 'stars-said-text' });
  // An optional group can be emptied again (a radio group cannot by itself).
  const clear = required ? null : h('button', {
    class: 'stars-clear', type: 'button', hidden: true,
    on: { click: () => { for (const i of inputs) i.checked = false; value = 0; paint(); inputs[0].focus(); } },
  }, 'Hapus', h('span', { class: 'sr-only' }, ` nilai ${legend}`));
  const labels = [];
  const inputs = [];
  let value = 0;
  const paint = () => {
    labels.forEach((l, i) => l.classList.toggle('on', i < value));
    said.textContent = value ? `${value} dari 5: ${WORDS[value]}` : required ? 'Pilih 1 sampai 5 bintang' : 'Belum dinilai';
    line.classList.toggle('chosen', value > 0);
    if (clear) clear.hidden = value === 0;
  };
  for (let n = 1; n <= 5; n++) {
    const input = h('input', {
      class: 'star-input', type: 'radio', name, value: String(n), required: required ? true : null,
      on: { change: () => { value = n; paint(); el.classList.remove('is-invalid'); if (onChange) onChange(n); } },
    });
    inputs.push(input);
    const label = h('label', { class: 'star' }, input, starIcon(), h('span', { class: 'sr-only' }, `${n} bintang, ${WORDS[n]}`));
    labels.push(label);
  }
  const line = h('div', { class: 'stars-said' }, h('span', { 'aria-hidden': 'true' }, said), clear);
  const el = h('fieldset', { class: 'stars-group' },
    h('legend', { class: 'stars-legend' }, legend),
    h('div', { class: 'stars' }, labels),
    line);
  paint();
  return { el, value: () => value, focus: () => inputs[0].focus(), inputs };
}

function thanks(data, given) {
  return [
    brand(data.company),
    h('section', { class: 'pub-card pub-done', role: 'status' },
      h('span', { class: 'pub-done-mark', 'aria-hidden': 'true' }, '✓'),
      h('h1', null, 'Terima kasih'),
      h('p', null, 'Penilaian Anda sudah kami terima. Masukan Anda membantu kami melayani lebih baik lagi.'),
      given ? h('p', { class: 'pub-done-stars' }, `Layanan: ${given} dari 5 bintang (${WORDS[given]})`) : null),
    contactLine(data.company, 'Butuh bantuan lagi? Hubungi kami di'),
  ];
}

function alreadyRated(data) {
  return [
    brand(data.company),
    h('section', { class: 'pub-card pub-done', role: 'status' },
      h('span', { class: 'pub-done-mark', 'aria-hidden': 'true' }, '✓'),
      h('h1', null, 'Penilaian sudah dikirim. Terima kasih!'),
      h('p', null, data.ticket_code
        ? `Penilaian untuk tiket ${data.ticket_code} sudah kami terima. Setiap kunjungan hanya dinilai sekali.`
        : 'Setiap kunjungan hanya dinilai sekali.')),
    contactLine(data.company, 'Ada yang ingin disampaikan? Hubungi kami di'),
  ];
}

function sendErrorText(err) {
  if (err.status === 422) {
    return err.message ? `Penilaian belum bisa dikirim: ${err.message}` : 'Periksa kembali penilaian Anda.';
  }
  if (err.status === 0) return 'Tidak dapat terhubung. Periksa koneksi internet Anda, lalu tekan "Kirim Penilaian" lagi.';
  if (err.status === 429) return problem(err).title;
  return 'Maaf, penilaian belum terkirim karena gangguan. Coba tekan "Kirim Penilaian" lagi.';
}

function form(root, token, data) {
  const techs = Array.isArray(data.techs) ? data.techs : [];
  const service = starGroup('score', 'Layanan', { required: true, onChange: () => showMsg('') });
  const perTech = techs.length >= 2
    ? techs.map((t) => ({ id: t.id, group: starGroup(`tech-${t.id}`, t.name) }))
    : [];

  const count = h('span', { class: 'count', id: 'comment-count' }, `0/${COMMENT_MAX}`);
  const comment = h('textarea', {
    id: 'comment', name: 'comment', rows: '4', maxlength: String(COMMENT_MAX), 'aria-describedby': 'comment-count',
    placeholder: 'Ceritakan pengalaman Anda (opsional)',
    on: {
      input: () => {
        const n = comment.value.length;
        count.textContent = `${n}/${COMMENT_MAX}`;
        count.classList.toggle('near', n >= COMMENT_MAX - 100);
      },
    },
  });
  const msg = h('p', { class: 'pub-msg pub-msg-error', role: 'alert', hidden: true });
  const send = h('button', { class: 'pub-btn pub-btn-primary pub-btn-block', type: 'submit' }, 'Kirim Penilaian');
  let busy = false;

  const showMsg = (text) => {
    msg.hidden = !text;
    msg.textContent = text || '';
  };

  async function onSubmit(ev) {
    ev.preventDefault();
    if (busy) return;
    const score = service.value();
    if (!score) {
      service.el.classList.add('is-invalid');
      showMsg('Pilih jumlah bintang untuk Layanan terlebih dahulu.');
      service.focus();
      return;
    }
    const body = { score };
    const text = comment.value.trim();
    if (text) body.comment = text;
    const scored = perTech.filter((t) => t.group.value() > 0).map((t) => ({ id: t.id, score: t.group.value() }));
    if (scored.length) body.techs = scored;

    busy = true;
    send.disabled = true;
    send.textContent = 'Mengirim…';
    showMsg('');
    try {
      await call('POST', `/ratings/${encodeURIComponent(token)}`, body);
      replace(root, thanks(data, score));
      focusHeading(root);
      return;
    } catch (err) {
      if (err.status === 409) {
        replace(root, alreadyRated(data));
        focusHeading(root);
        return;
      }
      if (err.status === 404 || err.status === 410) {
        replace(root, brand(data.company), problemView(err));
        focusHeading(root);
        return;
      }
      showMsg(sendErrorText(err));
      // After a 429 the button waits as long as the server asked.
      let left = err.status === 429 && err.retryAfter ? Math.min(err.retryAfter, 120) : 0;
      const again = () => {
        send.textContent = left > 0 ? `Kirim Penilaian (${left})` : 'Kirim Penilaian';
        if (left > 0) {
          left -= 1;
          setTimeout(again, 1000);
          return;
        }
        busy = false;
        send.disabled = false;
      };
      again();
      return;
    }
  }

  const expires = longDate(data.expires_at);
  return [
    brand(data.company),
    h('section', { class: 'pub-card' },
      h('p', { class: 'pub-kicker' }, 'Penilaian'),
      h('h1', { class: 'pub-rate-title' }, 'Bagaimana layanan kami?'),
      data.ticket_code ? h('p', { class: 'pub-rate-code' }, `Kunjungan untuk tiket ${data.ticket_code}`) : null,
      h('form', { class: 'pub-rate-form', novalidate: true, on: { submit: onSubmit } },
        service.el,
        perTech.length ? h('div', { class: 'pub-techs' },
          h('h2', { class: 'pub-section-title' }, 'Teknisi'),
          h('p', { class: 'pub-hint' }, 'Opsional: beri nilai untuk setiap teknisi yang datang.'),
          perTech.map((t) => t.group.el)) : null,
        h('div', { class: 'pub-field' },
          h('div', { class: 'pub-label-row' },
            h('span', null, h('label', { for: 'comment' }, 'Komentar'), h('span', { class: 'pub-optional' }, ' (opsional)')),
            count),
          comment),
        msg,
        send,
        expires ? h('p', { class: 'pub-hint pub-center' }, `Link ini berlaku sampai ${expires}.`) : null)),
  ];
}

export function mount(root, token) {
  async function load() {
    document.title = 'Penilaian';
    replace(root, loadingView('Memuat…'));
    try {
      const data = (await call('GET', `/ratings/${encodeURIComponent(token)}`)) || {};
      const company = data.company && data.company.name;
      document.title = company ? `Penilaian · ${company}` : 'Penilaian';
      replace(root, data.rated ? alreadyRated(data) : form(root, token, data));
      if (data.rated) focusHeading(root);
    } catch (err) {
      replace(root, problemView(err, load));
      focusHeading(root);
    }
  }
  load();
}
