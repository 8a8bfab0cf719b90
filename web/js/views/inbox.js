// /#/inbox for CS and admin: the customers' WhatsApp conversations
// (docs/inbox.md is the API, docs/web.md "Inbox" this screen).
//
//   /#/inbox                 the conversation list (desktop: the chat pane
//                            says "Pilih percakapan")
//   /#/inbox/{id}            one customer's chat: bubbles, reply box, the
//                            24-hour window, "Lihat Pelanggan", "Buat Tiket"
//   /#/inbox/{id}/pelanggan  the customer's data (name, address fixable
//                            here) and their tickets, in the chat pane
//
// Desktop (≥ 900 px): list on the left, the chat on the right. Phone: the
// list, then the chat full screen with "Kembali" (the route decides which,
// so the phone's back button works too).
//
// Freshness: every inbox.* live event (live.js, type 'inbox') and every new
// socket refetch the list and the open chat, coalesced; without a live
// socket both are polled. Opening a chat marks it read (POST …/read), and so
// does a new incoming message while the chat is on screen.
//
// Screen readers: the list items are links named by the customer; new
// incoming messages are announced in a polite live region of their own
// (the message list is redrawn on every refetch and is not live itself).
//
// Sending: every message written gets one Idempotency-Key, sent again when
// the same text is sent again after a failure (a timeout, no signal), so
// the server answers the message it already queued instead of the
// customer getting it twice (docs/inbox.md).

import { api, get, post, errorText, ApiError } from '../api.js';
import { newKey } from '../outbox.js';
import { h, icon, replace } from '../dom.js';
import { jakartaDate, jakartaTime, jakartaYmd, dayLabel, phoneDisplay } from '../format.js';

export const layout = 'wide';

const LIST_LIMIT = 100;
const PAGE = 50;
const POLL_MS = 15000; // without a live socket
const REFETCH_MS = 250; // a burst of events is one refetch
const PROBLEM_MAX = 2000; // the new-ticket form's maxlength
const REPLY_MAX = 4096;

// The list as last fetched, kept while the tab lives: a route change (a
// chat opened) mounts the view again and draws it at once.
let cache = { q: '', conversations: null, unread: null };

const STATUS = {
  queued: ['◷', 'Menunggu dikirim'],
  sending: ['◷', 'Sedang dikirim'],
  sent: ['✓', 'Terkirim'],
  delivered: ['✓✓', 'Diterima'],
  read: ['✓✓', 'Dibaca'],
  failed: ['!', 'Gagal'],
};

// Meta's error codes a CS agent meets, in words (the raw error stays
// beside it for whoever reports it).
const WA_ERRORS = {
  131026: 'Nomor ini tidak dapat menerima pesan WhatsApp (mungkin tidak memakai WhatsApp, atau nomornya salah).',
  131047: 'Jendela 24 jam sudah tertutup saat dikirim: kirim template.',
  131056: 'Terlalu banyak pesan ke nomor ini dalam waktu singkat. Coba lagi sebentar lagi.',
  131049: 'WhatsApp menahan pesan ini agar pelanggan tidak menerima terlalu banyak pesan bisnis.',
  131021: 'Tidak bisa mengirim ke nomor bisnis sendiri.',
  132001: 'Template tidak ada atau belum disetujui Meta.',
  190: 'Token WhatsApp server tidak berlaku: hubungi admin.',
};

/** The words for the first known Meta code in an outbox error, wherever it
 *  stands: the sender writes "131047: …", the status webhook "whatsapp: not
 *  delivered: 131047 …". */
function errorWords(e) {
  for (const m of String(e || '').matchAll(/(?:^|[^\d.])#?(\d{3,6})(?![\d.])/g)) {
    if (WA_ERRORS[m[1]]) return WA_ERRORS[m[1]];
  }
  return null;
}

/** The bubble's words for a message without text of its own. */
function typeText(m) {
  switch (m.type) {
    case 'image':
      return '';
    case 'template':
      return 'Template WhatsApp';
    case 'audio':
    case 'voice':
      return 'Pesan suara (buka di WhatsApp)';
    case 'video':
      return 'Video (buka di WhatsApp)';
    case 'document':
      return 'Dokumen (buka di WhatsApp)';
    case 'location':
      return 'Lokasi (buka di WhatsApp)';
    case 'sticker':
      return 'Stiker';
    case 'contacts':
      return 'Kontak';
    case 'invoice.sent':
      return 'Invoice dikirim';
    default:
      return m.type ? `Pesan jenis "${m.type}"` : 'Pesan';
  }
}

/** "14.05 WIB" today, "Kemarin", else "Sen, 30 Nov 2026": one list row. */
function whenShort(iso) {
  if (!iso) return '';
  const d = dayLabel(iso);
  if (d === 'Hari ini') return jakartaTime(iso).replace(' WIB', '');
  if (d === 'Kemarin') return 'Kemarin';
  return jakartaDate(iso).replace(/^\w+, /, '');
}

// The server writes a template it sent as "[template <name>]": CS reads
// which template went out, not the brackets.
const TEMPLATE_BODY = /^\[template ([^\]]+)\]$/;

