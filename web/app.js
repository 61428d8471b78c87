/*
 * app.js — the behaviour of the built-in web page (web/index.html).
 *
 * Plain modern JavaScript over the HTTP API and nothing else: every request
 * goes through api(), which adds the bearer token to the requests that need
 * one and turns an answer that is not 2xx into a ProblemError carrying the
 * application/problem+json body, whose detail the page shows. The job form
 * is built from the JobSpec schema of /v1/openapi.json (names, defaults,
 * bounds, enums), the audio formats from the audio route's parameters, so
 * the page never keeps a second copy of either. Charts are uPlot (bundled
 * with the page, see web/web.am); waveforms and spectrograms are drawn on
 * canvases from the audio the browser decodes itself.
 *
 * The API's base URL is this page's origin, or ?api=URL (remembered) when
 * the page is opened from another origin that the daemon's cors_origins
 * allows.
 */
'use strict';

const $ = (id) => document.getElementById(id);

/* el(tag, {attr: value, on: {event: fn}}, ...children): a DOM element; text
 * is always set as text, never parsed as HTML. */
function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
		else if (k === 'class') e.className = v;
		else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
	}
	for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
	return e;
}

const state = {
	openapi: null,
	models: [],
	defaultModel: null,
	audioInput: null, // {blob, name}
	urls: {}, // object URLs in use, by role
	recorder: null,
	listening: null, // 'noisy' | 'denoised' while the A/B toggle drives playback
	job: null, // id followed
	finished: null, // its id once a final state was shown
	events: null, // its EventSource
	charts: [], // uPlot instances of the job panel
	live: null, // {chart, epoch: [], loss: [], val: []}
};

/* ---- the API ---- */

class ProblemError extends Error {
	constructor(problem, status) {
		super(problem.detail || problem.title || `HTTP ${status}`);
		this.problem = problem;
		this.status = status;
	}
}

function apiBase() {
	return $('api-base').value.trim().replace(/\/+$/, '');
}

function apiUrl(path) {
	return apiBase() + path;
}

/* fetch() of an API path; resolves to the Response when 2xx, else rejects
 * with a ProblemError. */
async function api(path, opts = {}) {
	const headers = new Headers(opts.headers || {});
	const key = $('api-key').value.trim();
	const method = (opts.method || 'GET').toUpperCase();
	if (key && method !== 'GET' && method !== 'HEAD') headers.set('Authorization', 'Bearer ' + key);
	let resp;
	try {
		resp = await fetch(apiUrl(path), { ...opts, method, headers });
	} catch (e) {
		throw new ProblemError({ title: 'Network error', detail: `could not reach ${apiUrl(path)}: ${e.message}` }, 0);
	}
	if (resp.ok) return resp;
	let problem = null;
	const type = resp.headers.get('Content-Type') || '';
	if (type.includes('json')) {
		try {
			problem = await resp.json();
		} catch (e) {
			problem = null;
		}
	}
	if (!problem || typeof problem !== 'object') problem = { title: resp.statusText || 'Error', detail: `HTTP ${resp.status} from ${path}` };
	throw new ProblemError(problem, resp.status);
}

async function apiJson(path, opts) {
	return (await api(path, opts)).json();
}

function showError(e) {
	const box = $('error');
	box.replaceChildren();
	if (e instanceof ProblemError) {
		const p = e.problem;
		box.append(
			el('strong', { class: 'problem-title' }, `${p.title || 'Error'}${e.status ? ` (${e.status})` : ''}: `),
			el('span', { class: 'problem-detail' }, p.detail || ''),
		);
		if (p.field) box.append(el('span', { class: 'muted' }, ` — field ${p.field}`));
		$('api-key').classList.toggle('wanted', e.status === 401);
		if (e.status === 401) $('api-key').focus();
	} else {
		box.append(el('span', { class: 'problem-detail' }, String(e && e.message ? e.message : e)));
	}
	box.hidden = false;
}

function clearError() {
	$('error').hidden = true;
	$('error').replaceChildren();
}

/* An object URL for blob under a role, revoking the one it replaces. */
function objectUrl(role, blob) {
	if (state.urls[role]) URL.revokeObjectURL(state.urls[role]);
	state.urls[role] = URL.createObjectURL(blob);
	return state.urls[role];
}

/* ---- views ---- */

const views = ['audio', 'frames', 'models', 'jobs'];

function showView() {
	const name = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'audio';
	for (const v of views) $('view-' + v).hidden = v !== name;
	for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === name);
	if (name === 'models') loadModels().catch(showError);
	if (name === 'jobs') refreshJobs().catch(showError);
}

/* ---- models ---- */

async function loadModels() {
	const j = await apiJson('/v1/models');
	state.models = j.models || [];
	state.defaultModel = j.default;
	fillModelSelect($('audio-model'), 'audio');
	fillModelSelect($('frame-model'), 'frame');
	renderModels();
	if (typeof liveModels === 'function') liveModels();
	const names = $('job-model-names');
	if (names) names.replaceChildren(...state.models.filter((m) => m.kind === 'audio').map((m) => el('option', { value: m.name })));
}

function fillModelSelect(select, kind) {
	const keep = select.value;
	const ms = state.models.filter((m) => m.kind === kind);
	select.replaceChildren(...ms.map((m) => el('option', { value: m.name }, m.name + (m.default ? ' (default)' : ''))));
	if (ms.some((m) => m.name === keep)) select.value = keep;
	else {
		const d = ms.find((m) => m.default);
		if (d) select.value = d.name;
	}
}

