// Shared by the page's modules: the page's elements, its state and its constants.

export const $ = (id) => document.getElementById(id);

export const GALLERY_KEY = 'diffuse.gallery.v1';
export const FORM_KEY = 'diffuse.form.v1';
export const GALLERY_MAX = 50;
export const POLL_MS = 500;
export const FIRST_POLL_MS = 200;
export const SMALL_PX = 256; // below this, images are upscaled with hard pixel edges

export const el = {
  form: $('gen-form'), prompt: $('prompt'), negative: $('negative_prompt'),
  generate: $('generate'), generateLabel: document.querySelector('#generate .btn-label'), stageHint: $('stage-hint'), interrupt: $('interrupt'), kbdHint: $('kbd-hint'),
  sampler: $('sampler'), scheduler: $('scheduler'),
  steps: $('steps'), stepsRange: $('steps-range'), cfg: $('cfg_scale'), cfgRange: $('cfg-range'),
  preset: $('size-preset'), width: $('width'), height: $('height'), swap: $('swap-size'), sizeNote: $('size-note'),
  seed: $('seed'), seedRandom: $('seed-random'), seedReuse: $('seed-reuse'), batch: $('batch_size'),
  drop: $('drop'), dropEmpty: $('drop-empty'), initFile: $('init-file'), initPreview: $('init-preview'),
  img2imgControls: $('img2img-controls'), strength: $('strength'), strengthOut: $('strength-out'),
  clearInit: $('clear-init'), initNote: $('init-note'), resetDefaults: $('reset-defaults'),
  modelName: $('model-name'), dot: $('server-dot'),
  progress: $('progress'), progressFill: $('progress-fill'), status: $('status'), eta: $('eta'),
  error: $('error'), errorText: $('error-text'), errorClose: $('error-close'),
  stage: $('stage'), stageEmpty: $('stage-empty'), stageImg: $('stage-img'),
  resultBar: $('result-bar'), resultThumbs: $('result-thumbs'), resultMeta: $('result-meta'),
  resultReuse: $('result-reuse'), resultInit: $('result-init'), resultDownload: $('result-download'),
  gallery: $('gallery'), galleryCount: $('gallery-count'), galleryEmpty: $('gallery-empty'),
  galleryWarn: $('gallery-warn'), galleryClear: $('gallery-clear'),
  viewer: $('viewer'), viewerImg: $('viewer-img'), viewerTitle: $('viewer-title'), viewerParams: $('viewer-params'),
  viewerClose: $('viewer-close'), viewerReuse: $('viewer-reuse'), viewerInit: $('viewer-init'),
  viewerDownload: $('viewer-download'), viewerDelete: $('viewer-delete'),
};

export const state = {
  defaults: null,       // GET /diffuse/v1/defaults
  model: '',            // sd_model_checkpoint
  samplers: [],
  schedulers: [],
  running: false,
  runToken: 0,
  startedAt: 0,
  pollTimer: 0,
  lastSeed: null,
  result: null,         // { entries: [...], index }
  gallery: [],          // newest first
  persisted: 0,         // how many of gallery are in localStorage
  storageOk: true,
  viewing: null,        // entry shown in the viewer
  init: null,           // { img, name }
};
