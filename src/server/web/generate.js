// One generation: the request, the page's running state, and the answer turned into pictures.

import { FIRST_POLL_MS, el, state } from './state.js';
import { api } from './api.js';
import { fmtDuration, stripDataPrefix } from './util.js';
import { showError, hideError, setStatus, setProgress, setDot } from './status.js';
import { labelOfScheduler, readForm } from './form.js';
import { schedulePoll, stopPolling } from './progress.js';
import { setStage, showResult } from './stage.js';
import { addToGallery } from './gallery.js';

export async function generate() {
  if (state.running) return;
  hideError();
  let body;
  try {
    body = readForm();
  } catch (err) {
    showError(err.message);
    return;
  }
  const mode = body.init_images ? 'img2img' : 'txt2img';
  const token = ++state.runToken;
  state.running = true;
  state.startedAt = performance.now();
  el.generate.disabled = true;
  el.generate.classList.add('running');
  el.generateLabel.textContent = 'Generating';
  el.stageHint.textContent = 'Working on it…';
  el.interrupt.disabled = false;
  el.interrupt.textContent = 'Interrupt';
  el.stage.classList.add('running');
  setDot('busy');
  setProgress('waiting', 0);
  setStatus(mode === 'img2img' ? 'Sending image…' : 'Starting…');
  if (window.matchMedia('(max-width: 860px)').matches) {
    el.progress.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
  schedulePoll(token, FIRST_POLL_MS);

  let res = null, error = null;
  try {
    res = await api('sdapi/v1/' + mode, { method: 'POST', body: JSON.stringify(body) });
  } catch (err) {
    error = err;
  }
  if (token !== state.runToken) return;
  stopPolling();
  let interrupted = state.interrupting;
  state.interrupting = false;
  state.running = false;
  el.generate.disabled = false;
  el.generate.classList.remove('running');
  el.generateLabel.textContent = 'Generate';
  el.stageHint.textContent = 'Your pictures appear here.';
  el.interrupt.disabled = true;
  el.stage.classList.remove('running');
  const secs = (performance.now() - state.startedAt) / 1000;

  if (error) {
    setDot(error.status === 0 ? 'bad' : 'ok');
    setProgress('error', 0);
    if (error.status === 503) {
      const wait = error.retryAfter ? ` in ${error.retryAfter} s` : ' in a moment';
      showError(`The server is busy (its queue is full): retry${wait}.`, 'warn');
      setStatus('Busy, retry');
    } else {
      showError(error.status ? `${error.message} (HTTP ${error.status})` : error.message);
      setStatus('Failed');
    }
    restoreStageAfterRun();
    return;
  }
  setDot('ok');
  if (parseInfo(res && res.info).interrupted === true) interrupted = true;
  const entries = entriesFromResponse(res, body, mode);
  if (!entries.length) {
    setProgress('idle', 0);
    setStatus(interrupted ? 'Interrupted: no image was finished' : 'The server returned no image');
    restoreStageAfterRun();
    return;
  }
  state.lastSeed = entries[0].seed;
  el.seedReuse.disabled = !Number.isFinite(state.lastSeed);
  addToGallery(entries);
  showResult(entries, 0);
  setProgress('done', 1);
  const n = entries.length;
  setStatus(`${interrupted ? 'Interrupted, kept' : 'Done:'} ${n} image${n > 1 ? 's' : ''} in ${fmtDuration(secs)}`);
}

function restoreStageAfterRun() {
  if (state.result) showResult(state.result.entries, state.result.index);
  else setStage(null);
}

function parseInfo(info) {
  if (info && typeof info === 'object') return info;
  if (typeof info !== 'string' || !info) return {};
  try { return JSON.parse(info) || {}; } catch (_) { return {}; }
}

function entriesFromResponse(res, body, mode) {
  const images = res && Array.isArray(res.images) ? res.images : [];
  const info = parseInfo(res && res.info);
  const p = Object.assign({}, body, res && res.parameters && typeof res.parameters === 'object' ? res.parameters : {});
  const seeds = Array.isArray(info.all_seeds) ? info.all_seeds : [];
  const infotexts = Array.isArray(info.infotexts) ? info.infotexts : [];
  const baseSeed = Number.isFinite(+info.seed) ? +info.seed : +p.seed;
  const now = Date.now();
  return images.filter((b) => typeof b === 'string' && b.length).map((b64, i) => ({
    id: now.toString(36) + '-' + i + '-' + Math.random().toString(36).slice(2, 7),
    t: now,
    image: stripDataPrefix(b64),
    mode,
    prompt: info.prompt !== undefined ? info.prompt : p.prompt,
    negative_prompt: info.negative_prompt !== undefined ? info.negative_prompt : p.negative_prompt,
    seed: Number.isFinite(+seeds[i]) ? +seeds[i] : (Number.isFinite(baseSeed) && baseSeed >= 0 ? baseSeed + i : -1),
    steps: +(info.steps || p.steps),
    cfg_scale: +(info.cfg_scale !== undefined ? info.cfg_scale : p.cfg_scale),
    width: +(info.width || p.width),
    height: +(info.height || p.height),
    sampler_name: info.sampler_name || p.sampler_name,
    scheduler: labelOfScheduler(info.scheduler || body.scheduler),
    denoising_strength: mode === 'img2img' ? +(info.denoising_strength !== undefined ? info.denoising_strength : body.denoising_strength) : undefined,
    model: info.sd_model_name || state.model,
    infotext: typeof infotexts[i] === 'string' ? infotexts[i] : '',
  }));
}