function renderModels() {
	const tbody = $('models-table').tBodies[0];
	tbody.replaceChildren(
		...state.models.map((m) => {
			const u = m.unet || {};
			const a = m.audio;
			return el(
				'tr',
				{ class: 'clickable', 'data-model': m.name, on: { click: () => showModel(m.name).catch(showError) } },
				el('td', {}, m.name, m.default ? el('span', { class: 'badge' }, 'default') : null),
				el('td', {}, m.kind),
				el('td', {}, m.architecture),
				el('td', {}, m.version),
				el('td', {}, `${u.in_channels}→${u.out_channels}, ${u.base_filters} filters, depth ${u.depth}, ${u.out_act}${u.residual ? ', residual' : ''}`),
				el('td', {}, a ? `${a.sample_rate} Hz, n_fft ${a.n_fft}, hop ${a.hop}, ${a.scaling}, ${a.output}` : 'RGB frames'),
				el('td', {}, m.loaded_at ? new Date(m.loaded_at * 1000).toLocaleString() : ''),
			);
		}),
	);
}

async function showModel(name) {
	const m = await apiJson('/v1/models/' + encodeURIComponent(name));
	const md = m.metadata || {};
	const figures = Object.entries(md).filter(([k, v]) => k.startsWith('train.') && v !== '' && !isNaN(Number(v)));
	const text = Object.entries(md).filter(([k]) => !figures.some(([f]) => f === k));
	/* (replaceChildren would write a null as the text "null") */
	$('model-details').replaceChildren(
		...[
			el('h3', {}, `${m.name} — ${m.architecture} version ${m.version}`),
			figures.length ? el('h4', {}, 'Figures') : null,
			figures.length
				? el('table', { class: 'grid figures' }, figures.map(([k, v]) => el('tr', {}, el('th', {}, k.replace(/^train\./, '')), el('td', {}, v))))
				: null,
			el('h4', {}, 'Metadata'),
			el('table', { class: 'grid metadata' }, text.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v)))),
			el('h4', {}, 'Card'),
			el('article', { id: 'model-card', class: 'card', 'data-model': m.name }, el('p', { class: 'muted' }, 'Reading the card…')),
		].filter(Boolean),
	);
	await showCard(m.name);
}

/* The model's card (GET /v1/models/{name}/card, Markdown) rendered by
 * card.js: its text and tables, never its markup. A model without one says
 * so in place; other errors go to the error box. */
async function showCard(name) {
	const box = $('model-card');
	try {
		const text = await (await api('/v1/models/' + encodeURIComponent(name) + '/card')).text();
		if (box.dataset.model !== name || !box.isConnected) return;
		box.replaceChildren(renderCard(text));
		box.dataset.state = 'shown';
	} catch (e) {
		if (box.dataset.model !== name || !box.isConnected) return;
		if (e instanceof ProblemError && e.status === 404) {
			box.replaceChildren(el('p', { class: 'muted no-card' }, e.message));
			box.dataset.state = 'none';
		} else {
			box.replaceChildren();
			box.dataset.state = 'error';
			showError(e);
		}
	}
}

/* ---- audio ---- */

function audioFormats() {
	const op = state.openapi && state.openapi.paths['/v1/audio:denoise'];
	const p = op && op.post && (op.post.parameters || []).find((x) => x.name === 'format');
	return p && p.schema && p.schema.enum ? { list: p.schema.enum, def: p.schema.default } : { list: ['wav'], def: 'wav' };
}

function setAudioInput(blob, name) {
	state.audioInput = { blob, name };
	$('audio-again').disabled = false;
	denoiseAudio();
}

async function denoiseAudio() {
	const input = state.audioInput;
	if (!input) return;
	clearError();
	const q = new URLSearchParams();
	if ($('audio-model').value) q.set('model', $('audio-model').value);
	const format = $('audio-format').value;
	if (format) q.set('format', format);
	$('audio-status').textContent = `Denoising ${input.name} (${(input.blob.size / 1024).toFixed(0)} KiB)…`;
	const t0 = performance.now();
	try {
		const resp = await api('/v1/audio:denoise?' + q, {
			method: 'POST',
			body: input.blob,
			headers: { 'Content-Type': input.blob.type || 'application/octet-stream' },
		});
		const out = await resp.blob();
		const ms = performance.now() - t0;
		const noisy = $('audio-noisy');
		const clean = $('audio-denoised');
		noisy.pause();
		clean.pause();
		state.listening = null;
		noisy.src = objectUrl('noisy', input.blob);
		clean.src = objectUrl('denoised', out);
		const ext = format === 'flac' ? 'flac' : 'wav';
		$('audio-download').href = state.urls.denoised;
		$('audio-download').download = input.name.replace(/\.[^.]*$/, '') + '-denoised.' + ext;
		$('audio-result').hidden = false;
		$('audio-listening').textContent = '';
		const model = resp.headers.get('X-Denoised-Model') || $('audio-model').value;
		$('audio-status').textContent = `Denoised ${input.name} with ${model} in ${(ms / 1000).toFixed(2)} s.`;
		drawAudio(input.blob, out).catch((e) => {
			$('audio-status').textContent += ` (no waveforms: this browser cannot decode the file: ${e.message})`;
		});
	} catch (e) {
		$('audio-status').textContent = `Not denoised: ${e.message}`;
		showError(e);
	}
}

