// Calls to the server's API (same origin): JSON in, JSON out, errors as ApiError with the server's message.

class ApiError extends Error {
  constructor(message, status, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(path, {
      ...options,
      headers: options.body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
    });
  } catch (err) {
    throw new ApiError('Cannot reach the server (' + (err && err.message ? err.message : 'network error') + ').', 0);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (!res.ok) {
    let msg = '';
    if (data && typeof data === 'object') {
      const d = data.detail !== undefined ? data.detail : data.error;
      if (typeof d === 'string') msg = d;
      else if (d && typeof d === 'object' && typeof d.message === 'string') msg = d.message;
      else if (d !== undefined && d !== null) msg = JSON.stringify(d);
      if (typeof data.field === 'string' && data.field && msg && !msg.includes(data.field)) msg = data.field + ': ' + msg;
    }
    if (!msg) msg = (text && text.length < 300 ? text.trim() : '') || res.statusText || 'request failed';
    const ra = parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(msg, res.status, Number.isFinite(ra) ? ra : null);
  }
  if (data === null && text) throw new ApiError('The server answered with something that is not JSON.', res.status);
  return data;
}
