// Uploading a file as the raw request body, with progress.
//
// fetch() cannot report upload progress, so this uses XMLHttpRequest. The
// body is the File/Blob itself (no multipart): gssd streams it to disk and
// checks the type by its magic bytes (docs/fieldwork.md). The session cookie
// goes by itself (same origin); the CSRF token and any extra headers
// (Idempotency-Key) are set here. Failures are the same ApiError as api.js
// gives: status 0 / "network" when the server could not be reached, or when
// the transfer stalled for STALL_MS.

import { ApiError, csrfToken, refreshCsrf, sessionEnded } from './api.js';

const STALL_MS = 60000; // no byte moved for a minute on a phone: give up, retry later

/** sniffType(blob) → "image/jpeg" | "image/png" | "application/pdf" | '' from
 *  the first bytes, for a file the browser gave no type. */
export async function sniffType(blob) {
  let b;
  try {
    b = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
  } catch {
    return '';
  }
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b[0] === 0x25 && b[1] === 0x50 && b[2] === 0x44 && b[3] === 0x46) return 'application/pdf';
  return '';
}

function once(path, blob, type, headers, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let stall = null;
    let settled = false;
    const done = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(stall);
      if (signal) signal.removeEventListener('abort', onAbort);
      fn(v);
    };
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        xhr.abort();
        done(reject, new ApiError(0, 'network', 'unggahan macet'));
      }, STALL_MS);
    };
    const onAbort = () => {
      xhr.abort();
      done(reject, new DOMException('aborted', 'AbortError'));
    };
    xhr.open('POST', `/api/v1${path}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', type || 'application/octet-stream');
    const token = csrfToken();
    if (token) xhr.setRequestHeader('X-CSRF-Token', token);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener('progress', (e) => {
      armStall();
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : blob.size);
    });
    xhr.upload.addEventListener('load', () => {
      if (onProgress) onProgress(blob.size, blob.size);
    });
    xhr.addEventListener('readystatechange', armStall);
    xhr.addEventListener('error', () => done(reject, new ApiError(0, 'network', 'server tidak dapat dihubungi')));
    xhr.addEventListener('abort', () => done(reject, new ApiError(0, 'network', 'unggahan dibatalkan')));
    xhr.addEventListener('timeout', () => done(reject, new ApiError(0, 'network', 'waktu habis')));
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        done(resolve, data);
        return;
      }
      const e = (data && data.error) || {};
      const ra = Number(xhr.getResponseHeader('Retry-After'));
      done(reject, new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || xhr.statusText,
        Number.isFinite(ra) && ra >= 0 ? Math.ceil(ra) : null));
    });
    if (signal) {
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort);
    }
    armStall();
    xhr.send(blob);
  });
}

/**
 * uploadFile(path, blob, {type, headers, onProgress(loaded, total), signal})
 * → the parsed JSON of a 2xx answer, or throws ApiError. path is below
 * /api/v1. A stale CSRF token is refreshed from /me once; a 401 reports the
 * end of the session like api() does.
 */
export async function uploadFile(path, blob, { type, headers, onProgress, signal } = {}) {
  try {
    return await once(path, blob, type, headers, onProgress, signal);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 403 && err.code === 'csrf_failed' && (await refreshCsrf())) {
      return once(path, blob, type, headers, onProgress, signal);
    }
    if (err.status === 401) sessionEnded(err);
    throw err;
  }
}
