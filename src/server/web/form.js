// The form: server defaults and limits, size presets, sliders, saving and restoring its values,
// reading it into a request (with validation), and filling it from a picture's parameters.

import { $, FORM_KEY, el, state } from './state.js';
import { api } from './api.js';
import { clamp, round8, num, int, fmtNum, setOptions, selectValue } from './util.js';
import { setStatus, setDot } from './status.js';
import { updateInitPreview, renderInit } from './img2img.js';

// ---------------------------------------------------------------- loading server info

export async function loadServerInfo() {
  const [defaults, samplers, schedulers, options, models] = await Promise.allSettled([
    api('diffuse/v1/defaults'),
    api('sdapi/v1/samplers'),
    api('sdapi/v1/schedulers'),
    api('sdapi/v1/options'),
    api('sdapi/v1/sd-models'),
  ]);
  if ([defaults, samplers, schedulers, options, models].every((r) => r.status === 'rejected')) {
    throw defaults.reason;
  }
  state.defaults = Object.assign(
    { width: 512, height: 512, steps: 20, cfg_scale: 7, sampler_name: '', scheduler: 'Automatic', max_pixels: 0, max_steps: 150, max_batch: 8 },
    defaults.status === 'fulfilled' && defaults.value ? defaults.value : {});

  state.samplers = samplers.status === 'fulfilled' && Array.isArray(samplers.value) ? samplers.value : [];
  if (!state.samplers.length) state.samplers = [{ name: state.defaults.sampler_name || 'Euler a', aliases: [] }];
  setOptions(el.sampler, state.samplers.map((s) => ({ value: s.name, label: s.name })));

  state.schedulers = schedulers.status === 'fulfilled' && Array.isArray(schedulers.value) ? schedulers.value : [];
  if (!state.schedulers.length) state.schedulers = [{ name: 'automatic', label: 'Automatic' }, { name: 'karras', label: 'Karras' }];
  setOptions(el.scheduler, state.schedulers.map((s) => ({ value: s.label || s.name, label: s.label || s.name })));

  let model = '';
  if (options.status === 'fulfilled' && options.value) model = options.value.sd_model_checkpoint || '';
  if (!model && models.status === 'fulfilled' && Array.isArray(models.value) && models.value.length) {
    model = models.value[0].title || models.value[0].model_name || '';
  }
  state.model = model;
  el.modelName.textContent = model || 'model loaded';
  el.modelName.parentElement.title = 'Model: ' + (model || 'unknown');

  const d = state.defaults;
  el.steps.max = el.stepsRange.max = String(d.max_steps || 150);
  el.batch.max = String(d.max_batch || 8);
  buildPresets();
  applyDefaults();
  restoreForm();
  setDot('ok');
}

export function applyDefaults() {
  const d = state.defaults;
  selectValue(el.sampler, d.sampler_name, true);
  selectValue(el.scheduler, labelOfScheduler(d.scheduler));
  setSteps(d.steps);
  setCfg(d.cfg_scale);
  setSize(d.width, d.height);
  el.seed.value = '-1';
  el.batch.value = '1';
}

export function labelOfScheduler(v) {
  if (!v) return 'Automatic';
  const s = state.schedulers.find((x) => x.name === v || x.label === v || String(x.name).toLowerCase() === String(v).toLowerCase());
  return s ? (s.label || s.name) : v;
}

// ---------------------------------------------------------------- size presets

export let presets = [];
function buildPresets() {
  const d = state.defaults;
  const dw = d.width || 512, dh = d.height || 512;
  const maxPx = d.max_pixels || Infinity;
  const area = dw * dh;
  const grid = Math.max(dw, dh) >= 256 ? 64 : 8;
  const snap = (v) => Math.max(grid, Math.round(v / grid) * grid);
  const list = [];
  const add = (w, h, label) => {
    if (w * h > maxPx) return;
    if (list.some((p) => p.w === w && p.h === h)) return;
    list.push({ w, h, label });
  };
  add(dw, dh, (dw === dh ? 'square' : 'model') + ' · default');
  for (const s of [64, 256, 512, 768, 1024]) add(s, s, 'square');
  for (const [a, b, name] of [[2, 3, '2:3'], [3, 4, '3:4'], [9, 16, '9:16']]) {
    const w = snap(Math.sqrt(area * a / b));
    const h = snap(Math.sqrt(area * b / a));
    add(w, h, 'portrait ' + name);
    add(h, w, 'landscape ' + name.split(':').reverse().join(':'));
  }
  presets = list.sort((p, q) => (p.label.includes('default') ? -1 : q.label.includes('default') ? 1 : 0));
  const items = presets.map((p, i) => ({ value: String(i), label: `${p.w} × ${p.h}  ·  ${p.label}` }));
  items.push({ value: 'custom', label: 'Custom' });
  setOptions(el.preset, items);
  const note = [];
  note.push('Width × height, multiples of 8');
  if (d.max_pixels) note.push('at most ' + Math.floor(Math.sqrt(d.max_pixels)) + '² pixels');
  el.sizeNote.textContent = note.join(', ') + '.';
}

export function syncPreset() {
  const w = int(el.width, 0), h = int(el.height, 0);
  const i = presets.findIndex((p) => p.w === w && p.h === h);
  el.preset.value = i >= 0 ? String(i) : 'custom';
  updateInitPreview();
}