/** The list's preview line as CS reads it: "[template x]", "[image]",
 *  "[invoice.sent]" (docs/inbox.md) in words. */
function previewText(p) {
  const m = TEMPLATE_BODY.exec(p || '');
  if (m) return `Template WhatsApp (${m[1]})`;
  const k = /^\[([a-z_.]{1,40})\]$/.exec(p || '');
  if (k) return k[1] === 'image' ? 'Foto' : typeText({ type: k[1] });
  return p || '';
}

function nameOf(c) {
  return (c && c.name) || (c && c.phone ? phoneDisplay(c.phone) : 'Pelanggan tanpa nama');
}

/** The text the new-ticket form gets as the problem: the customer's last
 *  message with text (a photo's caption counts). */
export function lastIncomingText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.direction === 'in' && typeof m.body === 'string' && m.body.trim()) return m.body.trim().slice(0, PROBLEM_MAX);
  }
  return '';
}

export function mount(root, ctx) {
  let alive = true;
  const selected = ctx.params[0] ? Number(ctx.params[0]) : null;
  const customerPage = Boolean(ctx.params[1]);
  let listSeq = 0;
  let chatSeq = 0;
  let refetchTimer = null;
  let pollTimer = null;
  let searchTimer = null;
  let chat = null; // {customer, messages, has_more} of the open chat
  let seenIn = null; // ids of incoming messages already shown (null before the first load)
  let sending = false;
  const readIds = new Set(); // incoming messages this screen has marked read

  // ---- the frame -----------------------------------------------------------------
  const announcer = h('div', { class: 'sr-only', role: 'status', 'aria-live': 'polite', dataset: { testid: 'inbox-announce' } });
  const search = h('input', {
    id: 'inbox-q', type: 'search', autocomplete: 'off', placeholder: 'Cari nama atau nomor…', value: cache.q,
    'aria-controls': 'inbox-conversations',
  });
  const listBox = h('div', { class: 'conv-box', id: 'inbox-conversations' });
  const totalEl = h('span', { class: 'muted small', dataset: { testid: 'inbox-total' } });
  const listHead = h('div', { class: 'inbox-list-head' },
    h('div', { class: 'inbox-title-row' }, h('h1', null, 'Inbox WhatsApp'), totalEl),
    // what this screen is for (the seed's words for the CS inbox)
    h('p', { class: 'muted small inbox-purpose', dataset: { testid: 'inbox-purpose' } },
      'Menanggapi chat WA pelanggan dan memastikan data tersimpan benar.'),
    h('label', { class: 'sr-only', for: 'inbox-q' }, 'Cari percakapan'),
    search);
  const listPane = h('section', { class: 'inbox-list', 'aria-label': 'Percakapan WhatsApp' }, listHead, listBox);
  const chatPane = h('section', { class: 'inbox-chat', 'aria-label': 'Chat' });
  const shell = h('div', { class: 'inbox', dataset: { view: selected ? 'chat' : 'list' } }, listPane, chatPane, announcer);
  root.append(shell);

  const announce = (text) => {
    // Cleared first so that the same words twice are read twice.
    announcer.textContent = '';
    setTimeout(() => { if (alive) announcer.textContent = text; }, 60);
  };

  // ---- the list -------------------------------------------------------------------
  function convItem(c) {
    const name = nameOf(c.customer);
    const last = c.last || {};
    const unread = Number(c.unread) || 0;
    const failed = last.direction === 'out' && last.status === 'failed';
    const preview = previewText(last.preview);
    const href = `#/inbox/${c.customer.id}`;
    const current = selected === c.customer.id;
    return h('li', null,
      h('a', {
        class: ['conv', current ? 'conv-current' : '', unread ? 'conv-unread' : ''], href,
        'aria-current': current ? 'page' : null, dataset: { customerId: c.customer.id },
      },
      h('span', { class: 'conv-top' },
        h('span', { class: 'conv-name' }, name),
        h('span', { class: 'conv-time' }, h('span', { class: 'sr-only' }, ', '), whenShort(last.at))),
      h('span', { class: 'conv-bottom' },
        h('span', { class: 'conv-preview' },
          h('span', { class: 'sr-only' }, ', '),
          last.direction === 'out' ? h('span', { class: 'conv-you' }, 'Anda: ') : null,
          preview || h('span', { class: 'muted' }, last.direction === 'in' ? 'Foto atau pesan lain' : '')),
        unread ? h('span', { class: 'conv-badge', dataset: { testid: 'conv-unread' } },
          h('span', { class: 'sr-only' }, ', '), String(unread), h('span', { class: 'sr-only' }, ' belum dibaca')) : null),
      failed || !c.window_open || c.open_tickets ? h('span', { class: 'conv-tags' },
        // The last reply did not reach the customer: said in words (and an
        // icon), not by the red alone, so a screen reader and a colour-blind
        // CS both learn it without opening the chat.
        failed ? h('span', { class: 'conv-tag conv-tag-failed', dataset: { testid: 'conv-failed' } },
          h('span', { class: 'sr-only' }, ', '), h('span', { 'aria-hidden': 'true' }, '! '), 'Gagal terkirim') : null,
        !c.window_open ? h('span', { class: 'conv-tag conv-tag-closed' }, h('span', { class: 'sr-only' }, ', '), 'Jendela tertutup') : null,
        c.open_tickets ? h('span', { class: 'conv-tag' }, h('span', { class: 'sr-only' }, ', '), `${c.open_tickets} tiket aktif`) : null) : null));
  }

  function drawList() {
    const list = cache.conversations;
    if (list === null) return;
    totalEl.textContent = cache.unread ? `${cache.unread} belum dibaca` : '';
    if (list.length === 0) {
      replace(listBox, h('div', { class: 'state state-empty conv-empty' },
        h('p', { class: 'state-title' }, cache.q ? 'Tidak ada percakapan yang cocok' : 'Belum ada percakapan'),
        h('p', { class: 'muted' }, cache.q ? 'Coba nama lain, atau nomor tanpa spasi.'
          : 'Pesan WhatsApp dari pelanggan akan tampil di sini.')));
      return;
    }
    replace(listBox, h('ul', { class: 'conv-list', 'aria-label': 'Daftar percakapan' }, list.map(convItem)));
  }

  async function loadList({ spinner = false } = {}) {
    const my = ++listSeq;
    const q = search.value.trim();
    if (spinner && cache.conversations === null) {
      replace(listBox, h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat percakapan…'));
    }
    let r;
    try {
      r = await get(`/inbox?limit=${LIST_LIMIT}${q ? `&q=${encodeURIComponent(q)}` : ''}`);
    } catch (err) {
      if (!alive || my !== listSeq) return;
      if (cache.conversations !== null && !spinner) return; // keep what is on screen; the next event or poll retries
      replace(listBox, h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, err instanceof ApiError && err.status === 404 ? 'Inbox belum tersedia di server ini.' : errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => loadList({ spinner: true }) } },
          icon('refresh'), 'Coba lagi')));
      return;
    }
    if (!alive || my !== listSeq) return;
    const before = new Map((cache.conversations || []).map((c) => [c.customer.id, Number(c.unread) || 0]));
    const convs = (r && Array.isArray(r.conversations)) ? r.conversations : [];
    // A customer who wrote while another chat is open: say who.
    if (cache.conversations !== null && cache.q === q) {
      for (const c of convs) {
        if (c.customer.id !== selected && (Number(c.unread) || 0) > (before.get(c.customer.id) || 0)) {
          announce(`Pesan baru dari ${nameOf(c.customer)}`);
        }
      }
    }
    cache = { q, conversations: convs, unread: Number(r && r.unread_total) || 0 };
    if (!q && ctx.inboxUnread) ctx.inboxUnread(cache.unread);
    drawList();
    if (selected && chat && !customerPage) {
      redrawHead(); // its "N tiket aktif" comes from the list
      markRead();
    }
  }

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadList(), 250);
  });
  search.addEventListener('keydown', (ev) => {
    // Down arrow from the search box to the first conversation.
    if (ev.key === 'ArrowDown') {
      const first = listBox.querySelector('a.conv');
      if (first) {
        ev.preventDefault();
        first.focus();
      }
    }
  });
  listBox.addEventListener('keydown', (ev) => {
    // Up/down arrows move between conversations (Tab works as well).
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    const links = [...listBox.querySelectorAll('a.conv')];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    if (ev.key === 'ArrowDown' && links[i + 1]) links[i + 1].focus();
    else if (ev.key === 'ArrowUp') (links[i - 1] || search).focus();
  });

  // ---- the chat -------------------------------------------------------------------
  const backLink = () => h('a', { class: 'btn btn-ghost btn-sm inbox-back', href: '#/inbox' }, '← Kembali', h('span', { class: 'sr-only' }, ' ke daftar percakapan'));

  function drawNoChat() {
    replace(chatPane, h('div', { class: 'state state-empty inbox-pick' },
      icon('chat', 'icon icon-lg'),
      h('p', { class: 'state-title' }, 'Pilih percakapan'),
      h('p', { class: 'muted' }, 'Pilih pelanggan di daftar kiri untuk membaca dan membalas chat WhatsApp-nya.')));
  }

  function statusEl(m) {
    if (m.direction !== 'out') return null;
    const [tick, word] = STATUS[m.status] || ['', String(m.status || '')];
    return h('span', { class: `msg-status msg-status-${m.status}` },
      tick ? h('span', { class: 'msg-tick', 'aria-hidden': 'true' }, tick) : null,
      h('span', { class: 'msg-status-word' }, word));
  }

  function photoEl(m) {
    if (m.attachment_id) {
      const src = `/api/v1/attachments/${encodeURIComponent(m.attachment_id)}`;
      return h('a', { class: 'msg-photo-link', href: src, target: '_blank', rel: 'noopener' },
        h('img', { class: 'msg-photo', src, alt: m.body ? `Foto: ${m.body}` : 'Foto dari pelanggan', loading: 'lazy' }),
        h('span', { class: 'sr-only' }, ' (buka ukuran penuh)'));
    }
    if (m.media_status === 'pending') return h('p', { class: 'msg-media-note' }, icon('camera'), 'Foto sedang diunduh…');
    if (m.media_status === 'failed') return h('p', { class: 'msg-media-note msg-media-failed' }, icon('alert'), 'Foto gagal diunduh');
    return h('p', { class: 'msg-media-note' }, icon('camera'), 'Foto');
  }

  function bubble(m) {
    const out = m.direction === 'out';
    const isPhoto = m.type === 'image' || m.attachment_id || m.media_status;
    let text = typeof m.body === 'string' && m.body !== '' ? m.body : null;
    if (m.type === 'template' && text && TEMPLATE_BODY.test(text)) text = `Template "${TEMPLATE_BODY.exec(text)[1]}" (sapaan untuk membuka chat lagi)`;
    return h('li', { class: ['msg', out ? 'msg-out' : 'msg-in', m.status === 'failed' ? 'msg-failed' : ''], dataset: { id: m.id, direction: m.direction } },
      h('div', { class: 'msg-bubble' },
        h('span', { class: 'sr-only' }, out ? `${m.sent_by && m.sent_by.name ? m.sent_by.name : 'GSS'}: ` : `${nameOf(chat.customer)}: `),
        m.type === 'template' ? h('p', { class: 'msg-kind' }, 'Template WhatsApp') : null,
        isPhoto ? photoEl(m) : null,
        text !== null ? h('p', { class: 'msg-text' }, text) : (isPhoto || m.type === 'template' ? null : h('p', { class: 'msg-text muted' }, typeText(m))),
        m.status === 'failed' ? h('p', { class: 'msg-error', role: 'note' },
          `Tidak terkirim: ${errorWords(m.error) || m.error || 'alasan tidak diketahui'}`,
          errorWords(m.error) ? h('span', { class: 'msg-error-raw' }, ` (${m.error})`) : null) : null,
        // a queued message that waits says why (the channel off, a retry)
        m.status === 'queued' && m.error ? h('p', { class: 'msg-wait' }, `Belum terkirim: ${m.error}`) : null,
        h('p', { class: 'msg-meta' },
          out && m.sent_by && m.sent_by.name ? h('span', { class: 'msg-by' }, m.sent_by.name) : null,
          h('time', { datetime: m.at }, jakartaTime(m.at).replace(' WIB', '')),
          statusEl(m))));
  }

  function messageList() {
    const items = [];
    let day = null;
    for (const m of chat.messages) {
      const d = jakartaYmd(m.at);
      if (d !== day) {
        day = d;
        items.push(h('li', { class: 'msg-day' }, h('span', null, dayLabel(m.at) || jakartaDate(m.at))));
      }
      items.push(bubble(m));
    }
    return items;
  }

  const msgBox = h('div', { class: 'msgs-scroll', tabindex: '0', 'aria-label': 'Riwayat pesan' });
  const composer = h('div', { class: 'composer' });
  const chatMsg = h('div', { class: 'form-message', role: 'alert', hidden: true });

  const showChatMsg = (text, kind = 'error') => {
    chatMsg.hidden = !text;
    chatMsg.className = `form-message form-message-${kind}`;
    chatMsg.textContent = text || '';
  };

  function drawMessages({ keepScroll = false } = {}) {
    const atBottom = msgBox.scrollHeight - msgBox.scrollTop - msgBox.clientHeight < 60;
    const fromBottom = msgBox.scrollHeight - msgBox.scrollTop;
    const older = chat.has_more
      ? h('li', { class: 'msg-more' }, h('button', { class: 'btn btn-secondary btn-sm', type: 'button', on: { click: loadOlder } }, 'Muat pesan sebelumnya'))
      : null;
    const body = chat.messages.length
      ? h('ol', { class: 'msgs', 'aria-label': `Pesan dengan ${nameOf(chat.customer)}` }, older, messageList())
      : h('div', { class: 'state state-empty' }, h('p', null, 'Belum ada pesan.'));
    replace(msgBox, body);
    if (keepScroll) msgBox.scrollTop = msgBox.scrollHeight - fromBottom;
    else if (atBottom || !msgBox.dataset.drawn) msgBox.scrollTop = msgBox.scrollHeight;
    msgBox.dataset.drawn = '1';
  }

  function windowNote(c) {
    if (!c.window_closes_at) return '';
    const d = dayLabel(c.window_closes_at);
    const day = d === 'Hari ini' ? 'hari ini ' : d === 'Besok' ? 'besok ' : `${jakartaDate(c.window_closes_at)} `;
    return `Jendela 24 jam terbuka: bisa dibalas sampai ${day}${jakartaTime(c.window_closes_at)}`;
  }

  function drawComposer() {
    const c = chat.customer;
    if (c.window_open === false) {
      // A template already sent since the customer last wrote: say so, so
      // that it is not sent twice by mistake (sending again stays possible).
      let sentAt = null;
      for (let i = chat.messages.length - 1; i >= 0; i--) {
        const m = chat.messages[i];
        if (m.direction === 'in') break;
        if (m.type === 'template' && m.status !== 'failed') {
          sentAt = m.at;
          break;
        }
      }
      const hadFocus = composer.contains(document.activeElement);
      const btn = h('button', { class: sentAt ? 'btn btn-secondary' : 'btn btn-primary', type: 'button', on: { click: () => sendTemplate(btn) } },
        'Kirim Template');
      replace(composer,
        h('div', { class: 'window-closed', role: 'group', 'aria-labelledby': 'inbox-window-title' },
          h('div', null,
            h('p', { class: 'strong', id: 'inbox-window-title' }, icon('clock'), 'Jendela 24 jam tertutup'),
            sentAt
              ? h('p', { class: 'small', dataset: { testid: 'template-sent' } },
                `Template sapaan sudah dikirim (${dayLabel(sentAt) === 'Hari ini' ? '' : `${jakartaDate(sentAt)} `}${jakartaTime(sentAt)}). ` +
                'Tunggu pelanggan membalas: balasan biasa bisa diketik lagi setelah itu.')
              : h('p', { class: 'muted small' }, 'Pelanggan belum menulis dalam 24 jam terakhir, jadi WhatsApp hanya mengizinkan pesan template. ' +
                'Kirim template sapaan; begitu pelanggan membalas, Anda bisa mengetik balasan biasa lagi.')),
          btn),
        chatMsg);
      if (hadFocus) btn.focus();
      return;
    }
    const ta = h('textarea', {
      id: 'inbox-reply', rows: '2', maxlength: String(REPLY_MAX), placeholder: 'Tulis balasan…', 'aria-describedby': 'inbox-reply-hint',
    });
    const send = h('button', { class: 'btn btn-primary composer-send', type: 'submit' }, 'Kirim');
    // With a keyboard Enter sends and Shift+Enter is a new line (as WhatsApp
    // Web does); on a touch screen Enter is a new line and "Kirim" sends.
    const enterSends = window.matchMedia('(pointer: fine)').matches;
    ta.addEventListener('keydown', (ev) => {
      if (enterSends && ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    const form = h('form', { class: 'composer-form', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); sendText(ta, send); } } },
      h('label', { class: 'sr-only', for: 'inbox-reply' }, 'Balas pesan'),
      ta, send);
    replace(composer, form,
      h('p', { class: 'hint composer-hint', id: 'inbox-reply-hint' },
        enterSends ? 'Enter untuk kirim, Shift+Enter untuk baris baru. ' : '', c.window_closes_at ? `${windowNote(c)}.` : ''),
      chatMsg);
  }

  function ticketHref() {
    const p = new URLSearchParams({ customer: String(chat.customer.id) });
    const text = lastIncomingText(chat.messages);
    if (text) p.set('problem', text);
    return `#/tiket/baru?${p.toString()}`;
  }

  function openTickets() {
    const conv = (cache.conversations || []).find((x) => x.customer.id === chat.customer.id);
    return conv && conv.open_tickets ? conv.open_tickets : 0;
  }

  function chatHead() {
    const c = chat.customer;
    const open = openTickets();
    return h('header', { class: 'chat-head', dataset: { open } },
      backLink(),
      h('div', { class: 'chat-who' },
        h('h2', { id: 'inbox-chat-title', tabindex: '-1' }, nameOf(c)),
        h('p', { class: 'muted small' },
          c.phone ? phoneDisplay(c.phone) : 'Nomor disembunyikan (nama pengguna WhatsApp)',
          open ? ` · ${open} tiket aktif` : '')),
      h('div', { class: 'chat-actions' },
        h('a', { class: 'btn btn-secondary btn-sm', href: `#/inbox/${c.id}/pelanggan` }, icon('user'), 'Lihat Pelanggan'),
        h('button', { class: 'btn btn-primary btn-sm', type: 'button', on: { click: () => ctx.navigate(ticketHref().slice(1)) } },
          h('span', { 'aria-hidden': 'true' }, '+ '), 'Buat Tiket')));
  }

  let headEl = null;
  function redrawHead() {
    if (!headEl || !chatPane.contains(headEl) || Number(headEl.dataset.open) === openTickets()) return;
    const focused = headEl.contains(document.activeElement);
    const next = chatHead();
    headEl.replaceWith(next);
    headEl = next;
    if (focused) next.querySelector('#inbox-chat-title').focus();
  }

  function drawChat({ focus = false } = {}) {
    headEl = chatHead();
    replace(chatPane, headEl, msgBox, h('div', { class: 'composer-wrap' }, composer));
    drawMessages();
    drawComposer();
    ctx.setTitle(`${nameOf(chat.customer)} · Inbox`);
    if (focus) {
      // Desktop: ready to type. Phone: the name first (the keyboard would
      // cover the chat the customer just wrote).
      const ta = chatPane.querySelector('#inbox-reply');
      if (ta && window.matchMedia('(min-width: 900px)').matches) ta.focus();
      else chatPane.querySelector('#inbox-chat-title').focus();
    }
  }

  async function markRead() {
    if (document.visibilityState !== 'visible') return; // not read while the tab is hidden
    const hasUnread = (cache.conversations || []).some((x) => x.customer.id === selected && Number(x.unread) > 0);
    const ins = chat.messages.filter((m) => m.direction === 'in');
    if (!hasUnread && ins.every((m) => readIds.has(m.id))) return;
    for (const m of ins) readIds.add(m.id);
    try {
      await post(`/customers/${selected}/messages/read`, {});
    } catch {
      return; // the badge keeps the count; the next open tries again
    }
    if (!alive) return;
    const conv = (cache.conversations || []).find((x) => x.customer.id === selected);
    if (conv && conv.unread) {
      cache.unread = Math.max(0, (cache.unread || 0) - conv.unread);
      conv.unread = 0;
      if (!cache.q && ctx.inboxUnread) ctx.inboxUnread(cache.unread);
      drawList();
    }
  }

  async function loadChat({ first = false } = {}) {
    const my = ++chatSeq;
    if (first) {
      replace(chatPane, backLink(), h('div', { class: 'state state-loading', role: 'status' },
        h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat chat…'));
    }
    let r;
    try {
      r = await get(`/customers/${selected}/messages?limit=${PAGE}`);
    } catch (err) {
      if (!alive || my !== chatSeq) return;
      if (!first) return;
      replace(chatPane, backLink(), h('div', { class: 'state state-error', role: 'alert' },
        h('p', null, err instanceof ApiError && err.status === 404 ? 'Pelanggan ini tidak ditemukan.' : errorText(err)),
        h('button', { class: 'btn btn-secondary', type: 'button', on: { click: () => loadChat({ first: true }) } }, icon('refresh'), 'Coba lagi')));
      return;
    }
    if (!alive || my !== chatSeq) return;
    const msgs = Array.isArray(r.messages) ? r.messages : [];
    // Older pages loaded before ("Muat pesan sebelumnya") stay above the
    // newest page when it still overlaps them.
    let merged = msgs;
    let hasMore = Boolean(r.has_more);
    if (!first && chat && msgs.length) {
      const idx = chat.messages.findIndex((m) => m.id === msgs[0].id);
      if (idx > 0) {
        merged = chat.messages.slice(0, idx).concat(msgs);
        hasMore = chat.has_more;
      }
    }
    const wasOpen = chat && chat.customer.window_open;
    chat = { customer: r.customer || { id: selected }, messages: merged, has_more: hasMore };
    // New incoming messages since the last look: read out.
    const ins = merged.filter((m) => m.direction === 'in');
    if (seenIn) {
      for (const m of ins) {
        if (!seenIn.has(m.id)) announce(`Pesan baru dari ${nameOf(chat.customer)}: ${m.body || typeText(m) || 'foto'}`);
      }
    }
    seenIn = new Set(ins.map((m) => m.id));
    if (customerPage) {
      if (first) drawCustomerPage();
      return;
    }
    if (first || !chatPane.contains(msgBox)) drawChat({ focus: first });
    else {
      drawMessages();
      // The window opened or closed meanwhile: the other composer. A reply
      // being typed is kept (the window only reopens when they write).
      if (wasOpen !== chat.customer.window_open || chat.customer.window_open === false) drawComposer();
    }
    markRead();
  }

  async function loadOlder(ev) {
    const btn = ev.currentTarget;
    const oldest = chat.messages[0];
    if (!oldest) return;
    btn.disabled = true;
    btn.textContent = 'Memuat…';
    try {
      const r = await get(`/customers/${selected}/messages?limit=${PAGE}&before=${encodeURIComponent(oldest.id)}`);
      if (!alive) return;
      const got = (Array.isArray(r.messages) ? r.messages : []).filter((m) => !chat.messages.some((x) => x.id === m.id));
      chat.messages = got.concat(chat.messages);
      chat.has_more = Boolean(r.has_more);
      drawMessages({ keepScroll: true });
    } catch (err) {
      if (!alive) return;
      btn.disabled = false;
      btn.textContent = 'Muat pesan sebelumnya';
      ctx.toast(errorText(err), 'error');
    }
  }

  const SEND_ERRORS = {
    window_closed: 'Jendela 24 jam sudah tertutup: pelanggan belum menulis lagi. Kirim template.',
    no_whatsapp: 'Pelanggan ini tidak punya nomor WhatsApp.',
    whatsapp_off: 'WhatsApp belum diaktifkan di server ini.',
    idempotency_key_reused: 'Pesan ini bentrok dengan kiriman sebelumnya. Muat ulang chat, lalu kirim lagi.',
    duplicate_request: 'Pesan ini sedang dikirim. Tunggu sebentar.',
  };

  // The Idempotency-Key of the message being written: kept while its text
  // stays the same (a retry after a failure), new for another text; the
  // template's likewise until it went out.
  let draft = { text: null, key: null };
  let templateKey = null;

  async function sendText(ta, btn) {
    const text = ta.value.trim();
    if (sending) return;
    if (!text) {
      showChatMsg('Tulis balasan dulu.');
      ta.focus();
      return;
    }
    sending = true;
    btn.disabled = true;
    btn.textContent = 'Mengirim…';
    showChatMsg('');
    if (draft.text !== text) draft = { text, key: newKey() };
    try {
      const r = await post(`/customers/${selected}/messages`, { text }, { headers: { 'Idempotency-Key': draft.key } });
      draft = { text: null, key: null };
      if (!alive) return;
      ta.value = '';
      if (r && r.message && !chat.messages.some((m) => m.id === r.message.id)) chat.messages.push(r.message);
      msgBox.dataset.drawn = '';
      drawMessages();
      announce('Balasan dikirim');
      refetchSoon();
    } catch (err) {
      if (!alive) return;
      if (err.code === 'window_closed') {
        chat.customer.window_open = false;
        drawComposer();
      }
      // a key the server holds for another message: the next press starts afresh
      if (err.code === 'idempotency_key_reused') draft = { text: null, key: null };
      showChatMsg(errorText(err, SEND_ERRORS));
    } finally {
      sending = false;
      if (btn.isConnected) {
        btn.disabled = false;
        btn.textContent = 'Kirim';
        if (ta.isConnected) ta.focus();
      }
    }
  }

  async function sendTemplate(btn) {
    if (sending) return;
    sending = true;
    btn.disabled = true;
    btn.textContent = 'Mengirim…';
    showChatMsg('');
    if (!templateKey) templateKey = newKey();
    try {
      const r = await post(`/customers/${selected}/messages`, { template: 'followup' }, { headers: { 'Idempotency-Key': templateKey } });
      templateKey = null;
      if (!alive) return;
      if (r && r.message && !chat.messages.some((m) => m.id === r.message.id)) chat.messages.push(r.message);
      msgBox.dataset.drawn = '';
      drawMessages();
      drawComposer();
      announce('Template dikirim');
      refetchSoon();
    } catch (err) {
      if (!alive) return;
      if (err.code === 'idempotency_key_reused') templateKey = null;
      showChatMsg(errorText(err, SEND_ERRORS));
    } finally {
      sending = false;
      if (btn.isConnected) {
        btn.disabled = false;
        btn.textContent = 'Kirim Template';
      }
    }
  }

  // ---- the customer's data (/inbox/{id}/pelanggan) ---------------------------------
  async function drawCustomerPage() {
    const id = selected;
    const body = h('div', { class: 'cust-page' });
    replace(chatPane,
      h('header', { class: 'chat-head' },
        h('a', { class: 'btn btn-ghost btn-sm', href: `#/inbox/${id}` }, '← Kembali ke chat'),
        h('div', { class: 'chat-who' }, h('h2', { id: 'inbox-chat-title', tabindex: '-1' },
          chat ? `Data Pelanggan · ${nameOf(chat.customer)}` : 'Data Pelanggan'))),
      body);
    chatPane.querySelector('#inbox-chat-title').focus();
    replace(body, h('div', { class: 'state state-loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Memuat pelanggan…'));
    let c;
    let tickets = [];
    try {
      c = await get(`/customers/${id}`);
      const t = await get('/tickets?limit=200').catch(() => null);
      tickets = ((t && t.tickets) || []).filter((x) => Number(x.customer_id) === id);
    } catch (err) {
      if (!alive) return;
      replace(body, h('div', { class: 'state state-error', role: 'alert' }, h('p', null, errorText(err))));
      return;
    }
    if (!alive) return;
    const name = h('input', { id: 'cust-name', type: 'text', maxlength: '200', required: true, value: c.name || '', autocomplete: 'off' });
    const address = h('textarea', { id: 'cust-address', rows: '3', maxlength: '500', placeholder: 'Jalan, nomor, RT/RW, kelurahan, kecamatan' });
    address.value = c.address || '';
    const msg = h('div', { class: 'form-message', role: 'status', hidden: true });
    const addrHint = c.address ? null : h('p', { class: 'hint' }, 'Alamat belum ada: tanyakan di chat, lalu simpan di sini.');
    const save = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Simpan');
    const form = h('form', {
      class: 'card cust-form', novalidate: true,
      on: {
        submit: async (ev) => {
          ev.preventDefault();
          const n = name.value.trim();
          if (!n) {
            msg.hidden = false;
            msg.className = 'form-message form-message-error';
            msg.textContent = 'Nama tidak boleh kosong.';
            return;
          }
          save.disabled = true;
          try {
            const saved = await api('PATCH', `/customers/${id}`, { name: n, address: address.value.trim() });
            if (!alive) return;
            // What the server stored, in words, so that CS checks it
            // against the chat: the form shows it too.
            const got = saved && typeof saved.name === 'string' ? saved : { name: n, address: address.value.trim() };
            name.value = got.name;
            address.value = got.address || '';
            msg.className = 'form-message form-message-ok';
            replace(msg, h('p', null, 'Data pelanggan tersimpan.'),
              h('p', { class: 'small', dataset: { testid: 'customer-saved-name' } }, `Nama: ${got.name}`),
              h('p', { class: 'small', dataset: { testid: 'customer-saved-address' } },
                `Alamat: ${got.address ? got.address : 'belum diisi'}`));
            msg.hidden = false;
            if (addrHint && address.value.trim()) addrHint.remove();
            loadList();
          } catch (err) {
            if (!alive) return;
            msg.className = 'form-message form-message-error';
            msg.textContent = errorText(err);
            msg.hidden = false;
          } finally {
            save.disabled = false;
          }
        },
      },
    },
    h('h3', { class: 'panel-title' }, 'Data tersimpan'),
    h('dl', { class: 'cust-facts' },
      h('dt', null, 'WhatsApp'), h('dd', null, c.phone ? phoneDisplay(c.phone) : 'Nomor disembunyikan'),
      h('dt', null, 'Sumber'), h('dd', null, c.source === 'wa' ? 'Dari chat WhatsApp' : 'Dicatat CS'),
      h('dt', null, 'Sejak'), h('dd', null, jakartaDate(c.created_at))),
    h('div', { class: 'field' }, h('label', { for: 'cust-name' }, 'Nama'), name),
    h('div', { class: 'field' }, h('label', { for: 'cust-address' }, 'Alamat'), address, addrHint),
    msg,
    h('div', { class: 'form-actions' }, save));
    const ticketList = tickets.length
      ? h('ul', { class: 'cust-tickets' }, tickets.map((t) => h('li', null,
        h('a', { class: 'link strong', href: `#/tiket/${t.id}` }, t.code), ' ',
        h('span', { class: 'muted small' }, `${jakartaDate(t.scheduled_at)} · ${t.problem || ''}`))))
      : h('p', { class: 'muted' }, 'Belum ada tiket untuk pelanggan ini.');
    replace(body, form,
      h('section', { class: 'card', 'aria-labelledby': 'cust-tickets-title' },
        h('h3', { class: 'panel-title', id: 'cust-tickets-title' }, 'Tiket pelanggan'),
        ticketList,
        h('div', { class: 'btn-row' },
          h('a', { class: 'btn btn-primary btn-sm', href: chat ? ticketHref() : `#/tiket/baru?customer=${id}` },
            h('span', { 'aria-hidden': 'true' }, '+ '), 'Buat Tiket'))));
  }

  // ---- freshness ---------------------------------------------------------------------
  function refetchSoon() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(() => {
      if (!alive) return;
      loadList();
      if (selected) loadChat();
    }, REFETCH_MS);
  }

  const unsub = ctx.feed.subscribe((c) => {
    if (c.type === 'inbox') refetchSoon();
    else if (c.type === 'resync' && c.reason !== 'invoice') refetchSoon();
  });
  const poll = () => {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(() => {
      if (!alive) return;
      if (ctx.feed.status !== 'live') refetchSoon();
      poll();
    }, POLL_MS);
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible' && selected && chat) markRead();
  };
  document.addEventListener('visibilitychange', onVisible);
  poll();

  drawList();
  loadList({ spinner: true });
  if (selected) loadChat({ first: true });
  else {
    drawNoChat();
    setTimeout(() => { if (alive && !document.activeElement.closest('.inbox')) search.focus(); }, 0);
  }

  return () => {
    alive = false;
    clearTimeout(refetchTimer);
    clearTimeout(pollTimer);
    clearTimeout(searchTimer);
    document.removeEventListener('visibilitychange', onVisible);
    unsub();
  };
}
