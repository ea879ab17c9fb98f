// A stand-in for `diffuse serve` for working on the web page without a model or a build:
// serves src/server/web/ and fakes the AUTOMATIC1111 endpoints the page uses, with slow fake
// progress and generated PNGs (each carrying a `parameters` text chunk, as the real server's do).
//
//   node tests/browser/mock_server.mjs [--port 7861] [--size 64] [--step-ms 150]
//
// With --proxy URL it fakes nothing: it serves the page from src/server/web/ as it is on disk and
// forwards every other request to a running `diffuse serve` at URL, to try an edited page against
// the real server without rebuilding the binary that embeds it:
//
//   node tests/browser/mock_server.mjs --port 7861 --proxy http://127.0.0.1:7860
//
// It is not the server under test: tests/browser/run.sh runs the real binary unless given --mock.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Every file of the page, as the real server embeds them all.
const PAGE_FILES = fs.readdirSync(path.resolve(here, '../../src/server/web'));
const webDir = path.resolve(here, '../../src/server/web');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const PORT = +opt('--port', 7861);
const NATIVE = +opt('--size', 64);
const STEP_MS = +opt('--step-ms', 150);
const QUEUE_SIZE = 2;
const PROXY = opt('--proxy', '');

const SAMPLERS = ['Euler a', 'Euler', 'Heun', 'DDIM', 'PLMS', 'DPM++ 2M', 'DPM++ 2M Karras', 'LCM', 'UniPC'];
const DEFAULTS = {
  width: NATIVE, height: NATIVE, steps: 20, cfg_scale: 7.5, sampler_name: 'PLMS', scheduler: 'Automatic',
  max_pixels: 1024 * 1024, max_steps: 150, max_batch: 8,
};
const MODEL = 'mock-model.safetensors';

// ------------------------------------------------------------------ PNG
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function encodePng(w, h, rgb, text) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    rgb.copy(raw, y * (w * 3 + 1) + 1, y * w * 3, (y + 1) * w * 3);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  if (text) parts.push(chunk('tEXt', Buffer.from('parameters\0' + text, 'latin1')));
  parts.push(chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

// A smooth colourful pattern from the seed, mixed with noise by `noise` (1 = pure noise).
function picture(w, h, seed, noise) {
  let s = (seed >>> 0) || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const a = rand() * 6.28, b = rand() * 6.28, c = rand() * 6.28, f = 2 + rand() * 4;
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w, v = y / h;
      const base = [
        0.5 + 0.5 * Math.sin(f * u * 3.1 + a + Math.cos(v * 4 + b)),
        0.5 + 0.5 * Math.sin(f * v * 2.7 + b + Math.sin(u * 5 + c)),
        0.5 + 0.5 * Math.sin(f * (u + v) * 2 + c),
      ];
      for (let k = 0; k < 3; k++) {
        const val = base[k] * (1 - noise) + rand() * noise;
        out[(y * w + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(val * 255)));
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ jobs
let current = null; // { steps, step, startedAt, seed, w, h, interrupted }
const queue = [];

function runNext() {
  if (current || !queue.length) return;
  const job = queue.shift();
  current = job;
  job.startedAt = Date.now();
  const tick = () => {
    if (job.cancelled) { finish(job); return; }
    if (job.interrupted || job.step >= job.steps) { finish(job); return; }
    job.step += 1;
    setTimeout(tick, STEP_MS);
  };
  setTimeout(tick, STEP_MS);
}
function finish(job) {
  current = null;
  job.done();
  runNext();
}

function infotext(p, seed) {
  let s = p.prompt;
  if (p.negative_prompt) s += '\nNegative prompt: ' + p.negative_prompt;
  s += `\nSteps: ${p.steps}, Sampler: ${p.sampler_name}, Schedule type: ${p.scheduler}, CFG scale: ${p.cfg_scale}, Seed: ${seed}, Size: ${p.width}x${p.height}, Model: ${MODEL}`;
  if (p.init_images) s += `, Denoising strength: ${p.denoising_strength}`;
  return s;
}

function error(res, status, error, detail, extra = {}) {
  send(res, status, { error, detail, ...extra }, extra.retryAfter ? { 'Retry-After': String(extra.retryAfter) } : {});
}
function send(res, status, obj, headers = {}) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length, ...headers });
  res.end(body);
}