/* The A/B toggle: whichever is playing stops and the other goes on from the
 * same position (both have the input's length). */
function toggleAB() {
	const noisy = $('audio-noisy');
	const clean = $('audio-denoised');
	const playing = !noisy.paused ? 'noisy' : !clean.paused ? 'denoised' : null;
	const from = playing || state.listening || 'denoised';
	const to = from === 'noisy' ? 'denoised' : 'noisy';
	const a = from === 'noisy' ? noisy : clean;
	const b = to === 'noisy' ? noisy : clean;
	const t = a.currentTime;
	state.listening = to;
	a.pause();
	b.currentTime = Math.min(t, isFinite(b.duration) ? b.duration : t);
	b.play().catch(showError);
	$('audio-listening').textContent = `listening to the ${to} version`;
}

/* Decodes audio bytes to mono at 16 kHz (the models' rate), or rejects. */
async function decodeMono(blob) {
	const ctx = new OfflineAudioContext(1, 1, 16000);
	const buf = await ctx.decodeAudioData(await blob.arrayBuffer());
	const n = buf.length;
	const mono = new Float32Array(n);
	for (let c = 0; c < buf.numberOfChannels; c++) {
		const d = buf.getChannelData(c);
		for (let i = 0; i < n; i++) mono[i] += d[i] / buf.numberOfChannels;
	}
	return { data: mono, rate: buf.sampleRate };
}

async function drawAudio(noisyBlob, cleanBlob) {
	const [a, b] = await Promise.all([decodeMono(noisyBlob), decodeMono(cleanBlob)]);
	const peak = Math.max(maxAbs(a.data), maxAbs(b.data), 1e-6);
	drawWave($('wave-noisy'), a.data, peak);
	drawWave($('wave-denoised'), b.data, peak);
	const sa = spectrogram(a.data);
	const sb = spectrogram(b.data);
	const top = Math.max(sa.max, sb.max);
	drawSpec($('spec-noisy'), sa, top);
	drawSpec($('spec-denoised'), sb, top);
}

function maxAbs(x) {
	let m = 0;
	for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
	return m;
}

function drawWave(canvas, x, peak) {
	const g = canvas.getContext('2d');
	const w = canvas.width;
	const h = canvas.height;
	g.clearRect(0, 0, w, h);
	g.fillStyle = '#2563eb';
	const per = x.length / w;
	for (let px = 0; px < w; px++) {
		let lo = 0;
		let hi = 0;
		const end = Math.min(x.length, Math.floor((px + 1) * per));
		for (let i = Math.floor(px * per); i < end; i++) {
			if (x[i] < lo) lo = x[i];
			if (x[i] > hi) hi = x[i];
		}
		const y0 = h / 2 - (hi / peak) * (h / 2 - 2);
		const y1 = h / 2 - (lo / peak) * (h / 2 - 2);
		g.fillRect(px, y0, 1, Math.max(1, y1 - y0));
	}
}

/* In-place iterative radix-2 FFT of (re, im), length a power of two. */
function fft(re, im) {
	const n = re.length;
	for (let i = 1, j = 0; i < n; i++) {
		let bit = n >> 1;
		for (; j & bit; bit >>= 1) j ^= bit;
		j ^= bit;
		if (i < j) {
			[re[i], re[j]] = [re[j], re[i]];
			[im[i], im[j]] = [im[j], im[i]];
		}
	}
	for (let len = 2; len <= n; len <<= 1) {
		const ang = (-2 * Math.PI) / len;
		const wr = Math.cos(ang);
		const wi = Math.sin(ang);
		for (let i = 0; i < n; i += len) {
			let cr = 1;
			let ci = 0;
			for (let k = 0; k < len / 2; k++) {
				const ar = re[i + k + len / 2] * cr - im[i + k + len / 2] * ci;
				const ai = re[i + k + len / 2] * ci + im[i + k + len / 2] * cr;
				re[i + k + len / 2] = re[i + k] - ar;
				im[i + k + len / 2] = im[i + k] - ai;
				re[i + k] += ar;
				im[i + k] += ai;
				const t = cr * wr - ci * wi;
				ci = cr * wi + ci * wr;
				cr = t;
			}
		}
	}
}

/* Magnitude spectrogram in dB: the models' analysis (periodic Hann, n_fft
 * 512, hop 128), the hop widened for long files so at most 2000 frames are
 * computed. */
