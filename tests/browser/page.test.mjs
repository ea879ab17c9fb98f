// Browser test of the page `diffuse serve` serves at `/`: Debian's chromium, headless, driven by
// playwright-core, run by Node's built-in test runner. tests/browser/run.sh starts the server and
// runs this file with:
//   DIFFUSE_URL   the server's base URL (http://127.0.0.1:PORT/)
//   OUTPUT_DIR    where the screenshots go (page-desktop.png, page-phone.png, ...)
//   TEST_SIZE     width and height of the pictures (64: the tiny fixture model's native size)
//   TEST_STEPS    steps of the quick generations (10)
//   TEST_SLOW_STEPS  steps of the generation whose progress bar is watched (long enough to be seen moving)
//   CHROMIUM      the browser (/usr/bin/chromium)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const BASE = process.env.DIFFUSE_URL;
if (!BASE) throw new Error('DIFFUSE_URL is not set (run tests/browser/run.sh)');
const OUT = process.env.OUTPUT_DIR || path.resolve('browser-out');
const SIZE = +(process.env.TEST_SIZE || 64);
const STEPS = +(process.env.TEST_STEPS || 10);
const SLOW_STEPS = +(process.env.TEST_SLOW_STEPS || 40);
const GEN_TIMEOUT = +(process.env.TEST_GEN_TIMEOUT_MS || 180000);
fs.mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------ PNG reading (for the images returned)
function pngInfo(buf) {
  assert.equal(buf.subarray(0, 8).toString('latin1'), '\x89PNG\r\n\x1a\n', 'not a PNG');
  const text = {};
  let width = 0, height = 0;
  for (let off = 8; off + 8 <= buf.length;) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') { width = data.readUInt32BE(0); height = data.readUInt32BE(4); }
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      text[data.toString('latin1', 0, z)] = data.toString('latin1', z + 1);
    }
    if (type === 'iTXt') {
      const z = data.indexOf(0);
      const key = data.toString('latin1', 0, z);
      const compressed = data[z + 1] === 1;
      let p = z + 3;
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      const body = data.subarray(p);
      text[key] = (compressed ? zlib.inflateSync(body) : body).toString('utf8');
    }
    if (type === 'zTXt') {
      const z = data.indexOf(0);
      text[data.toString('latin1', 0, z)] = zlib.inflateSync(data.subarray(z + 2)).toString('latin1');
    }
    if (type === 'IEND') break;
    off += 12 + len;
  }
  return { width, height, text };
}

// ------------------------------------------------------------------ shared browser state
let browser, context, page;
const pageErrors = [];
let expectHttpErrors = false; // while the test serves errors itself
const progressSeen = []; // progress values the server answered while a job ran
let previewsSent = 0;    // progress answers that carried a current_image

async function gallerySize() {
  return page.locator('#gallery > li').count();
}