export function setSize(w, h) {
  if (Number.isFinite(+w) && +w > 0) el.width.value = String(round8(+w));
  if (Number.isFinite(+h) && +h > 0) el.height.value = String(round8(+h));
  validateSize();
  syncPreset();
}

export function validateSize() {
  const w = int(el.width, 0), h = int(el.height, 0);
  const maxPx = state.defaults && state.defaults.max_pixels;
  let msg = '';
  if (!(w >= 8) || w % 8) msg = 'Width must be a multiple of 8.';
  else if (!(h >= 8) || h % 8) msg = 'Height must be a multiple of 8.';
  else if (maxPx && w * h > maxPx) msg = `${w} × ${h} is above the server's limit of ${maxPx} pixels.`;
  el.width.classList.toggle('invalid', !!msg && /Width|above/.test(msg));
  el.height.classList.toggle('invalid', !!msg && /Height|above/.test(msg));
  return msg;
}

// ---------------------------------------------------------------- sliders

export function setSteps(v) {
  const s = clamp(Math.round(+v || 20), 1, +el.steps.max || 150);
  el.steps.value = String(s);
  el.stepsRange.value = String(s);
}
function setCfg(v) {
  const c = Number.isFinite(+v) ? +v : 7;
  el.cfg.value = fmtNum(c);
  el.cfgRange.value = String(c);
}

// ---------------------------------------------------------------- form persistence

const FORM_FIELDS = ['prompt', 'negative_prompt', 'sampler', 'scheduler', 'steps', 'cfg_scale', 'width', 'height', 'seed', 'batch_size', 'strength'];
let saveTimer = 0;
export function saveForm() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    const values = {};
    for (const id of FORM_FIELDS) values[id] = $(id).value;
    try { localStorage.setItem(FORM_KEY, JSON.stringify({ model: state.model, values })); } catch (_) { /* storage full or off */ }
  }, 250);
}
function restoreForm() {
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(FORM_KEY) || 'null'); } catch (_) { saved = null; }
  if (!saved || !saved.values) return;
  const v = saved.values;
  if (typeof v.prompt === 'string') el.prompt.value = v.prompt;
  if (typeof v.negative_prompt === 'string') el.negative.value = v.negative_prompt;
  if (saved.model !== state.model) return; // other settings suit the model they were made for
  if (v.sampler) selectValue(el.sampler, v.sampler);
  if (v.scheduler) selectValue(el.scheduler, v.scheduler);
  if (v.steps) setSteps(v.steps);
  if (v.cfg_scale) setCfg(v.cfg_scale);
  if (v.width && v.height) setSize(v.width, v.height);
  if (v.seed) el.seed.value = v.seed;
  if (v.batch_size) el.batch.value = v.batch_size;
  if (v.strength) { el.strength.value = v.strength; el.strengthOut.textContent = fmtNum(+v.strength); }
}

// ---------------------------------------------------------------- reading the form into a request

export function readForm() {
  const d = state.defaults || {};
  const sizeMsg = validateSize();
  if (sizeMsg) throw new Error(sizeMsg);
  const steps = int(el.steps, NaN);
  const maxSteps = d.max_steps || 150;
  if (!(steps >= 1 && steps <= maxSteps)) throw new Error(`Steps must be between 1 and ${maxSteps}.`);
  const cfg = num(el.cfg, NaN);
  if (!Number.isFinite(cfg)) throw new Error('CFG scale must be a number.');
  const batch = int(el.batch, NaN);
  const maxBatch = d.max_batch || 8;
  if (!(batch >= 1 && batch <= maxBatch)) throw new Error(`Images must be between 1 and ${maxBatch}.`);
  const seedText = el.seed.value.trim();
  const seed = seedText === '' ? -1 : Number(seedText);
  if (!Number.isInteger(seed) || seed < -1) throw new Error('Seed must be a whole number, or -1 for a random one.');
  const body = {
    prompt: el.prompt.value,
    negative_prompt: el.negative.value,
    seed,
    steps,
    cfg_scale: cfg,
    width: int(el.width, 0),
    height: int(el.height, 0),
    sampler_name: el.sampler.value,
    scheduler: el.scheduler.value,
    batch_size: batch,
    n_iter: 1,
  };
  if (state.init) {
    body.init_images = [renderInit(body.width, body.height)];
    body.denoising_strength = num(el.strength, 0.75);
  }
  return body;
}

// ---------------------------------------------------------------- filling the form from a picture

export function reuse(e) {
  el.prompt.value = e.prompt || '';
  el.negative.value = e.negative_prompt || '';
  if (e.sampler_name) selectValue(el.sampler, e.sampler_name, true);
  if (e.scheduler) selectValue(el.scheduler, labelOfScheduler(e.scheduler));
  setSteps(e.steps);
  setCfg(e.cfg_scale);
  setSize(e.width, e.height);
  if (Number.isFinite(+e.seed) && +e.seed >= 0) el.seed.value = String(e.seed);
  if (e.mode === 'img2img' && Number.isFinite(+e.denoising_strength)) {
    el.strength.value = String(e.denoising_strength);
    el.strengthOut.textContent = fmtNum(+e.denoising_strength);
  }
  saveForm();
  setStatus('Parameters loaded: seed ' + e.seed);
}
