// While a generation runs: polling its progress, the live preview, and interrupting it.

import { POLL_MS, el, state } from './state.js';
import { api } from './api.js';
import { clamp, int, fmtDuration, stripDataPrefix, pngUrl } from './util.js';
import { showError, setStatus, setProgress } from './status.js';
import { setStage } from './stage.js';

export function schedulePoll(token, delay) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(() => poll(token), delay);
}
export function stopPolling() {
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
}

async function poll(token) {
  if (!state.running || token !== state.runToken) return;
  let p = null;
  try {
    p = await api('sdapi/v1/progress?skip_current_image=false');
  } catch (_) {
    p = null; // transient: keep polling
  }
  if (!state.running || token !== state.runToken) return;
  if (p) showProgress(p);
  schedulePoll(token, POLL_MS);
}

function showProgress(p) {
  const st = p.state || {};
  const frac = Number.isFinite(+p.progress) ? clamp(+p.progress, 0, 1) : 0;
  const step = +st.sampling_step || 0;
  const steps = +st.sampling_steps || 0;
  const elapsed = (performance.now() - state.startedAt) / 1000;
  if (frac > 0 || step > 0) {
    setProgress('running', frac);
    const parts = [];
    if (steps) parts.push(`Step ${Math.min(step, steps)} / ${steps}`);
    parts.push(Math.round(frac * 100) + '%');
    const images = (+el.batch.value || 1);
    if (images > 1 && Number.isFinite(+st.job_no)) parts.push(`image ${Math.min(+st.job_no + 1, images)} / ${images}`);
    const eta = +p.eta_relative;
    setStatus(state.interrupting ? 'Interrupting…' : parts.join(' · '),
      Number.isFinite(eta) && eta > 0 ? 'ETA ' + fmtDuration(eta) : fmtDuration(elapsed) + ' elapsed');
  } else {
    setProgress('waiting');
    setStatus(state.interrupting ? 'Interrupting…' : 'Waiting for the server…', fmtDuration(elapsed) + ' elapsed');
  }
  if (typeof p.current_image === 'string' && p.current_image.length) {
    const w = int(el.width, 0), h = int(el.height, 0);
    setStage(pngUrl(stripDataPrefix(p.current_image)), w, h, 'Preview of the picture being made', true);
  }
}

export async function interrupt() {
  if (!state.running) return;
  state.interrupting = true;
  el.interrupt.disabled = true;
  el.interrupt.textContent = 'Interrupting…';
  setStatus('Interrupting…');
  try {
    await api('sdapi/v1/interrupt', { method: 'POST', body: '{}' });
  } catch (err) {
    showError('Interrupt failed: ' + err.message);
    el.interrupt.disabled = !state.running;
    el.interrupt.textContent = 'Interrupt';
  }
}
