// diffuse web page: talks to the server's AUTOMATIC1111 API on the same origin.
// Plain JavaScript modules, no dependencies, no build step. This one wires the page's events and starts it.

import { GALLERY_KEY, el, state } from './state.js';
import { round8, int, fmtNum } from './util.js';
import { showError, hideError, setStatus, setDot } from './status.js';
import { loadServerInfo, applyDefaults, presets, syncPreset, setSize, validateSize, setSteps, saveForm, reuse } from './form.js';
import { clearInit, handleFile } from './img2img.js';
import { generate } from './generate.js';
import { interrupt } from './progress.js';
import { setStage, showResult } from './stage.js';
import { loadGallery, persistGallery, removeFromGallery, renderGallery, openViewer, closeViewer, download, toInit } from './gallery.js';

// ---------------------------------------------------------------- events

function bind() {
  el.form.addEventListener('submit', (ev) => { ev.preventDefault(); generate(); });
  el.interrupt.addEventListener('click', interrupt);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !ev.altKey) {
      ev.preventDefault();
      if (el.viewer.open) closeViewer();
      generate();
    }
  });
  if (/Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) el.kbdHint.textContent = '⌘ Enter';

  el.stepsRange.addEventListener('input', () => { el.steps.value = el.stepsRange.value; saveForm(); });
  el.steps.addEventListener('input', () => { if (el.steps.value !== '') el.stepsRange.value = el.steps.value; });
  el.steps.addEventListener('change', () => { setSteps(el.steps.value); saveForm(); });
  el.cfgRange.addEventListener('input', () => { el.cfg.value = fmtNum(+el.cfgRange.value); saveForm(); });
  el.cfg.addEventListener('input', () => { if (el.cfg.value !== '') el.cfgRange.value = el.cfg.value; });

  el.preset.addEventListener('change', () => {
    const p = presets[+el.preset.value];
    if (p) setSize(p.w, p.h);
    saveForm();
  });
  for (const input of [el.width, el.height]) {
    input.addEventListener('input', () => { validateSize(); syncPreset(); });
    input.addEventListener('change', () => {
      const v = int(input, 0);
      if (v > 0) input.value = String(round8(v));
      validateSize();
      syncPreset();
      saveForm();
    });
  }
  el.swap.addEventListener('click', () => { setSize(el.height.value, el.width.value); saveForm(); });

  el.seedRandom.addEventListener('click', () => { el.seed.value = '-1'; saveForm(); });
  el.seedReuse.addEventListener('click', () => {
    if (state.lastSeed !== null && Number.isFinite(state.lastSeed)) { el.seed.value = String(state.lastSeed); saveForm(); }
  });

  el.strength.addEventListener('input', () => { el.strengthOut.textContent = fmtNum(+el.strength.value); saveForm(); });
  el.drop.addEventListener('click', (ev) => { if (ev.target !== el.initFile) el.initFile.click(); });
  el.drop.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); el.initFile.click(); }
  });
  el.initFile.addEventListener('change', () => handleFile(el.initFile.files && el.initFile.files[0]));
  for (const type of ['dragenter', 'dragover']) {
    el.drop.addEventListener(type, (ev) => { ev.preventDefault(); el.drop.classList.add('over'); });
  }
  for (const type of ['dragleave', 'dragend']) {
    el.drop.addEventListener(type, () => el.drop.classList.remove('over'));
  }
  el.drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    el.drop.classList.remove('over');
    const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
    handleFile(f);
  });
  // A file dropped anywhere else would make the browser navigate away from the page.
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer && ev.dataTransfer.files && ev.dataTransfer.files[0];
    if (f) handleFile(f);
  });
  document.addEventListener('paste', (ev) => {
    const items = ev.clipboardData ? Array.from(ev.clipboardData.items) : [];
    const it = items.find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (it) { ev.preventDefault(); handleFile(it.getAsFile()); }
  });
  el.clearInit.addEventListener('click', clearInit);
  el.resetDefaults.addEventListener('click', () => { if (state.defaults) { applyDefaults(); saveForm(); setStatus('Model defaults restored'); } });

  el.form.addEventListener('input', saveForm);
  el.form.addEventListener('change', saveForm);
  el.errorClose.addEventListener('click', hideError);

  el.resultReuse.addEventListener('click', () => state.result && reuse(state.result.entries[state.result.index]));
  el.resultDownload.addEventListener('click', () => state.result && download(state.result.entries[state.result.index]));
  el.resultInit.addEventListener('click', () => state.result && toInit(state.result.entries[state.result.index]));
  el.stageImg.addEventListener('click', () => { if (!state.running && state.result) openViewer(state.result.entries[state.result.index]); });

  el.galleryClear.addEventListener('click', () => {
    if (!confirm('Delete all ' + state.gallery.length + ' pictures from this browser?')) return;
    state.gallery = [];
    persistGallery();
    renderGallery();
  });

  el.viewerClose.addEventListener('click', closeViewer);
  el.viewer.addEventListener('click', (ev) => { if (ev.target === el.viewer) closeViewer(); });
  el.viewer.addEventListener('close', () => { state.viewing = null; });
  el.viewerReuse.addEventListener('click', () => {
    const e = state.viewing;
    if (!e) return;
    reuse(e);
    closeViewer();
    el.prompt.focus();
  });
  el.viewerDownload.addEventListener('click', () => state.viewing && download(state.viewing));
  el.viewerInit.addEventListener('click', () => { const e = state.viewing; if (e) { closeViewer(); toInit(e); } });
  el.viewerDelete.addEventListener('click', () => {
    const e = state.viewing;
    if (!e) return;
    closeViewer();
    removeFromGallery(e.id);
    if (state.result && state.result.entries.some((x) => x.id === e.id)) {
      const rest = state.result.entries.filter((x) => x.id !== e.id);
      if (rest.length) showResult(rest, 0);
      else { state.result = null; el.resultBar.hidden = true; setStage(null); }
    }
  });
  window.addEventListener('storage', (ev) => {
    if (ev.key === GALLERY_KEY) loadGallery(); // another tab of this page changed the history
  });
}

// ---------------------------------------------------------------- start

async function start() {
  bind();
  loadGallery();
  el.generate.disabled = true;
  for (let attempt = 0; ; attempt++) {
    try {
      await loadServerInfo();
      hideError();
      el.generate.disabled = false;
      document.documentElement.dataset.ready = 'true';
      return;
    } catch (err) {
      setDot('bad');
      el.modelName.textContent = 'server unreachable';
      showError('Cannot load the server settings: ' + err.message + ' Retrying…');
      await new Promise((r) => setTimeout(r, Math.min(10000, 1500 * (attempt + 1))));
    }
  }
}

start();