function validate(p, img2img) {
  const num = (k, lo, hi, def) => {
    const v = p[k] === undefined ? def : p[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw new Error(`${k}: must be a number in [${lo}, ${hi}]`);
    return v;
  };
  const q = {
    prompt: typeof p.prompt === 'string' ? p.prompt : '',
    negative_prompt: typeof p.negative_prompt === 'string' ? p.negative_prompt : '',
    seed: num('seed', -1, 2 ** 32 - 1, -1),
    steps: num('steps', 1, DEFAULTS.max_steps, DEFAULTS.steps),
    cfg_scale: num('cfg_scale', 0, 30, DEFAULTS.cfg_scale),
    width: num('width', 8, 4096, DEFAULTS.width),
    height: num('height', 8, 4096, DEFAULTS.height),
    sampler_name: p.sampler_name || DEFAULTS.sampler_name,
    scheduler: p.scheduler || 'Automatic',
    batch_size: num('batch_size', 1, DEFAULTS.max_batch, 1),
    n_iter: num('n_iter', 1, DEFAULTS.max_batch, 1),
  };
  if (q.width % 8 || q.height % 8) throw new Error('width/height: must be multiples of 8');
  if (q.width * q.height > DEFAULTS.max_pixels) throw new Error('width*height: above --max-pixels');
  if (!SAMPLERS.includes(q.sampler_name)) throw new Error(`sampler_name: unknown sampler "${q.sampler_name}"`);
  if (!['Automatic', 'Karras'].includes(q.scheduler)) throw new Error(`scheduler: unknown scheduler "${q.scheduler}"`);
  if (img2img) {
    if (!Array.isArray(p.init_images) || !p.init_images.length) throw new Error('init_images: required');
    const b64 = String(p.init_images[0]).replace(/^data:image\/png;base64,/, '');
    const buf = Buffer.from(b64, 'base64');
    if (buf.subarray(0, 8).toString('latin1') !== '\x89PNG\r\n\x1a\n') throw new Error('init_images: not a PNG');
    const w = buf.readUInt32BE(16), h = buf.readUInt32BE(20);
    if (w !== q.width || h !== q.height) throw new Error(`init_images: ${w}x${h}, expected ${q.width}x${q.height}`);
    q.init_images = ['(png)'];
    q.denoising_strength = num('denoising_strength', 0, 1, 0.75);
  }
  return q;
}

function generate(req, res, body, img2img) {
  let p;
  try { p = JSON.parse(body); } catch { return error(res, 400, 'Bad Request', 'body: not valid JSON'); }
  let q;
  try { q = validate(p, img2img); } catch (e) { return error(res, 400, 'Bad Request', e.message); }
  if (q.prompt.includes('mock:fail')) return error(res, 500, 'Internal Server Error', 'mock failure requested by the prompt');
  if (queue.length >= QUEUE_SIZE) return error(res, 503, 'Service Unavailable', 'queue full', { retryAfter: 3 });
  const seed = q.seed === -1 ? Math.floor(Math.random() * 2 ** 31) : q.seed;
  const count = q.batch_size * q.n_iter;
  const job = {
    steps: q.steps, step: 0, seed, w: q.width, h: q.height, count,
    done: () => {
      const n = job.interrupted ? (job.step > 0 ? count : 0) : count;
      const seeds = Array.from({ length: count }, (_, i) => seed + i);
      const texts = seeds.map((s) => infotext(q, s));
      const images = seeds.slice(0, n).map((s, i) =>
        encodePng(q.width, q.height, picture(q.width, q.height, s, job.interrupted ? 0.5 : 0.08), texts[i]).toString('base64'));
      send(res, 200, {
        images,
        parameters: { ...q, seed },
        info: JSON.stringify({
          prompt: q.prompt, negative_prompt: q.negative_prompt, seed, all_seeds: seeds, subseed: -1,
          all_prompts: seeds.map(() => q.prompt), sampler_name: q.sampler_name, scheduler: q.scheduler,
          steps: q.steps, cfg_scale: q.cfg_scale, width: q.width, height: q.height,
          sd_model_name: MODEL, infotexts: texts, denoising_strength: q.denoising_strength ?? 0,
        }),
      });
    },
  };
  res.on('close', () => { if (!res.writableEnded) job.cancelled = true; });
  queue.push(job);
  runNext();
}

function progress(res) {
  if (!current) {
    return send(res, 200, {
      progress: 0, eta_relative: 0, current_image: null, textinfo: null,
      state: { skipped: false, interrupted: false, job: '', job_count: 0, job_no: 0, sampling_step: 0, sampling_steps: 0 },
    });
  }
  const j = current;
  const frac = j.step / j.steps;
  const eta = ((j.steps - j.step) * STEP_MS) / 1000;
  const preview = j.step > 0
    ? encodePng(j.w, j.h, picture(j.w, j.h, j.seed, 1 - frac * 0.9)).toString('base64')
    : null;
  send(res, 200, {
    progress: frac, eta_relative: eta, current_image: preview, textinfo: null,
    state: {
      skipped: false, interrupted: !!j.interrupted, job: 'txt2img', job_count: 1, job_no: 0,
      sampling_step: j.step, sampling_steps: j.steps,
    },
  });
}

function forward(req, res, raw) {
  const target = new URL(req.url, PROXY);
  const headers = { ...req.headers, host: target.host };
  const up = http.request(target, { method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  up.on('error', (e) => { if (!res.headersSent) error(res, 502, 'Bad Gateway', `proxy: ${e.message}`); else res.destroy(); });
  res.on('close', () => { if (!res.writableEnded) up.destroy(); }); // the client went: so does the request
  up.end(raw);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const body = raw.toString('utf8');
    const started = Date.now();
    res.on('finish', () => process.stderr.write(`${req.method} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms\n`));
    const route = `${req.method} ${url.pathname}`;
    const page = req.method === 'GET' && (url.pathname === '/' || PAGE_FILES.includes(url.pathname.slice(1)));
    if (PROXY && !page) return forward(req, res, raw);
    switch (route) {
      case 'GET /internal/ping': return send(res, 200, {});
      case 'GET /diffuse/v1/defaults': return send(res, 200, DEFAULTS);
      case 'GET /sdapi/v1/samplers': return send(res, 200, SAMPLERS.map((name) => ({ name, aliases: [name.toLowerCase().replace(/\W+/g, '_')], options: {} })));
      case 'GET /sdapi/v1/schedulers': return send(res, 200, [
        { name: 'automatic', label: 'Automatic', aliases: null, default_rho: -1, need_inner_model: false },
        { name: 'karras', label: 'Karras', aliases: null, default_rho: 7, need_inner_model: false },
      ]);
      case 'GET /sdapi/v1/sd-models': return send(res, 200, [{ title: MODEL, model_name: 'mock-model', hash: null, sha256: null, filename: '/models/' + MODEL, config: null }]);
      case 'GET /sdapi/v1/options': return send(res, 200, { sd_model_checkpoint: MODEL });
      case 'GET /sdapi/v1/progress': return progress(res);
      case 'POST /sdapi/v1/interrupt': if (current) current.interrupted = true; return send(res, 200, {});
      case 'POST /sdapi/v1/txt2img': return generate(req, res, body, false);
      case 'POST /sdapi/v1/img2img': return generate(req, res, body, true);
      default: break;
    }
    if (req.method === 'GET') {
      const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      if (PAGE_FILES.includes(name)) {
        const data = fs.readFileSync(path.join(webDir, name));
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)], 'Cache-Control': 'no-store' });
        return res.end(data);
      }
    }
    error(res, 404, 'Not Found', `no route ${route}`);
  });
});

// The same listening line as diffuse serve's, so that run.sh finds the port (0: any free one).
server.listen(PORT, '127.0.0.1', () => process.stderr.write(
  `${PROXY ? 'page from disk, API of ' + PROXY : 'mock diffuse server'}: listening on http://127.0.0.1:${server.address().port}/\n`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { server.close(); process.exit(0); });