function spectrogram(x) {
	const n = 512;
	const bins = n / 2 + 1;
	const hop = Math.max(128, Math.ceil(x.length / 2000));
	const frames = Math.max(1, Math.floor((x.length - n) / hop) + 1);
	const win = new Float64Array(n);
	for (let i = 0; i < n; i++) win[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
	const db = new Float32Array(frames * bins);
	const re = new Float64Array(n);
	const im = new Float64Array(n);
	let max = -Infinity;
	for (let f = 0; f < frames; f++) {
		for (let i = 0; i < n; i++) {
			re[i] = (x[f * hop + i] || 0) * win[i];
			im[i] = 0;
		}
		fft(re, im);
		for (let k = 0; k < bins; k++) {
			const v = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
			db[f * bins + k] = v;
			if (v > max) max = v;
		}
	}
	return { db, frames, bins, max };
}

/* A dark-to-bright colour ramp for dB over an 80 dB range below top. */
function ramp(v) {
	const t = Math.min(1, Math.max(0, v));
	return [Math.round(255 * Math.min(1, 1.8 * t)), Math.round(255 * Math.max(0, 1.6 * t - 0.5)), Math.round(255 * (0.35 + 0.4 * Math.sin(Math.PI * t)) * (1 - t * 0.6))];
}

function drawSpec(canvas, s, top) {
	const img = new ImageData(s.frames, s.bins);
	for (let f = 0; f < s.frames; f++)
		for (let k = 0; k < s.bins; k++) {
			const [r, g, b] = ramp((s.db[f * s.bins + k] - (top - 80)) / 80);
			const o = ((s.bins - 1 - k) * s.frames + f) * 4;
			img.data[o] = r;
			img.data[o + 1] = g;
			img.data[o + 2] = b;
			img.data[o + 3] = 255;
		}
	drawImageData(canvas, img);
}

/* Puts an ImageData on canvas scaled to its size. */
function drawImageData(canvas, img) {
	const tmp = document.createElement('canvas');
	tmp.width = img.width;
	tmp.height = img.height;
	tmp.getContext('2d').putImageData(img, 0, 0);
	const g = canvas.getContext('2d');
	g.imageSmoothingEnabled = true;
	g.clearRect(0, 0, canvas.width, canvas.height);
	g.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

/* 16-bit PCM WAV of mono float samples. */
function encodeWav(x, rate) {
	const buf = new ArrayBuffer(44 + x.length * 2);
	const v = new DataView(buf);
	const str = (o, s) => [...s].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
	str(0, 'RIFF');
	v.setUint32(4, 36 + x.length * 2, true);
	str(8, 'WAVEfmt ');
	v.setUint32(16, 16, true);
	v.setUint16(20, 1, true);
	v.setUint16(22, 1, true);
	v.setUint32(24, rate, true);
	v.setUint32(28, rate * 2, true);
	v.setUint16(32, 2, true);
	v.setUint16(34, 16, true);
	str(36, 'data');
	v.setUint32(40, x.length * 2, true);
	for (let i = 0; i < x.length; i++) v.setInt16(44 + i * 2, Math.max(-1, Math.min(1, x[i])) * 32767, true);
	return new Blob([buf], { type: 'audio/wav' });
}

/* Record / Stop: the microphone through MediaRecorder, decoded by the
 * browser and sent as a WAV (the API reads WAV, FLAC, Ogg…, not WebM). */
async function toggleRecord() {
	const btn = $('audio-record');
	if (state.recorder) {
		state.recorder.stop();
		return;
	}
	clearError();
	let stream;
	try {
		stream = await navigator.mediaDevices.getUserMedia({ audio: true });
	} catch (e) {
		showError(new Error(`the microphone is not available: ${e.message}`));
		return;
	}
	const chunks = [];
	const rec = new MediaRecorder(stream);
	rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
	rec.onstop = async () => {
		stream.getTracks().forEach((t) => t.stop());
		state.recorder = null;
		btn.textContent = 'Record';
		try {
			const { data, rate } = await decodeMono(new Blob(chunks, { type: rec.mimeType }));
			setAudioInput(encodeWav(data, rate), 'recording.wav');
		} catch (e) {
			showError(new Error(`the recording could not be decoded: ${e.message}`));
		}
	};
	rec.start(250);
	state.recorder = rec;
	btn.textContent = 'Stop recording';
	$('audio-status').textContent = 'Recording… press Stop recording to denoise it.';
}

/* ---- frames ---- */

/* The API takes JPEG and PNG frames and answers in the input's format, so
 * both are sent as they are; anything else the browser can decode (WebP,
 * GIF, BMP) is re-encoded here as a PNG, which loses nothing. */
async function asFrame(file) {
	if (file.type === 'image/jpeg' || /\.jpe?g$/i.test(file.name)) return { blob: file, type: 'image/jpeg', converted: false };
	if (file.type === 'image/png' || /\.png$/i.test(file.name)) return { blob: file, type: 'image/png', converted: false };
	const bmp = await createImageBitmap(file);
	const c = document.createElement('canvas');
	c.width = bmp.width;
	c.height = bmp.height;
	c.getContext('2d').drawImage(bmp, 0, 0);
	const blob = await new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('could not re-encode the frame as PNG'))), 'image/png'));
	return { blob, type: 'image/png', converted: true };
}

