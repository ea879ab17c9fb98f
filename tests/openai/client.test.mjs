// The official `openai` npm client, unchanged, against `diffuse serve` (run.sh starts the server
// and sets DIFFUSE_URL): images.generate, images.edit, models.list, and the errors the client
// raises from diffuse's OpenAI-shaped error answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';

import OpenAI, { toFile } from 'openai';

const baseURL = `${process.env.DIFFUSE_URL ?? 'http://127.0.0.1:7860'}/v1`;
const client = new OpenAI({ baseURL, apiKey: 'unused' });
const TIMEOUT = { timeout: 120_000 };

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

// An 8-bit RGB PNG of a gradient, width x height.
function makePng(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) rows.set([x * 4, y * 4, 128], y * (1 + width * 3) + 1 + x * 3);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// The PNG's size from its IHDR, and its text chunks (keyword -> text), checking the signature
// and every chunk's CRC on the way.
function readPng(buffer) {
  assert.deepEqual([...buffer.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const png = { text: {} };
  for (let at = 8; at < buffer.length; ) {
    const length = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    const data = buffer.subarray(at + 8, at + 8 + length);
    assert.equal(buffer.readUInt32BE(at + 8 + length), crc32(buffer.subarray(at + 4, at + 8 + length)), `${type} CRC`);
    if (type === 'IHDR') {
      png.width = data.readUInt32BE(0);
      png.height = data.readUInt32BE(4);
    } else if (type === 'tEXt') {
      const nul = data.indexOf(0);
      png.text[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    } else if (type === 'iTXt') {
      const nul = data.indexOf(0);
      // keyword \0 compression flag, method, language \0 translated keyword \0 text
      const language = data.indexOf(0, nul + 3);
      const translated = data.indexOf(0, language + 1);
      png.text[data.toString('latin1', 0, nul)] = data.toString('utf8', translated + 1);
    }
    at += 12 + length;
    if (type === 'IEND') break;
  }
  return png;
}

test('images.generate makes n 64x64 PNGs as b64_json', TIMEOUT, async () => {
  const res = await client.images.generate({
    model: 'x',
    prompt: 'a lighthouse at dusk',
    n: 2,
    size: '64x64',
    response_format: 'b64_json',
  });
  assert.equal(typeof res.created, 'number');
  assert.equal(res.data.length, 2);
  const pngs = res.data.map((image) => Buffer.from(image.b64_json, 'base64'));
  for (const bytes of pngs) {
    const png = readPng(bytes);
    assert.equal(png.width, 64);
    assert.equal(png.height, 64);
    assert.match(png.text.parameters, /^a lighthouse at dusk\n/);
    assert.match(png.text.parameters, /Size: 64x64/);
  }
  assert.notDeepEqual(pngs[0], pngs[1], 'image 2 has its own seed');
});

test('images.edit runs img2img on an uploaded PNG', TIMEOUT, async () => {
  const res = await client.images.edit({
    image: await toFile(makePng(64, 64), 'in.png', { type: 'image/png' }),
    prompt: 'the same, in winter',
    size: '64x64',
  });
  assert.equal(res.data.length, 1);
  const png = readPng(Buffer.from(res.data[0].b64_json, 'base64'));
  assert.equal(png.width, 64);
  assert.equal(png.height, 64);
  assert.match(png.text.parameters, /^the same, in winter\n/);
});

test('models.list names the served checkpoint', TIMEOUT, async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].object, 'model');
  assert.equal(page.data[0].id, 'model.safetensors');
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  assert.deepEqual(ids, ['model.safetensors']);
});

test('response_format "url" is a BadRequestError naming the field', TIMEOUT, async () => {
  await assert.rejects(
    client.images.generate({ model: 'x', prompt: 'p', size: '64x64', response_format: 'url' }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'response_format');
      assert.match(err.message, /^400 response_format: "url" is not served by diffuse.*b64_json/);
      return true;
    },
  );
});

test('a size not a multiple of 8 is a BadRequestError', TIMEOUT, async () => {
  await assert.rejects(
    client.images.generate({ model: 'x', prompt: 'p', size: '100x100', response_format: 'b64_json' }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.match(err.message, /multiple of 8, got 100/);
      return true;
    },
  );
});

test('an upload over --max-body-mb is a 413 with OpenAI\'s error message', TIMEOUT, async () => {
  const big = Buffer.concat([makePng(64, 64), Buffer.alloc(2 << 20, 7)]); // run.sh: --max-body-mb 1
  await assert.rejects(
    client.images.edit({ image: await toFile(big, 'big.png', { type: 'image/png' }), prompt: 'p', size: '64x64' }),
    (err) => {
      assert.ok(err instanceof OpenAI.APIError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 413);
      assert.match(err.message, /^413 the body is larger than the 1048576 bytes allowed/);
      return true;
    },
  );
});