async function setNumber(selector, value) {
  const input = page.locator(selector);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

// Records every value the progress bar takes, with the state it had then.
async function watchProgressBar() {
  await page.evaluate(() => {
    const bar = document.getElementById('progress');
    window.__bar = [];
    if (window.__barObserver) window.__barObserver.disconnect();
    window.__barObserver = new MutationObserver(() => {
      window.__bar.push({
        state: bar.dataset.state,
        value: Number(bar.getAttribute('aria-valuenow') || 0),
        status: document.getElementById('status').textContent,
        eta: document.getElementById('eta').textContent,
      });
    });
    window.__barObserver.observe(bar, { attributes: true, attributeFilter: ['aria-valuenow', 'data-state'] });
    window.__previewShown = false;
    const img = document.getElementById('stage-img');
    if (window.__imgObserver) window.__imgObserver.disconnect();
    window.__imgObserver = new MutationObserver(() => {
      if (!img.hidden && img.classList.contains('preview') && img.src.startsWith('data:image/png;base64,')) window.__previewShown = true;
    });
    window.__imgObserver.observe(img, { attributes: true, attributeFilter: ['src', 'class', 'hidden'] });
  });
}

async function waitRunEnd() {
  await page.waitForFunction(() => {
    const b = document.getElementById('generate');
    return !b.disabled && !b.classList.contains('running');
  }, null, { timeout: GEN_TIMEOUT });
}

async function readGalleryEntry(i) {
  return page.evaluate((i) => {
    const b = document.querySelectorAll('#gallery > li .tile')[i];
    const img = b.querySelector('img');
    return {
      prompt: b.querySelector('.cap-prompt').textContent,
      meta: b.querySelector('.cap-meta').textContent,
      seed: b.dataset.seed,
      label: b.getAttribute('aria-label'),
      natural: [img.naturalWidth, img.naturalHeight],
      pixelated: img.classList.contains('pixelated'),
      rendering: getComputedStyle(img).imageRendering,
    };
  }, i);
}

describe('diffuse web page', { timeout: 15 * 60 * 1000 }, () => {
  before(async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push('pageerror: ' + e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) pageErrors.push('console: ' + m.text());
    });
    page.on('response', async (r) => {
      if (r.status() < 400 || expectHttpErrors) return;
      let body = '';
      try { body = (await r.text()).slice(0, 200); } catch { /* gone */ }
      pageErrors.push(`HTTP ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}: ${body}`);
    });
    page.on('response', async (r) => {
      if (!r.url().includes('/sdapi/v1/progress')) return;
      try {
        const j = await r.json();
        if (j && j.state && j.state.sampling_steps > 0) progressSeen.push(+j.progress);
        if (j && typeof j.current_image === 'string' && j.current_image) previewsSent += 1;
      } catch { /* page closed */ }
    });
  });

  after(async () => {
    if (browser) await browser.close();
  });

  it('loads, fills the form from the server and labels every control', async () => {
    const res = await page.goto(BASE, { waitUntil: 'load' });
    assert.equal(res.status(), 200);
    await page.waitForSelector('html[data-ready="true"]', { timeout: 30000 });
    assert.equal(await page.title(), 'diffuse');

    const form = await page.evaluate(() => ({
      samplers: [...document.querySelectorAll('#sampler option')].map((o) => o.value),
      schedulers: [...document.querySelectorAll('#scheduler option')].map((o) => o.value),
      width: document.getElementById('width').value,
      height: document.getElementById('height').value,
      steps: document.getElementById('steps').value,
      seed: document.getElementById('seed').value,
      model: document.getElementById('model-name').textContent,
      presets: [...document.querySelectorAll('#size-preset option')].map((o) => o.textContent),
    }));
    const defaults = await (await page.request.get(new URL('diffuse/v1/defaults', BASE).href)).json();
    assert.ok(form.samplers.includes('Euler a'), 'samplers listed: ' + form.samplers);
    assert.deepEqual(form.schedulers, ['Automatic', 'Karras']);
    assert.equal(+form.width, defaults.width, 'width prefilled from /diffuse/v1/defaults');
    assert.equal(+form.height, defaults.height);
    assert.equal(+form.steps, defaults.steps);
    assert.equal(form.seed, '-1');
    assert.ok(form.model.length > 0 && !/connecting|unreachable/.test(form.model), 'model name shown: ' + form.model);
    assert.ok(form.presets.some((p) => p.startsWith(`${defaults.width} × ${defaults.height}`)), 'default size among the presets');

    // Every visible control has an accessible name.
    const unnamed = await page.evaluate(() => {
      const name = (e) => {
        if (e.getAttribute('aria-label')) return e.getAttribute('aria-label');
        const by = e.getAttribute('aria-labelledby');
        if (by) return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
        if (e.labels && e.labels.length) return [...e.labels].map((l) => l.textContent).join(' ').trim();
        if (e.tagName === 'BUTTON') return (e.textContent || '').trim() || e.title;
        return e.title || '';
      };
      return [...document.querySelectorAll('input, select, textarea, button, [role="button"]')]
        .filter((e) => e.offsetParent !== null && e.type !== 'hidden')
        .filter((e) => !name(e))
        .map((e) => e.outerHTML.slice(0, 80));
    });
    assert.deepEqual(unnamed, [], 'controls without an accessible name');
    await assert.doesNotReject(page.getByLabel('Prompt', { exact: true }).fill(''));
    await assert.doesNotReject(page.getByLabel('Negative prompt').fill(''));
  });

  let first = null; // { prompt, seed, png }

  it('generates with the Generate button: progress moves, the picture lands in the gallery', async () => {
    const prompt = 'a lighthouse on a cliff at dusk, oil painting';
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    await page.getByLabel('Negative prompt').fill('blurry');
    await setNumber('#width', SIZE);
    await setNumber('#height', SIZE);
    await setNumber('#steps', SLOW_STEPS);
    await page.selectOption('#sampler', 'Euler a');
    await watchProgressBar();
    progressSeen.length = 0;
    previewsSent = 0;

    const responseP = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/txt2img'), { timeout: GEN_TIMEOUT });
    await page.getByRole('button', { name: /Generate/ }).click();
    await page.waitForFunction(() => document.getElementById('interrupt').disabled === false, null, { timeout: 5000 })
      .catch(() => { /* a very fast job may already be over */ });
    const response = await responseP;
    const request = response.request().postDataJSON();
    assert.equal(request.prompt, prompt);
    assert.equal(request.negative_prompt, 'blurry');
    assert.equal(request.seed, -1);
    assert.equal(request.steps, SLOW_STEPS);
    assert.equal(request.width, SIZE);
    assert.equal(request.height, SIZE);
    assert.equal(request.sampler_name, 'Euler a');
    assert.equal(request.scheduler, 'Automatic');
    assert.equal(request.batch_size, 1);
    assert.equal(response.status(), 200, 'txt2img status: ' + (await response.text()).slice(0, 300));
    const body = await response.json();
    const info = JSON.parse(body.info);
    await waitRunEnd();
    await page.waitForFunction(() => document.querySelectorAll('#gallery > li').length === 1);

    const bar = await page.evaluate(() => window.__bar);
    const running = bar.filter((r) => r.state === 'running').map((r) => r.value);
    assert.ok(progressSeen.some((p) => p > 0), 'the server reported progress above 0: ' + JSON.stringify(progressSeen));
    assert.ok(running.some((v) => v > 0 && v < 100), 'the bar showed progress between 0 and 100 while running: ' + JSON.stringify(bar));
    const during = bar.filter((r) => r.state === 'running');
    assert.ok(during.some((r) => /^Step \d+ \/ \d+ · \d+%/.test(r.status)), 'step count shown: ' + JSON.stringify(during));
    assert.ok(during.some((r) => /^ETA |elapsed$/.test(r.eta)), 'ETA shown: ' + JSON.stringify(during));
    if (previewsSent > 0) {
      assert.ok(await page.evaluate(() => window.__previewShown), 'the live preview was shown on the stage');
    }
    assert.equal(await page.locator('#progress').getAttribute('aria-valuenow'), '100');
    assert.match(await page.locator('#status').textContent(), /^Done/);
    assert.equal(await page.locator('#error').isVisible(), false);

    // The gallery entry carries the parameters the server applied.
    const e = await readGalleryEntry(0);
    assert.equal(e.prompt, prompt);
    assert.equal(e.seed, String(info.seed));
    assert.ok(info.seed >= 0, 'a random seed was picked: ' + info.seed);
    assert.equal(e.meta, `${SIZE}×${SIZE} · ${SLOW_STEPS} steps · seed ${info.seed}`);
    assert.deepEqual(e.natural, [SIZE, SIZE]);
    if (SIZE < 256) {
      assert.ok(e.pixelated, 'small pictures are drawn pixelated');
      assert.equal(e.rendering, 'pixelated');
    }
    // The stage shows it, upscaled.
    const stage = await page.evaluate(() => {
      const img = document.getElementById('stage-img');
      return { hidden: img.hidden, src: img.src, w: img.getBoundingClientRect().width };
    });
    assert.equal(stage.hidden, false);
    assert.equal(stage.src, 'data:image/png;base64,' + body.images[0]);
    assert.ok(stage.w >= 256, 'the stage shows the picture large: ' + stage.w);
    assert.match(await page.locator('#result-meta').textContent(), new RegExp(`seed ${info.seed}`));

    const png = Buffer.from(body.images[0], 'base64');
    const pi = pngInfo(png);
    assert.deepEqual([pi.width, pi.height], [SIZE, SIZE]);
    assert.ok(pi.text.parameters && pi.text.parameters.includes(prompt), 'PNG parameters chunk: ' + JSON.stringify(pi.text));
    first = { prompt, seed: info.seed, png };

    // "Reuse last seed" puts the seed just used in the field; the dice puts -1 back.
    await page.getByRole('button', { name: 'Reuse last seed' }).click();
    assert.equal(await page.inputValue('#seed'), String(info.seed));
    await page.getByRole('button', { name: /Random seed/ }).click();
    assert.equal(await page.inputValue('#seed'), '-1');
  });

  it('generates with Ctrl+Enter, a fixed seed, newest first in the gallery', async () => {
    const prompt = 'a red fox in the snow, watercolor';
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    await setNumber('#steps', STEPS);
    await setNumber('#seed', 4242);
    await page.selectOption('#sampler', 'Euler'); // Karras needs one of euler, heun, dpm++ 2m, unipc
    await page.selectOption('#scheduler', 'Karras');
    const responseP = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/txt2img'), { timeout: GEN_TIMEOUT });
    await page.getByLabel('Prompt', { exact: true }).press('Control+Enter');
    const response = await responseP;
    const req = response.request().postDataJSON();
    assert.equal(req.seed, 4242);
    assert.equal(req.scheduler, 'Karras');
    assert.equal(req.sampler_name, 'Euler');
    assert.equal(req.steps, STEPS);
    assert.equal(response.status(), 200);
    await waitRunEnd();
    await page.waitForFunction(() => document.querySelectorAll('#gallery > li').length === 2);
    const e = await readGalleryEntry(0);
    assert.equal(e.prompt, prompt);
    assert.equal(e.seed, '4242');
    assert.equal(e.meta, `${SIZE}×${SIZE} · ${STEPS} steps · seed 4242`);
    assert.equal((await readGalleryEntry(1)).prompt, first.prompt);
    await page.selectOption('#scheduler', 'Automatic');
  });

  it('opens a gallery picture, shows its parameters, downloads it, reuses them', async () => {
    await page.locator('#gallery > li').nth(1).locator('.tile').click();
    const viewer = page.locator('#viewer');
    await viewer.waitFor({ state: 'visible' });
    const params = await page.evaluate(() => Object.fromEntries(
      [...document.querySelectorAll('#viewer-params dd')].map((dd) => [dd.dataset.param, dd.textContent])));
    assert.equal(params.prompt, first.prompt);
    assert.equal(params.negative, 'blurry');
    assert.equal(params.seed, String(first.seed));
    assert.equal(params.size, `${SIZE} × ${SIZE}`);
    assert.equal(params.steps, String(SLOW_STEPS));
    assert.equal(params.sampler, 'Euler a');
    await page.screenshot({ path: path.join(OUT, 'page-viewer.png') });

    // Download: the PNG exactly as the server returned it (it carries the parameters chunk).
    const downloadP = page.waitForEvent('download');
    await page.locator('#viewer-download').click();
    const download = await downloadP;
    assert.match(download.suggestedFilename(), /^diffuse-.*\.png$/);
    const file = path.join(OUT, 'download.png');
    await download.saveAs(file);
    assert.ok(fs.readFileSync(file).equals(first.png), 'downloaded bytes equal the returned PNG');
    fs.rmSync(file);

    // Reuse: the form takes the picture's parameters.
    await page.getByLabel('Prompt', { exact: true }).fill('something else');
    await setNumber('#steps', 3);
    await page.getByRole('button', { name: 'Reuse parameters' }).click();
    await viewer.waitFor({ state: 'hidden' });
    assert.equal(await page.inputValue('#prompt'), first.prompt);
    assert.equal(await page.inputValue('#negative_prompt'), 'blurry');
    assert.equal(await page.inputValue('#seed'), String(first.seed));
    assert.equal(await page.inputValue('#steps'), String(SLOW_STEPS));
    assert.equal(await page.inputValue('#width'), String(SIZE));
    assert.equal(await page.inputValue('#height'), String(SIZE));
    assert.equal(await page.inputValue('#sampler'), 'Euler a');
    await page.getByRole('button', { name: /Random seed/ }).click();
  });

  it('img2img: a dropped JPEG is sent as a PNG of the output size', async () => {
    // A 120x90 JPEG made by the browser itself.
    const jpegB64 = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 120; c.height = 90;
      const g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, 120, 90);
      grad.addColorStop(0, '#ff8a00'); grad.addColorStop(1, '#2a6bff');
      g.fillStyle = grad; g.fillRect(0, 0, 120, 90);
      return c.toDataURL('image/jpeg', 0.9).split(',')[1];
    });
    // Dropped on the drop zone, as a person drags a file from their desktop.
    const dataTransfer = await page.evaluateHandle((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'init.jpg', { type: 'image/jpeg' }));
      return dt;
    }, jpegB64);
    await page.dispatchEvent('#drop', 'dragenter', { dataTransfer });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.locator('#init-preview').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#strength').isVisible(), true);
    await page.locator('#strength').evaluate((e) => { e.value = '0.6'; e.dispatchEvent(new Event('input', { bubbles: true })); });
    assert.equal(await page.locator('#strength-out').textContent(), '0.6');
    await setNumber('#steps', STEPS);

    const responseP = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/img2img'), { timeout: GEN_TIMEOUT });
    await page.getByRole('button', { name: /Generate/ }).click();
    const response = await responseP;
    const req = response.request().postDataJSON();
    assert.equal(req.denoising_strength, 0.6);
    assert.equal(req.init_images.length, 1);
    assert.match(req.init_images[0], /^data:image\/png;base64,/);
    const init = pngInfo(Buffer.from(req.init_images[0].split(',')[1], 'base64'));
    assert.deepEqual([init.width, init.height], [SIZE, SIZE]);
    assert.equal(response.status(), 200, 'img2img status: ' + (await response.text()).slice(0, 300));
    await waitRunEnd();
    await page.waitForFunction(() => document.querySelectorAll('#gallery > li').length === 3);
    assert.equal(await page.locator('#error').isVisible(), false);

    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    assert.equal(await page.locator('#init-preview').isVisible(), false);
    assert.equal(await page.locator('#strength').isVisible(), false);
  });

  let count = 0; // gallery size between tests

  it('interrupts a running job and stays usable', async () => {
    await setNumber('#steps', SLOW_STEPS);
    await watchProgressBar();
    const responseP = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/txt2img'), { timeout: GEN_TIMEOUT });
    await page.getByRole('button', { name: /Generate/ }).click();
    let interrupted = false;
    try {
      await page.waitForFunction(() => (window.__bar || []).some((r) => r.state === 'running' && r.value > 0), null, { timeout: 20000 });
      const interruptP = page.waitForResponse((r) => r.url().endsWith('/sdapi/v1/interrupt'));
      await page.getByRole('button', { name: 'Interrupt', exact: true }).click({ timeout: 2000 });
      assert.equal((await interruptP).status(), 200);
      interrupted = true;
    } catch (err) {
      if (!(await page.locator('#generate').isEnabled())) throw err; // still running: a real failure
    }
    const response = await responseP;
    assert.equal(response.status(), 200, 'an interrupted txt2img answers 200: ' + (await response.text()).slice(0, 300));
    await waitRunEnd();
    const status = await page.locator('#status').textContent();
    assert.match(status, interrupted ? /^(Interrupted|Done)/ : /^Done/);
    assert.equal(await page.locator('#error').isVisible(), false);
    assert.equal(await page.locator('#interrupt').isDisabled(), true);
    count = await gallerySize();
    assert.ok(count === 3 || count === 4, 'an interrupted job adds what it made so far: ' + count);
    await setNumber('#steps', STEPS);
  });

  it('shows server errors: 400 detail, 503 busy', async () => {
    expectHttpErrors = true;
    await page.route('**/sdapi/v1/txt2img', (route) => route.fulfill({
      status: 400, contentType: 'application/json',
      body: JSON.stringify({ error: 'Bad Request', detail: 'width: must be a multiple of 8' }),
    }), { times: 1 });
    await page.getByLabel('Negative prompt').press('Meta+Enter'); // Cmd+Enter, on a Mac
    await page.locator('#error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#error-text').textContent(), /width: must be a multiple of 8/);
    await waitRunEnd();

    await page.route('**/sdapi/v1/txt2img', (route) => route.fulfill({
      status: 503, contentType: 'application/json', headers: { 'Retry-After': '5' },
      body: JSON.stringify({ error: 'Service Unavailable', detail: 'queue full' }),
    }), { times: 1 });
    await page.getByRole('button', { name: /Generate/ }).click();
    await page.waitForFunction(() => /busy/i.test(document.getElementById('error-text').textContent));
    assert.match(await page.locator('#error-text').textContent(), /busy.*retry in 5 s/i);
    await waitRunEnd();
    await page.getByRole('button', { name: 'Dismiss error' }).click();
    assert.equal(await page.locator('#error').isVisible(), false);

    // The page checks sizes itself before sending (a finished edit is rounded to a multiple of 8).
    let sent = false;
    const onReq = (r) => { if (r.url().endsWith('/sdapi/v1/txt2img')) sent = true; };
    page.on('request', onReq);
    await page.locator('#width').fill(String(SIZE + 3));
    await page.locator('#width').press('Control+Enter');
    await page.locator('#error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#error-text').textContent(), /Width must be a multiple of 8/);
    page.off('request', onReq);
    assert.equal(sent, false);
    await page.locator('#width').dispatchEvent('change');
    assert.equal(await page.inputValue('#width'), String(Math.round((SIZE + 3) / 8) * 8));
    await setNumber('#width', SIZE);
    await page.getByRole('button', { name: 'Dismiss error' }).click();
    assert.equal(await gallerySize(), count);
    expectHttpErrors = false;
  });

  it('keeps the gallery and the prompt across a reload', async () => {
    await page.reload();
    await page.waitForSelector('html[data-ready="true"]');
    assert.equal(await gallerySize(), count);
    assert.equal(await page.inputValue('#prompt'), first.prompt);
  });

  it('keeps working when browser storage is full', async () => {
    // Storage that holds the gallery as it is now, and not one picture more.
    await page.evaluate(() => {
      const limit = (localStorage.getItem('diffuse.gallery.v1') || '').length + 100;
      window.__setItem = Storage.prototype.setItem;
      Storage.prototype.setItem = function (k, v) {
        if (k === 'diffuse.gallery.v1' && String(v).length > limit) throw new DOMException('quota', 'QuotaExceededError');
        return window.__setItem.call(this, k, v);
      };
    });
    await setNumber('#steps', STEPS);
    await page.getByRole('button', { name: /Generate/ }).click();
    await waitRunEnd();
    await page.waitForFunction((n) => document.querySelectorAll('#gallery > li').length === n, count + 1);
    assert.equal(await page.locator('#error').isVisible(), false);
    assert.match(await page.locator('#gallery-warn').textContent(), /storage is full/);
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('diffuse.gallery.v1')).length);
    assert.ok(saved >= 1 && saved <= count, 'the newest pictures that fit are saved: ' + saved);
    await page.evaluate(() => { Storage.prototype.setItem = window.__setItem; });
    // Deleting one makes room again.
    await page.locator('#gallery .tile').last().click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('#gallery > li').length === n, count);
    assert.equal(await page.locator('#gallery-warn').isVisible(), false);
    count = await gallerySize();
  });

  it('screenshots at 1280x800 and 390x844', async () => {
    // Show the first picture on the stage, as after a generation.
    await page.locator('#gallery .tile', { hasText: first.prompt }).last().click();
    await page.getByRole('button', { name: 'Reuse parameters' }).click();
    await page.getByRole('button', { name: /Random seed/ }).click();
    await setNumber('#steps', STEPS);
    await page.getByRole('button', { name: /Generate/ }).click();
    await waitRunEnd();
    await page.waitForFunction((n) => document.querySelectorAll('#gallery > li').length === n, count + 1);
    await page.evaluate(() => {
      if (document.activeElement) document.activeElement.blur();
      window.scrollTo(0, 0);
      document.getElementById('gen-form').scrollTop = 0;
    });
    await page.mouse.move(0, 0);
    await page.waitForTimeout(400); // transitions
    await page.screenshot({ path: path.join(OUT, 'page-desktop.png') });

    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, 'no horizontal scrolling at phone width: ' + overflow + ' px too wide');
    await page.screenshot({ path: path.join(OUT, 'page-phone.png') });
    await page.screenshot({ path: path.join(OUT, 'page-phone-full.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('logged no page errors and got no failed HTTP answers', () => {
    assert.deepEqual(pageErrors, []);
  });
});