async function denoiseFrame(file) {
	clearError();
	const q = new URLSearchParams();
	if ($('frame-model').value) q.set('model', $('frame-model').value);
	if ($('frame-quality').value) q.set('quality', $('frame-quality').value);
	$('frame-status').textContent = `Denoising ${file.name}…`;
	const t0 = performance.now();
	try {
		const sent = await asFrame(file).catch((e) => {
			throw new ProblemError({ title: 'Not an image this browser can read', detail: `${file.name}: ${e.message}` }, 0);
		});
		const resp = await api('/v1/frames:denoise?' + q, {
			method: 'POST',
			body: sent.blob,
			headers: { 'Content-Type': sent.type },
		});
		const out = await resp.blob();
		const before = $('frame-before');
		const after = $('frame-after');
		before.src = objectUrl('before', file);
		after.src = objectUrl('after', out);
		await Promise.all([before.decode(), after.decode()]);
		$('frame-result').hidden = false;
		/* Small frames are shown enlarged, pixel for pixel. */
		const scale = Math.max(1, Math.floor(480 / Math.max(1, after.naturalWidth)));
		$('frame-compare').style.width = `${after.naturalWidth * scale}px`;
		$('frame-compare').classList.toggle('enlarged', scale > 1);
		$('frame-download').href = state.urls.after;
		const ext = out.type === 'image/png' ? 'png' : 'jpg';
		$('frame-download').download = file.name.replace(/\.[^.]*$/, '') + '-denoised.' + ext;
		$('frame-download').textContent = `Download the result (${ext.toUpperCase()})`;
		$('frame-size').textContent = `${after.naturalWidth}×${after.naturalHeight} (input ${before.naturalWidth}×${before.naturalHeight})`;
		$('frame-status').textContent = `Denoised ${file.name}${sent.converted ? ' (sent as a PNG)' : ''} in ${((performance.now() - t0) / 1000).toFixed(2)} s.`;
		slide();
	} catch (e) {
		$('frame-status').textContent = `Not denoised: ${e.message}`;
		showError(e);
	}
}

/* Left of the line: before; right of it: after. */
function slide() {
	const v = Number($('frame-slider').value);
	$('frame-after').style.clipPath = `inset(0 0 0 ${v}%)`;
	$('frame-line').style.left = `${v}%`;
}

/* ---- jobs: the form from the schema ---- */

