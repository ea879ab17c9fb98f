// img2img's init image: dropped, pasted or picked, previewed, and rendered to the output size.

import { SMALL_PX, el, state } from './state.js';
import { int } from './util.js';
import { showError, hideError } from './status.js';

export function setInitImage(img, name) {
  state.init = { img, name: name || 'image' };
  el.initPreview.src = img.src;
  el.initPreview.hidden = false;
  el.dropEmpty.hidden = true;
  el.drop.classList.add('has-image');
  el.img2imgControls.hidden = false;
  el.initNote.hidden = false;
  el.drop.setAttribute('aria-label', `Init image: ${state.init.name}. Press to pick another.`);
  updateInitPreview();
}

export function updateInitPreview() {
  if (!state.init) return;
  const w = int(el.width, 0), h = int(el.height, 0);
  el.initPreview.style.aspectRatio = w > 0 && h > 0 ? `${w} / ${h}` : '';
  const small = w > 0 && Math.max(w, h) < SMALL_PX && Math.max(state.init.img.naturalWidth, state.init.img.naturalHeight) < SMALL_PX;
  el.initPreview.classList.toggle('pixelated', small);
}

export function clearInit() {
  state.init = null;
  el.initPreview.removeAttribute('src');
  el.initPreview.hidden = true;
  el.dropEmpty.hidden = false;
  el.drop.classList.remove('has-image');
  el.img2imgControls.hidden = true;
  el.initNote.hidden = true;
  el.initFile.value = '';
  el.drop.setAttribute('aria-label', 'Init image: drop an image here or press to pick one');
}

export function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('This file could not be read as an image.'));
    img.src = src;
  });
}

function readFileAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(new Error('The file could not be read.'));
    r.readAsDataURL(file);
  });
}

export async function handleFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showError(`"${file.name}" is not an image.`);
    return;
  }
  try {
    const img = await loadImage(await readFileAsDataUrl(file));
    setInitImage(img, file.name);
    hideError();
  } catch (err) {
    showError(err.message);
  }
}

// The server reads PNG only, at the output size: crop to the aspect ("cover") and resize here.
export function renderInit(w, h) {
  const img = state.init.img;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const iw = img.naturalWidth, ih = img.naturalHeight;
  const scale = Math.max(w / iw, h / ih);
  const sw = w / scale, sh = h / scale;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, (iw - sw) / 2, (ih - sh) / 2, sw, sh, 0, 0, w, h);
  return canvas.toDataURL('image/png');
}
