// The stage: the picture being shown, and the bar of the run's pictures under it.

import { el, state } from './state.js';
import { fmtNum, pngUrl, setImage } from './util.js';

export function metaLine(e) {
  const parts = [`seed ${e.seed}`, `${e.width}×${e.height}`, `${e.steps} steps`, e.sampler_name];
  if (e.scheduler && e.scheduler !== 'Automatic') parts.push(e.scheduler);
  parts.push(`CFG ${fmtNum(e.cfg_scale)}`);
  if (e.mode === 'img2img') parts.push(`strength ${fmtNum(e.denoising_strength)}`);
  return parts.filter(Boolean).join(' · ');
}

// The stage takes the picture's aspect ratio; empty, it shows a placeholder.
export function setStage(src, w, h, alt, preview) {
  if (!src) {
    el.stage.classList.add('empty');
    el.stageImg.hidden = true;
    el.stageImg.removeAttribute('src');
    el.stageEmpty.hidden = false;
    return;
  }
  if (w > 0 && h > 0) {
    el.stage.style.setProperty('--stage-ar', `${w} / ${h}`);
    el.stage.style.setProperty('--stage-ratio', String(w / h));
  }
  el.stage.classList.remove('empty');
  el.stageImg.classList.toggle('preview', !!preview);
  if (preview) { el.stageImg.classList.remove('pixelated'); el.stageImg.src = src; } // latent previews are tiny: smooth them
  else setImage(el.stageImg, src, w, h);
  el.stageImg.alt = alt || '';
  el.stageImg.hidden = false;
  el.stageEmpty.hidden = true;
}

export function showResult(entries, index) {
  state.result = { entries, index };
  const e = entries[index];
  setStage(pngUrl(e.image), e.width, e.height, e.prompt ? `Generated picture: ${e.prompt}` : 'Generated picture');
  el.resultBar.hidden = false;
  el.resultMeta.textContent = metaLine(e);
  el.resultThumbs.textContent = '';
  if (entries.length > 1) {
    entries.forEach((x, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'thumb';
      b.setAttribute('role', 'listitem');
      b.setAttribute('aria-label', `Image ${i + 1} of ${entries.length}, seed ${x.seed}`);
      if (i === index) b.setAttribute('aria-current', 'true');
      const im = document.createElement('img');
      im.alt = '';
      setImage(im, pngUrl(x.image), x.width, x.height);
      b.appendChild(im);
      b.addEventListener('click', () => showResult(entries, i));
      el.resultThumbs.appendChild(b);
    });
  }
}