function resolve(schema) {
	let s = schema;
	while (s && s.$ref) {
		const path = s.$ref.replace(/^#\//, '').split('/');
		s = path.reduce((o, k) => o && o[k], state.openapi);
	}
	return s || {};
}

/* Which job types a member applies to: its x-job-types, else (for params)
 * from its description ("train", "eval", "train and eval", "train: ...");
 * null: all. */
function appliesTo(s, byDescription) {
	if (Array.isArray(s['x-job-types'])) return s['x-job-types'];
	if (!byDescription) return null;
	const m = /^(train and eval|train|eval)\b/.exec(s.description || '');
	if (!m) return null;
	return m[1] === 'train and eval' ? ['train', 'eval'] : [m[1]];
}

/* A member's default for job type t: from x-defaults when it has them
 * (none for a type it lacks), else its default. */
function defaultFor(s, t) {
	const d = s['x-defaults'];
	return d ? d[t] : s.default;
}

const formFields = []; // {path: [..], schema, input(s), applies}

function buildJobForm() {
	const spec = resolve(state.openapi.components.schemas.JobSpec);
	const box = $('job-fields');
	box.replaceChildren(el('datalist', { id: 'job-model-names' }));
	formFields.length = 0;
	const top = el('fieldset', {}, el('legend', {}, 'Job'));
	const params = el('fieldset', {}, el('legend', {}, 'params'));
	for (const [name, raw] of Object.entries(spec.properties || {})) {
		const s = resolve(raw);
		if (s.type === 'object' && s.properties) {
			for (const [pn, praw] of Object.entries(s.properties)) params.append(field([name, pn], resolve(praw), appliesTo(resolve(praw), true)));
		} else {
			top.append(field([name], s, appliesTo(s), (spec.required || []).includes(name)));
		}
	}
	box.append(top, params);
	updateJobFields();
	loadModels().catch(() => {});
}

function field(path, s, applies, required) {
	const id = 'job-' + path.join('-');
	let input;
	let get;
	let set = null;
	if (s.enum) {
		input = el('select', { id, name: path.join('.') }, required ? null : el('option', { value: '' }, s.default === undefined ? '(server decides)' : ''), s.enum.map((v) => el('option', { value: v }, v)));
		if (s.default !== undefined) input.value = s.default;
		get = () => (input.value === '' ? undefined : input.value);
	} else if (s.type === 'integer' || s.type === 'number') {
		input = el('input', { id, name: path.join('.'), type: 'number', min: s.minimum, max: s.maximum, step: s.type === 'integer' ? 1 : 'any', value: s.default, placeholder: s.default === undefined ? 'server default' : '' });
		get = () => (input.value === '' ? undefined : Number(input.value));
		set = (v) => (input.value = v === undefined ? '' : v);
	} else if (s.type === 'array' && s.items && resolve(s.items).enum) {
		const items = resolve(s.items).enum;
		const boxes = items.map((v) => el('input', { type: 'checkbox', value: v, name: path.join('.') }));
		input = el('span', { id }, items.map((v, i) => el('label', {}, boxes[i], v, ' ')));
		if (Array.isArray(s.default)) boxes.forEach((b) => (b.checked = s.default.includes(b.value)));
		get = () => {
			const v = boxes.filter((b) => b.checked).map((b) => b.value);
			return v.length ? v : undefined;
		};
	} else if (s.type === 'array') {
		input = el('input', { id, name: path.join('.'), type: 'text', value: Array.isArray(s.default) ? s.default.join(', ') : '', placeholder: 'comma-separated' });
		set = (v) => (input.value = Array.isArray(v) ? v.join(', ') : '');
		get = () => {
			const t = input.value.trim();
			if (!t) return undefined;
			return t.split(/[\s,]+/).map((x) => (resolve(s.items).type === 'number' || resolve(s.items).type === 'integer' ? Number(x) : x));
		};
	} else {
		input = el('input', { id, name: path.join('.'), type: 'text', value: s.default, list: path[0] === 'model' ? 'job-model-names' : undefined, required });
		get = () => (input.value.trim() === '' ? undefined : input.value.trim());
		set = (v) => (input.value = v === undefined ? '' : v);
	}
	const bounds = [s.minimum !== undefined && s.maximum !== undefined ? `${s.minimum}…${s.maximum}` : s.minimum !== undefined ? `≥ ${s.minimum}` : '', s.default !== undefined ? `default ${JSON.stringify(s.default)}` : ''].filter(Boolean).join(', ');
	const row = el('div', { class: 'field', 'data-applies': applies ? applies.join(' ') : 'all' }, el('label', { for: id }, path[path.length - 1]), input, el('span', { class: 'hint' }, [s.description, bounds].filter(Boolean).join(' — ')));
	formFields.push({ path, schema: s, get, set, row, applies, shownFor: null });
	if (path[0] === 'type') input.addEventListener('change', updateJobFields);
	return row;
}

function jobType() {
	const t = $('job-type');
	return t ? t.value : 'train';
}

/* Shows the members the chosen type takes, with that type's defaults. */
function updateJobFields() {
	const t = jobType();
	for (const f of formFields) {
		f.row.classList.toggle('hidden', !!f.applies && !f.applies.includes(t));
		if (f.set && f.schema['x-defaults'] && f.shownFor !== t) f.set(defaultFor(f.schema, t));
		f.shownFor = t;
	}
}

/* The spec: every shown member whose value differs from its default. */
function jobSpec() {
	const spec = {};
	const t = jobType();
	for (const f of formFields) {
		if (f.applies && !f.applies.includes(t)) continue;
		const v = f.get();
		if (v === undefined) continue;
		const def = defaultFor(f.schema, t);
		if (f.path[0] !== 'type' && def !== undefined && JSON.stringify(v) === JSON.stringify(def)) continue;
		let o = spec;
		for (const k of f.path.slice(0, -1)) o = o[k] = o[k] || {};
		o[f.path[f.path.length - 1]] = v;
	}
	return spec;
}

async function submitJob(ev) {
	ev.preventDefault();
	clearError();
	try {
		const job = await apiJson('/v1/jobs', {
			method: 'POST',
			body: JSON.stringify(jobSpec()),
			headers: { 'Content-Type': 'application/json' },
		});
		followJob(job.id, job);
		refreshJobs().catch(() => {});
	} catch (e) {
		showError(e);
	}
}

/* ---- jobs: list, live progress, results ---- */

function pct(f) {
	return `${Math.round((f || 0) * 100)} %`;
}

async function refreshJobs() {
	const j = await apiJson('/v1/jobs?limit=20');
	$('jobs-table').tBodies[0].replaceChildren(
		...(j.jobs || []).map((job) =>
			el(
				'tr',
				{ class: 'clickable', 'data-job': job.id, on: { click: () => followJob(job.id) } },
				el('td', {}, job.id),
				el('td', {}, job.type),
				el('td', {}, el('span', { class: 'badge ' + job.state }, job.state)),
				el('td', {}, pct(job.progress && job.progress.fraction)),
				el('td', {}, job.created ? new Date(job.created).toLocaleString() : ''),
			),
		),
	);
}

function clearCharts() {
	state.charts.forEach((c) => c.destroy());
	state.charts = [];
	state.live = null;
	$('job-charts').replaceChildren();
	$('job-metrics').replaceChildren();
}

function followJob(id, first) {
	if (state.events) state.events.close();
	state.events = null;
	state.job = id;
	state.finished = null;
	clearCharts();
	$('job-panel').hidden = false;
	$('job-id').textContent = id;
	$('job-error').textContent = '';
	if (first) showProgress(first);
	const es = new EventSource(apiUrl('/v1/jobs/' + encodeURIComponent(id) + '/events'));
	state.events = es;
	es.addEventListener('progress', (e) => state.job === id && showProgress(JSON.parse(e.data)));
	es.addEventListener('done', (e) => {
		es.close();
		if (state.job !== id) return;
		const job = JSON.parse(e.data);
		showProgress(job);
		showResults(id).catch(showError);
		refreshJobs().catch(() => {});
	});
	es.addEventListener('end', () => {
		/* The stream's time limit or a stopping server: follow on. */
		es.close();
		if (state.job === id) setTimeout(() => state.job === id && followJob(id), 1000);
	});
	es.onerror = () => {
		if (es.readyState === EventSource.CLOSED && state.job === id) $('job-error').textContent = 'the event stream closed; click the job to follow it again';
	};
}

const FINAL = ['succeeded', 'failed', 'cancelled'];

function showProgress(job) {
	/* A DELETE's answer (still running, cancel requested) may arrive after
	 * the event stream's "done": a finished job's state is never undone. */
	if (state.finished === job.id && !FINAL.includes(job.state)) return;
	if (FINAL.includes(job.state)) state.finished = job.id;
	const p = job.progress || {};
	const f = job.state === 'succeeded' ? 1 : p.fraction || 0;
	$('job-state').textContent = job.state;
	$('job-state').className = 'badge ' + job.state;
	$('job-progress').value = f;
	$('job-percent').textContent = pct(f);
	$('job-epoch').textContent = p.epochs ? `epoch ${p.epoch} of ${p.epochs}` : p.files ? `file ${p.files_done} of ${p.files}` : '';
	$('job-eta').textContent = job.state === 'running' && p.eta_s !== null && p.eta_s !== undefined ? `ETA ${formatSeconds(p.eta_s)}` : '';
	$('job-cancel').disabled = !(job.state === 'queued' || job.state === 'running');
	$('job-error').textContent = job.error || '';
	if ((job.type === 'train' || job.type === 'train-frame') && p.epoch && p.loss !== null && p.loss !== undefined) liveCurve(p);
}

function formatSeconds(s) {
	return s < 90 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

const palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

/* A uPlot chart in a titled box; data is [x, ...ys]. */
function chart(id, title, xLabel, names, data, opts = {}) {
	const box = el('div', { class: 'chart', 'data-plot': id }, el('h4', {}, title));
	$('job-charts').append(box);
	const u = new uPlot(
		{
			width: opts.width || 460,
			height: 240,
			scales: { x: { time: false }, ...(opts.scales || {}) },
			axes: [{ label: xLabel, ...(xLabel === 'epoch' ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] } : {}) }, { label: opts.yLabel || '' }],
			series: [{ label: xLabel }, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2, points: { show: data[0].length < 40 }, ...(opts.series || {}) }))],
		},
		data,
		box,
	);
	state.charts.push(u);
	return u;
}

