// The history of pictures (kept in localStorage, shared between tabs) and the picture viewer.

import { GALLERY_KEY, GALLERY_MAX, el, state } from './state.js';
import { fmtNum, b64ToBlob, pngUrl, setImage } from './util.js';
import { showError, setStatus } from './status.js';
import { setSize } from './form.js';
import { setInitImage, loadImage } from './img2img.js';
import { metaLine } from './stage.js';

// ---------------------------------------------------------------- gallery

function readStoredGallery() {
  try {
    const raw = localStorage.getItem(GALLERY_KEY);
    const list = raw ? JSON.parse(raw) : [];
    return Array.isArray(list) ? list.filter((e) => e && typeof e.image === 'string' && e.id) : [];
  } catch (_) {
    return [];
  }
}

// Newest first, each picture once: what another tab of this page saved meanwhile is kept too.
function mergeGallery(...lists) {
  const seen = new Set();
  const out = [];
  for (const e of [].concat(...lists)) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    out.push(e);
  }
  return out.sort((a, b) => (b.t || 0) - (a.t || 0)).slice(0, GALLERY_MAX);
}

export function loadGallery() {
  state.gallery = readStoredGallery().slice(0, GALLERY_MAX);
  state.persisted = state.gallery.length;
  renderGallery();
}

function isQuotaError(err) {
  return err && (err.name === 'QuotaExceededError' || err.name === 'NS_ERROR_DOM_QUOTA_REACHED' || err.code === 22 || err.code === 1014);
}

// Saves the newest entries that fit; the rest stay in this tab's memory only.
export function persistGallery() {
  let n = state.gallery.length;
  while (true) {
    try {
      if (n === 0) localStorage.removeItem(GALLERY_KEY);
      else localStorage.setItem(GALLERY_KEY, JSON.stringify(state.gallery.slice(0, n)));
      state.persisted = n;
      state.storageOk = true;
      break;
    } catch (err) {
      if (isQuotaError(err) && n > 0) { n -= 1; continue; }
      state.persisted = 0;
      state.storageOk = false;
      break;
    }
  }
  updateGalleryWarning();
}

function updateGalleryWarning() {
  const unsaved = state.gallery.length - state.persisted;
  if (!state.storageOk) {
    el.galleryWarn.textContent = 'This browser does not allow saving: the history lasts until the page is closed.';
    el.galleryWarn.hidden = false;
  } else if (unsaved > 0) {
    el.galleryWarn.textContent = `Browser storage is full: the ${unsaved} oldest picture${unsaved > 1 ? 's are' : ' is'} kept only until the page is closed. Download what you want to keep.`;
    el.galleryWarn.hidden = false;
  } else {
    el.galleryWarn.hidden = true;
  }
}

export function addToGallery(entries) {
  state.gallery = mergeGallery(entries, state.gallery, readStoredGallery());
  persistGallery();
  renderGallery();
}

export function removeFromGallery(id) {
  state.gallery = state.gallery.filter((e) => e.id !== id);
  persistGallery();
  renderGallery();
}

export function renderGallery() {
  el.gallery.textContent = '';
  const frag = document.createDocumentFragment();
  for (const e of state.gallery) {
    const li = document.createElement('li');
    li.dataset.id = e.id;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'tile';
    b.dataset.seed = String(e.seed);
    b.setAttribute('aria-label', `Open picture: ${e.prompt || '(no prompt)'}, ${metaLine(e)}`);
    const box = document.createElement('div');
    box.className = 'tile-img';
    const im = document.createElement('img');
    im.alt = '';
    im.loading = 'lazy';
    im.decoding = 'async';
    setImage(im, pngUrl(e.image), e.width, e.height);
    box.appendChild(im);
    const cap = document.createElement('div');
    cap.className = 'cap';
    const cp = document.createElement('span');
    cp.className = 'cap-prompt';
    cp.textContent = e.prompt || '(no prompt)';
    const cm = document.createElement('span');
    cm.className = 'cap-meta';
    cm.textContent = `${e.width}×${e.height} · ${e.steps} steps · seed ${e.seed}`;
    cap.append(cp, cm);
    b.append(box, cap);
    b.addEventListener('click', () => openViewer(e));
    li.appendChild(b);
    frag.appendChild(li);
  }
  el.gallery.appendChild(frag);
  const n = state.gallery.length;
  el.galleryCount.textContent = n ? `(${n})` : '';
  el.galleryEmpty.hidden = n > 0;
  el.galleryClear.hidden = n === 0;
  updateGalleryWarning();
}

// ---------------------------------------------------------------- viewer

export function openViewer(e) {
  state.viewing = e;
  el.viewerImg.style.setProperty('--viewer-ar', `${e.width} / ${e.height}`);
  setImage(el.viewerImg, pngUrl(e.image), e.width, e.height);
  el.viewerImg.alt = e.prompt ? `Picture: ${e.prompt}` : 'Picture';
  el.viewerTitle.textContent = e.mode === 'img2img' ? 'Picture (img2img)' : 'Picture';
  const rows = [
    ['Prompt', e.prompt || '—', 'prompt'],
    ['Negative', e.negative_prompt || '—', 'prompt'],
    ['Seed', e.seed],
    ['Size', `${e.width} × ${e.height}`],
    ['Steps', e.steps],
    ['Sampler', e.sampler_name],
    ['Scheduler', e.scheduler || 'Automatic'],
    ['CFG scale', fmtNum(e.cfg_scale)],
  ];
  if (e.mode === 'img2img') rows.push(['Strength', fmtNum(e.denoising_strength)]);
  if (e.model) rows.push(['Model', e.model]);
  rows.push(['Made', new Date(e.t).toLocaleString()]);
  el.viewerParams.textContent = '';
  for (const [k, v, cls] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    dd.dataset.param = k.toLowerCase().replace(/\s+/g, '_');
    if (cls) dd.className = cls;
    el.viewerParams.append(dt, dd);
  }
  if (typeof el.viewer.showModal === 'function') el.viewer.showModal();
  else el.viewer.setAttribute('open', '');
}

export function closeViewer() {
  if (el.viewer.open) el.viewer.close();
  state.viewing = null;
}

export function download(e) {
  const url = URL.createObjectURL(b64ToBlob(e.image));
  const a = document.createElement('a');
  a.href = url;
  const slug = (e.prompt || 'image').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'image';
  a.download = `diffuse-${slug}-${e.seed}.png`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function toInit(e) {
  try {
    const img = await loadImage(pngUrl(e.image));
    setInitImage(img, `seed ${e.seed}`);
    setSize(e.width, e.height);
    setStatus('Picture set as the img2img init image');
  } catch (err) {
    showError(err.message);
  }
}
