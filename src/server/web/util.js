// Small helpers: numbers, durations, base64 images, <img> and <select> elements.

import { SMALL_PX, state } from './state.js';

export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
export const round8 = (v) => Math.max(8, Math.round(v / 8) * 8);
export const num = (input, fallback) => {
  const v = parseFloat(input.value);
  return Number.isFinite(v) ? v : fallback;
};
export const int = (input, fallback) => {
  const v = parseInt(input.value, 10);
  return Number.isFinite(v) ? v : fallback;
};
export const fmtNum = (v) => (Number.isInteger(v) ? String(v) : String(+(+v).toFixed(2)));

export function fmtDuration(s) {
  if (!Number.isFinite(s) || s < 0) return '';
  if (s < 1) return '<1 s';
  if (s < 60) return Math.round(s) + ' s';
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return m + ' min' + (r ? ' ' + r + ' s' : '');
}

export function b64ToBlob(b64, type = 'image/png') {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type });
}

export const stripDataPrefix = (s) => (typeof s === 'string' ? s.replace(/^data:image\/[a-z+.-]+;base64,/i, '') : '');
export const pngUrl = (b64) => 'data:image/png;base64,' + b64;

export function setImage(img, src, w, h) {
  img.src = src;
  const apply = () => {
    if (img.src !== src || img.classList.contains('preview')) return; // replaced meanwhile
    const iw = img.naturalWidth || w || 0;
    const ih = img.naturalHeight || h || 0;
    img.classList.toggle('pixelated', iw > 0 && Math.max(iw, ih) < SMALL_PX);
  };
  if (w && h) img.classList.toggle('pixelated', Math.max(w, h) < SMALL_PX);
  if (img.complete && img.naturalWidth) apply(); else img.addEventListener('load', apply, { once: true });
}

export function setOptions(select, items, selected) {
  select.textContent = '';
  for (const it of items) {
    const o = document.createElement('option');
    o.value = it.value;
    o.textContent = it.label;
    select.appendChild(o);
  }
  if (selected !== undefined) selectValue(select, selected);
}

// Selects value (case-insensitively, also by alias); adds it when unknown so reuse never silently drops it.
export function selectValue(select, value, aliases) {
  if (value === undefined || value === null || value === '') return;
  const v = String(value).toLowerCase();
  for (const o of select.options) {
    if (o.value.toLowerCase() === v || o.textContent.toLowerCase() === v) { select.value = o.value; return; }
  }
  if (aliases) {
    for (const s of state.samplers) {
      if ((s.aliases || []).some((a) => String(a).toLowerCase() === v)) { select.value = s.name; return; }
    }
  }
  const o = document.createElement('option');
  o.value = String(value);
  o.textContent = String(value);
  select.appendChild(o);
  select.value = o.value;
}