/* The live training curve from progress events (an epoch's last loss and
 * its val_loss, or a frame job's val_psnr), until the job's plots replace
 * it. */
function liveCurve(p) {
	if (typeof uPlot === 'undefined') return;
	const vk = p.val_psnr !== undefined ? 'val_psnr' : 'val_loss';
	if (!state.live) {
		state.live = { epoch: [], loss: [], val: [] };
		state.live.chart = chart('live', 'Training (live)', 'epoch', ['loss', vk], [[], [], []]);
	}
	const l = state.live;
	const i = l.epoch.indexOf(p.epoch);
	if (i < 0) {
		l.epoch.push(p.epoch);
		l.loss.push(p.loss);
		l.val.push(p[vk] === undefined ? null : p[vk]);
	} else {
		l.loss[i] = p.loss;
		if (p[vk] !== null && p[vk] !== undefined) l.val[i] = p[vk];
	}
	l.chart.setData([l.epoch, l.loss, l.val]);
}

async function showResults(id) {
	const job = await apiJson('/v1/jobs/' + encodeURIComponent(id));
	if (state.job !== id) return;
	showMetrics(job.metrics);
	if (job.state !== 'succeeded') return;
	const plots = await apiJson('/v1/jobs/' + encodeURIComponent(id) + '/plots');
	if (state.job !== id) return;
	clearChartsOnly();
	drawPlots(plots);
}

function clearChartsOnly() {
	state.charts.forEach((c) => c.destroy());
	state.charts = [];
	state.live = null;
	$('job-charts').replaceChildren();
}

function drawPlots(plots) {
	const t = plots.training;
	if (t && t.epoch) {
		const title = `Training curves${t.best_epoch ? ` (best epoch ${t.best_epoch}${t.stopped_early ? ', stopped early' : ''})` : ''}`;
		if (t.val_psnr) {
			chart('training', title, 'epoch', ['loss'], [t.epoch, t.loss]);
			chart('val-psnr', `Validation PSNR at σ ${t.val_sigma || 25} (noisy ${fmt(t.noisy_val_psnr)} dB)`, 'epoch', ['val_psnr'], [t.epoch, t.val_psnr], { yLabel: 'dB' });
		} else chart('training', title, 'epoch', ['loss', 'val_loss'], [t.epoch, t.loss, t.val_loss]);
		if (t.lr) chart('lr', 'Learning rate', 'epoch', ['lr'], [t.epoch, t.lr], { scales: { y: { distr: 3 } } });
	}
	const mv = plots.metric_vs_snr;
	if (mv && mv.series) {
		for (const [metric, s] of Object.entries(mv.series)) {
			const names = Object.keys(s);
			chart('snr-' + metric, `${metric} vs input SNR`, 'input SNR (dB)', names, [mv.x_snr_db, ...names.map((n) => s[n])]);
		}
	}
	const ms = plots.metric_vs_sigma;
	if (ms && ms.series) {
		for (const [metric, s] of Object.entries(ms.series)) {
			const names = Object.keys(s);
			chart('sigma-' + metric, `${metric} vs noise σ`, 'σ (0..255)', names, [ms.x_sigma, ...names.map((n) => s[n])]);
		}
	}
	for (const [i, e] of (plots.examples || []).entries()) {
		const box = el('div', { class: 'chart', 'data-plot': 'example-' + i }, el('h4', {}, `${e.file} — σ ${e.sigma}`));
		for (const k of ['clean', 'noisy', 'denoised']) if (e[k]) box.append(el('figure', {}, el('figcaption', {}, k), el('img', { src: e[k], width: e.w, height: e.h, alt: `${k} crop of ${e.file}` })));
		$('job-charts').append(box);
	}
	if (plots.histograms) {
		for (const [metric, h] of Object.entries(plots.histograms)) {
			const mids = h.edges.slice(0, -1).map((e, i) => (e + h.edges[i + 1]) / 2);
			const names = Object.keys(h).filter((k) => k !== 'edges');
			chart('hist-' + metric, `${metric} distribution`, metric, names, [mids, ...names.map((n) => h[n])], {
				yLabel: 'files',
				series: { paths: uPlot.paths.stepped({ align: 0 }), points: { show: false } },
			});
		}
	}
	for (const [i, s] of (plots.spectrograms || []).entries()) {
		const box = el('div', { class: 'chart', 'data-plot': 'spectrogram-' + i }, el('h4', {}, `${s.file} — ${s.noise} noise at ${s.snr_db} dB`));
		let top = -Infinity;
		for (const k of ['clean', 'noisy', 'denoised']) for (const row of s[k] || []) for (const v of row) if (v !== null && v > top) top = v;
		for (const k of ['clean', 'noisy', 'denoised']) {
			if (!s[k]) continue;
			const c = el('canvas', { width: 300, height: 120 });
			const img = new ImageData(s.frames, s.bins);
			for (let b = 0; b < s.bins; b++)
				for (let f = 0; f < s.frames; f++) {
					const [r, g, bl] = ramp(((s[k][b][f] ?? top - 80) - (top - 80)) / 80);
					const o = ((s.bins - 1 - b) * s.frames + f) * 4;
					img.data.set([r, g, bl, 255], o);
				}
			drawImageData(c, img);
			box.append(el('figure', {}, el('figcaption', {}, k), c));
		}
		$('job-charts').append(box);
	}
}

