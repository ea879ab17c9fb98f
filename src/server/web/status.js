// The status line, the progress bar, the server dot and the error banner.

import { el } from './state.js';
import { clamp } from './util.js';

export function showError(message, kind) {
  el.errorText.textContent = message;
  el.error.classList.toggle('warn', kind === 'warn');
  el.error.hidden = false;
}
export function hideError() { el.error.hidden = true; }

export function setStatus(text, eta) {
  el.status.textContent = text;
  el.eta.textContent = eta || '';
}

export function setProgress(stateName, fraction) {
  el.progress.dataset.state = stateName;
  if (fraction !== undefined) {
    let pct = clamp(fraction, 0, 1) * 100;
    if (fraction > 0 && pct < 1) pct = 1;
    pct = Math.round(pct);
    el.progress.setAttribute('aria-valuenow', String(pct));
    el.progressFill.style.width = pct + '%';
  }
  if (stateName === 'waiting') el.progress.removeAttribute('aria-valuenow');
}

export function setDot(kind) {
  el.dot.className = 'dot' + (kind ? ' ' + kind : '');
}