function fmt(v) {
	return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function showMetrics(m) {
	const t = $('job-metrics');
	t.replaceChildren();
	if (!m) return;
	if (m.summary) {
		t.append(el('tr', {}, el('th', {}, 'metric (all files)'), el('th', {}, 'model'), el('th', {}, 'noisy')));
		for (const [k, c] of Object.entries(m.summary)) {
			const cell = (x) => (x ? `${fmt(x.mean)} ± ${fmt(x.std)} (n ${x.n})` : '');
			t.append(el('tr', {}, el('th', {}, k), el('td', {}, c.model ? cell(c.model) : cell(c)), el('td', {}, cell(c.noisy))));
		}
		/* a frame training job's own figures beside its model's scores */
		for (const [k, v] of Object.entries(m)) if (v === null || typeof v !== 'object') t.append(el('tr', {}, el('th', {}, k), el('td', {}, fmt(v))));
		return;
	}
	for (const [k, v] of Object.entries(m)) t.append(el('tr', {}, el('th', {}, k), el('td', {}, fmt(v))));
}

async function cancelJob() {
	if (!state.job) return;
	clearError();
	try {
		showProgress(await apiJson('/v1/jobs/' + encodeURIComponent(state.job), { method: 'DELETE' }));
	} catch (e) {
		showError(e);
	}
}

/* ---- wiring ---- */

function dropZone(zone, input, onFile) {
	input.addEventListener('change', () => input.files[0] && onFile(input.files[0]));
	zone.addEventListener('dragover', (e) => {
		e.preventDefault();
		zone.classList.add('over');
	});
	zone.addEventListener('dragleave', () => zone.classList.remove('over'));
	zone.addEventListener('drop', (e) => {
		e.preventDefault();
		zone.classList.remove('over');
		if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
	});
}

/* Reads what the server offers: readiness, the OpenAPI document (formats,
 * job schema) and the models. Again whenever the API field changes. */
async function start() {
	document.body.dataset.ready = '';
	try {
		const r = await apiJson('/v1/health/ready');
		$('server-state').textContent = `ready: ${r.models} models, ${r.workers} workers`;
	} catch (e) {
		$('server-state').textContent = `not ready: ${e.message}`;
	}
	try {
		state.openapi = await apiJson('/v1/openapi.json');
		const f = audioFormats();
		$('audio-format').replaceChildren(...f.list.map((v) => el('option', { value: v }, v)));
		$('audio-format').value = f.def || f.list[0];
		buildJobForm();
	} catch (e) {
		showError(e);
	}
	await loadModels().catch(showError);
	document.body.dataset.ready = '1';
}

function wire() {
	const q = new URLSearchParams(location.search);
	$('api-base').value = q.get('api') || localStorage.getItem('denoised.api') || '';
	$('api-key').value = sessionStorage.getItem('denoised.key') || '';
	$('api-base').addEventListener('change', () => {
		localStorage.setItem('denoised.api', apiBase());
		start();
	});
	$('api-key').addEventListener('change', () => {
		sessionStorage.setItem('denoised.key', $('api-key').value.trim());
		$('api-key').classList.remove('wanted');
	});
	$('connection').addEventListener('submit', (e) => e.preventDefault());
	window.addEventListener('hashchange', showView);
	dropZone($('audio-drop'), $('audio-file'), (f) => setAudioInput(f, f.name));
	dropZone($('frame-drop'), $('frame-file'), denoiseFrame);
	$('audio-again').addEventListener('click', denoiseAudio);
	$('audio-toggle').addEventListener('click', toggleAB);
	$('audio-record').addEventListener('click', toggleRecord);
	$('audio-noisy').addEventListener('play', () => $('audio-denoised').pause());
	$('audio-denoised').addEventListener('play', () => $('audio-noisy').pause());
	$('frame-slider').addEventListener('input', slide);
	$('job-form').addEventListener('submit', submitJob);
	$('job-cancel').addEventListener('click', cancelJob);
	$('jobs-refresh').addEventListener('click', () => refreshJobs().catch(showError));
	showView();
	start();
}

wire();
