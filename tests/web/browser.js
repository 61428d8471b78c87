/*
 * browser.js — the web page's checks in a real browser, run by
 * tests/extra-web.sh (which writes the inputs into DN_WEB_TMP and sets
 * NODE_PATH to web/node_modules).
 *
 * Starts the real daemon (DN_BUILDDIR/daemon/denoised) on a free loopback
 * port with the shipped models, a tiny training set, an API key and a CORS
 * origin for a second, static server that hosts the same page files (the
 * "opened from another origin" case); drives Debian's chromium with
 * playwright-core (headless, no sandbox, no background networking, a fake
 * microphone reading mic.wav). Each check prints "ok:" or "FAILED:";
 * screenshots of every view go to DN_WEB_OUT; the last line is
 * "N passed, N failed".
 */
'use strict';

const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const top = process.env.DN_TOP;
const build = process.env.DN_BUILDDIR;
const tmp = process.env.DN_WEB_TMP;
const out = process.env.DN_WEB_OUT;
const token = 'web-test-token-3f9c';

let passed = 0;
let failed = 0;
function check(name, cond, info) {
	if (cond) {
		passed++;
		console.log('ok: ' + name);
	} else {
		failed++;
		console.log('FAILED: ' + name + (info !== undefined ? ' — ' + (typeof info === 'string' ? info : JSON.stringify(info)) : ''));
	}
	return !!cond;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* The page's files from the source tree, as another web server would host
 * them: / is web/index.html, /web/NAME is web/NAME. */
function staticServer() {
	const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://x');
		const name = u.pathname === '/' ? 'index.html' : u.pathname.startsWith('/web/') ? path.basename(u.pathname) : null;
		const file = name && path.join(top, 'web', name);
		if (!file || !fs.existsSync(file)) {
			res.writeHead(404);
			res.end();
			return;
		}
		res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
		res.end(fs.readFileSync(file));
	});
	return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

async function startDaemon(corsOrigin) {
	fs.mkdirSync(path.join(tmp, 'state'), { recursive: true });
	fs.writeFileSync(path.join(tmp, 'key'), token + '\n', { mode: 0o600 });
	const conf = path.join(tmp, 'denoised.conf');
	fs.writeFileSync(
		conf,
		[
			`models = ${top}/models/speech.safetensors, ${top}/models/frame.safetensors, ${tmp}/models/live.safetensors, ${tmp}/models/bare.safetensors`,
			'default_model = speech',
			'cores = 2',
			'workers = 1',
			`state_dir = ${tmp}/state`,
			`data_roots = ${tmp}/data`,
			'max_jobs = 1',
			`api_key_file = ${tmp}/key`,
			`cors_origins = ${corsOrigin}`,
			'log_level = info',
			'',
		].join('\n'),
	);
	const portFile = path.join(tmp, 'port');
	const log = fs.openSync(path.join(out, 'denoised.log'), 'w');
	const d = spawn(path.join(build, 'daemon/denoised'), ['--config', conf, '--listen', '127.0.0.1', '--port', '0', '--port-file', portFile], {
		stdio: ['ignore', log, log],
		env: { ...process.env, DN_SPEECH_DIR: path.join(tmp, 'nocorpus') },
	});
	for (let i = 0; i < 300; i++) {
		if (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) {
			const port = Number(fs.readFileSync(portFile, 'utf8').trim());
			try {
				const r = await fetch(`http://127.0.0.1:${port}/v1/health/ready`);
				if (r.ok) return { proc: d, port };
			} catch (e) {
				/* not yet */
			}
		}
		if (d.exitCode !== null) break;
		await sleep(100);
	}
	return { proc: d, port: 0 };
}

/* Waits until fn() (evaluated in the page) is truthy; returns its value or
 * null after ms. */
async function until(page, fn, arg, ms = 20000) {
	try {
		const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
		return await h.jsonValue();
	} catch (e) {
		return null;
	}
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(out, name + '.png'), fullPage: true });
}

/* The tables of a Markdown text as GitHub draws them: for each, its number
 * of body rows (the rows after the delimiter row). */
function markdownTables(text) {
	const lines = text.split('\n');
	const tables = [];
	for (let i = 1; i < lines.length; i++) {
		if (lines[i - 1].includes('|') && /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$/.test(lines[i])) {
			let n = 0;
			while (i + 1 + n < lines.length && lines[i + 1 + n].includes('|') && lines[i + 1 + n].trim()) n++;
			tables.push(n);
			i += n;
		}
	}
	return tables;
}

/* The Models tab's cards: the shipped speech card with its tables, the test
 * card's markup shown as text, and a model without a card. */
async function modelCards(page, base) {
	const file = fs.readFileSync(path.join(top, 'models/speech.md'), 'utf8');
	const served = await fetch(base + '/v1/models/speech/card');
	check('GET /v1/models/speech/card is models/speech.md as text/markdown', served.ok && (served.headers.get('content-type') || '').startsWith('text/markdown') && (await served.text()) === file);
	const card = await until(page, () => document.querySelector('#model-card[data-model="speech"][data-state]') && document.getElementById('model-card').dataset.state);
	check("the speech model's card is shown", card === 'shown', card);
	const want = markdownTables(file);
	const got = await page.$$eval('#model-card table', (ts) => ts.map((t) => t.tBodies[0].rows.length));
	check("the card's tables are HTML tables with their rows", want.length >= 3 && got.join() === want.join(), { want, got });
	const figures = await page.$$eval('#model-card table', (ts) => ts.map((t) => [...t.querySelectorAll('th')].map((x) => x.textContent)));
	check("a card table's header cells are its columns", figures.some((h) => h.includes('val loss') && h.includes('train loss')), figures);
	const heading = file.split('\n')[0].replace(/^#\s*/, '');
	check("the card's text is shown (its title, its code)", (await page.textContent('#model-card h3')) === heading && (await page.$$('#model-card pre code')).length > 0);
	await shot(page, 'models');

	await page.click('#models-table tr[data-model="live"]');
	await until(page, () => document.querySelector('#model-card[data-model="live"][data-state="shown"]'));
	const hostile = await page.evaluate(() => {
		const c = document.getElementById('model-card');
		const links = [...c.querySelectorAll('a')].map((a) => [a.textContent, a.getAttribute('href'), a.rel]);
		return {
			pwned: window.__pwned || null,
			elements: [...c.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()).filter((t) => !['h3', 'p', 'code', 'em', 'strong', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'ul', 'li', 'a'].includes(t)),
			scriptText: c.querySelector('h3').textContent.includes('<script>window.__pwned = 1</script>'),
			imgText: c.textContent.includes('<img src="x" onerror="window.__pwned = 2">'),
			cell: [...c.querySelectorAll('td')].map((td) => td.textContent),
			align: [...c.querySelectorAll('thead th')].map((th) => th.className),
			links,
		};
	});
	check('a model without training figures shows no stray text', await page.$eval('#model-details', (d) => [...d.childNodes].every((n) => n.nodeType === Node.ELEMENT_NODE)));
	check("a card's markup is shown as text, never run (<script>, <img onerror>)", !hostile.pwned && hostile.elements.length === 0 && hostile.scriptText && hostile.imgText, hostile);
	check("a card's javascript: link stays text; an https link is a link", hostile.links.length === 1 && hostile.links[0][1] === 'https://example.org/card' && /noopener/.test(hostile.links[0][2]) && hostile.cell.some((t) => t.startsWith('a script link and')), hostile.links);
	check("a card table keeps its alignment and escaped bars", hostile.align.join() === ',align-right,align-center' && hostile.cell.includes('<b>not bold</b>') && (await page.$eval('#model-card thead', (t) => t.textContent)).includes('note | remark'), hostile);
	await shot(page, 'models-card-markup');

	const none = await (await fetch(base + '/v1/models/bare/card')).json();
	await page.click('#models-table tr[data-model="bare"]');
	const noneShown = await until(page, () => document.querySelector('#model-card[data-model="bare"][data-state="none"]') && document.getElementById('model-card').textContent);
	check("a model without a card says so with the server's detail", noneShown === none.detail && /no-model-card$/.test(none.type), { noneShown, none });
}

/* One live session on page (audio view, the key set): starts it, lets it
 * run for ms, stops it; returns what the page showed. With name, a
 * screenshot while it runs (name) and after it ended (name-done). */
async function liveSession(page, format, ms, name) {
	await page.selectOption('#live-format', format);
	await page.click('#audio-live');
	const started = await until(page, () => document.getElementById('live-state').textContent === 'live' && Number(document.getElementById('live-received').dataset.value) > 0 && Number(document.getElementById('live-latency').dataset.value) > 0, null, 20000);
	const during = await page.evaluate(() => ({ sent: Number(document.getElementById('live-sent').dataset.value), received: Number(document.getElementById('live-received').dataset.value), latency: Number(document.getElementById('live-latency').dataset.value) }));
	await sleep(ms);
	if (name) await shot(page, name);
	await page.click('#audio-live');
	const done = await until(page, () => document.getElementById('live-done').dataset.done && document.getElementById('live-state').textContent === 'off' && document.getElementById('live-done').dataset.done, null, 20000);
	const after = await page.evaluate(() => ({
		sent: Number(document.getElementById('live-sent').dataset.value),
		received: Number(document.getElementById('live-received').dataset.value),
		played: Number(document.getElementById('live-buffer').dataset.value),
		peak: Number(document.getElementById('live-buffer').dataset.peak),
		status: document.getElementById('live-status').textContent,
	}));
	if (name) await shot(page, name + '-done');
	return { started: !!started, during, done: done ? JSON.parse(done) : null, ...after };
}

/* The live mode: microphone (the fake capture device) -> /v1/audio:stream
 * -> playback, in both formats, and a refusal's detail. */
async function liveMode(page, base) {
	const models = (await (await fetch(base + '/v1/models')).json()).models;
	const live = models.find((m) => m.name === 'live');
	const options = await page.$$eval('#live-model option', (o) => o.map((x) => x.value));
	check('the live model list puts the streamable models first, chosen by default', options[0] === 'live' && (await page.$eval('#live-model', (s) => s.value)) === 'live' && options.length === models.filter((m) => m.kind === 'audio').length, options);
	const s16 = await liveSession(page, 's16le', 2000, 'audio-live');
	check('a live session starts: PCM comes back while it runs', s16.started && s16.during.received > 0, s16);
	check("it shows the model's latency from the server's ready message", live.streaming && s16.during.latency >= live.streaming.latency_ms - 1e-6, { shown: s16.during.latency, model: live.streaming });
	check('stop gives the final counts: as many frames out as in', s16.done && s16.done.frames_in > 0 && s16.done.frames_out === s16.done.frames_in, s16.done);
	check('the page sent 20 ms s16le frames of the microphone, and got as many bytes back', s16.done && s16.sent === s16.done.frames_in * 2 && s16.received === s16.sent && s16.done.messages_in >= s16.done.seconds * 45, s16);
	check('the denoised sound was played (jitter buffer to the speakers)', s16.played > 0 && s16.peak > 0.001, { played: s16.played, peak: s16.peak });
	const f32 = await liveSession(page, 'f32le', 800);
	check('in f32le too', f32.done && f32.done.frames_in > 0 && f32.sent === f32.done.frames_in * 4 && f32.received === f32.sent, f32);

	/* A model that cannot stream: the server's problem, shown. */
	await page.selectOption('#live-model', 'speech');
	await page.click('#audio-live');
	const refused = await until(page, () => !document.getElementById('error').hidden && document.getElementById('live-state').textContent === 'off' && document.querySelector('#error .problem-detail').textContent);
	check("a model that cannot stream shows the server's problem detail", refused && /^model 'speech' is not causal and cannot stream/.test(refused) && /cannot stream \(422\)/.test(await page.textContent('#error .problem-title')), refused);
	await shot(page, 'audio-live-refused');
	await page.selectOption('#live-model', 'live');
	await page.selectOption('#live-format', 's16le');
}

let daemon = null;

async function run() {
	const stat = await staticServer();
	const origin = `http://127.0.0.1:${stat.address().port}`;
	const d = await startDaemon(origin);
	daemon = d;
	if (!check('the daemon starts and becomes ready', d.port > 0)) return;
	const base = `http://127.0.0.1:${d.port}`;

	/* ---- HTTP: types, caching, policy ---- */
	const idx = await fetch(base + '/');
	const csp = idx.headers.get('content-security-policy') || '';
	check('GET / is text/html', (idx.headers.get('content-type') || '').startsWith('text/html'), idx.headers.get('content-type'));
	check("GET / has a Content-Security-Policy without 'unsafe-inline' or other hosts", /script-src 'self'/.test(csp) && /default-src 'none'/.test(csp) && !/unsafe|https?:/.test(csp), csp);
	check('GET / is Cache-Control: no-cache with an ETag', idx.headers.get('cache-control') === 'no-cache' && /^"[0-9a-f]{16}"$/.test(idx.headers.get('etag') || ''));
	const again = await fetch(base + '/', { headers: { 'If-None-Match': idx.headers.get('etag') } });
	check('If-None-Match gets 304', again.status === 304, again.status);
	const js = await fetch(base + '/web/app.js');
	check('/web/app.js is text/javascript', js.ok && (js.headers.get('content-type') || '').startsWith('text/javascript'));
	const up = await fetch(base + '/web/uPlot.iife.min.js');
	const upBytes = Buffer.from(await up.arrayBuffer());
	check('the served uPlot is the locked package\'s file', upBytes.equals(fs.readFileSync(path.join(top, 'web/node_modules/uplot/dist/uPlot.iife.min.js'))));
	const missing = await fetch(base + '/web/nope.js');
	check('an unknown page file is a 404 problem', missing.status === 404 && (missing.headers.get('content-type') || '').includes('problem+json'));

	/* The details the page must show, asked for directly. */
	const noKey = await (await fetch(base + '/v1/audio:denoise', { method: 'POST', body: fs.readFileSync(path.join(tmp, 'noisy.wav')), headers: { 'Content-Type': 'audio/wav' } })).json();
	const textProblem = await (
		await fetch(base + '/v1/audio:denoise?model=speech&format=wav', {
			method: 'POST',
			body: fs.readFileSync(path.join(tmp, 'notes.txt')),
			headers: { 'Content-Type': 'text/plain', Authorization: 'Bearer ' + token },
		})
	).json();
	const openapi = await (await fetch(base + '/v1/openapi.json')).json();

	/* ---- the browser ---- */
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [
			...(process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : []),
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-default-apps',
			'--disable-sync',
			'--no-first-run',
			'--no-default-browser-check',
			'--metrics-recording-only',
			'--disable-domain-reliability',
			'--autoplay-policy=no-user-gesture-required',
			'--use-fake-ui-for-media-stream',
			'--use-fake-device-for-media-stream',
			`--use-file-for-fake-audio-capture=${path.join(tmp, 'mic.wav')}`,
		],
	});
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	await context.addInitScript(() => {
		window.__csp = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
	});
	const page = await context.newPage();
	const consoleErrors = [];
	/* Failed loads show up as console errors; the deliberate ones (no key,
	 * a text file as audio) are told apart by the failedLoads list. */
	const failedLoads = [];
	page.on('response', (r) => r.status() >= 400 && failedLoads.push(r.status() + ' ' + new URL(r.url()).pathname));
	page.on('console', (m) => m.type() === 'error' && !/^Failed to load resource/.test(m.text()) && consoleErrors.push(m.text()));
	page.on('pageerror', (e) => consoleErrors.push(String(e)));

	await page.goto(base + '/#audio');
	check('the page starts (OpenAPI, models, readiness read)', await until(page, () => document.body.dataset.ready === '1'));
	check('the server state shows readiness', /ready: 4 models/.test(await page.textContent('#server-state')), await page.textContent('#server-state'));
	const audioModels = (await (await fetch(base + '/v1/models')).json()).models.filter((m) => m.kind === 'audio').map((m) => m.name);
	const listed = await page.$$eval('#audio-model option', (o) => o.map((x) => x.value));
	check('the audio model list comes from /v1/models', audioModels.length === 3 && listed.join() === audioModels.join(), { listed, audioModels });
	const formats = openapi.paths['/v1/audio:denoise'].post.parameters.find((p) => p.name === 'format').schema.enum;
	check('the audio formats come from the OpenAPI document', (await page.$$eval('#audio-format option', (o) => o.map((x) => x.value))).join() === formats.join());

	/* Audio without the key: the daemon's 401 detail is shown. */
	await page.setInputFiles('#audio-file', path.join(tmp, 'noisy.wav'));
	const shown401 = await until(page, () => !document.getElementById('error').hidden && document.querySelector('#error .problem-detail').textContent);
	check("without the API key, the 401 problem's detail is shown", shown401 === noKey.detail, { shown: shown401, want: noKey.detail });
	await page.fill('#api-key', token);
	await page.dispatchEvent('#api-key', 'change');

	/* Audio: the upload, the players, the toggle, the plots. */
	await page.click('#audio-again');
	const dur = await until(page, () => {
		const a = document.getElementById('audio-denoised');
		return !document.getElementById('audio-result').hidden && a.readyState >= 1 && a.src.startsWith('blob:') && a.duration;
	});
	check('a denoised audio element appears with the input duration (2.0 s)', dur && Math.abs(dur - 2.0) < 0.02, dur);
	check('the error box is cleared after a success', await page.$eval('#error', (e) => e.hidden));
	const played = await page.evaluate(async () => {
		const a = document.getElementById('audio-denoised');
		await a.play();
		await new Promise((r) => setTimeout(r, 600));
		return { t: a.currentTime, paused: a.paused, error: a.error && a.error.code };
	});
	check('the denoised audio plays', played.t > 0.2 && !played.error, played);
	await page.click('#audio-toggle');
	const ab = await page.evaluate(async (t0) => {
		await new Promise((r) => setTimeout(r, 300));
		const n = document.getElementById('audio-noisy');
		const d = document.getElementById('audio-denoised');
		return { noisyPlaying: !n.paused, denoisedPaused: d.paused, t: n.currentTime, t0 };
	}, played.t);
	check('the toggle switches to the noisy version at the same position', ab.noisyPlaying && ab.denoisedPaused && ab.t >= ab.t0, ab);
	await page.evaluate(() => document.getElementById('audio-noisy').pause());
	const drawn = await until(page, () => {
		const lit = (id) => {
			const c = document.getElementById(id);
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
			return n / (c.width * c.height);
		};
		const v = ['wave-noisy', 'wave-denoised', 'spec-noisy', 'spec-denoised'].map(lit);
		return v[0] > 0.05 && v[1] > 0.01 && v[2] > 0.9 && v[3] > 0.9 && v;
	});
	check('waveforms and spectrograms of both are drawn', drawn, drawn);
	check('the result can be downloaded', /^blob:/.test(await page.getAttribute('#audio-download', 'href')) && /-denoised\.wav$/.test(await page.getAttribute('#audio-download', 'download')));
	await shot(page, 'audio');

	/* A text file as audio: the problem's detail. */
	await page.setInputFiles('#audio-file', path.join(tmp, 'notes.txt'));
	const shown = await until(page, () => !document.getElementById('error').hidden && document.querySelector('#error .problem-detail').textContent);
	check("a text file as audio shows the problem's detail", shown && shown === textProblem.detail, { shown, want: textProblem.detail });
	await shot(page, 'audio-error');

	/* The microphone (Chromium's fake capture device reading mic.wav). */
	await page.click('#audio-record');
	await sleep(1500);
	await page.click('#audio-record');
	const mic = await until(page, () => {
		const a = document.getElementById('audio-denoised');
		return /recording\.wav/.test(document.getElementById('audio-status').textContent) && /^Denoised/.test(document.getElementById('audio-status').textContent) && a.readyState >= 1 && a.duration;
	});
	check('a recording from the microphone is denoised (about 1.5 s)', mic && mic > 0.8 && mic < 3, mic);
	const micLevel = await until(page, () => {
		const c = document.getElementById('wave-noisy');
		const d = c.getContext('2d').getImageData(0, c.height / 2 - 20, c.width, 1).data;
		let n = 0;
		for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
		return n > 20 && n;
	});
	check('the recording carries the fake microphone\'s sound', micLevel, micLevel);

	await liveMode(page, base);

	/* Frames. */
	await page.goto(base + '/#frames');
	await until(page, () => document.body.dataset.ready === '1');
	const frameResp = page.waitForResponse((r) => r.url().includes('/v1/frames:denoise') && r.request().method() === 'POST');
	await page.setInputFiles('#frame-file', path.join(tmp, 'frame.png'));
	const fr = await frameResp;
	check('a PNG frame is sent as it is (image/png, not re-encoded)', fr.request().headers()['content-type'] === 'image/png', fr.request().headers()['content-type']);
	check('and answered in its own format (image/png)', fr.headers()['content-type'] === 'image/png', fr.headers()['content-type']);
	const size = await until(page, () => {
		const a = document.getElementById('frame-after');
		return !document.getElementById('frame-result').hidden && a.complete && a.naturalWidth && [a.naturalWidth, a.naturalHeight];
	});
	check('the denoised frame has the input size (120×80)', size && size[0] === 120 && size[1] === 80, size);
	await page.fill('#frame-slider', '30');
	await page.dispatchEvent('#frame-slider', 'input');
	const clip = await page.$eval('#frame-after', (e) => e.style.clipPath);
	check('the before/after slider clips the result', /inset\(0(px)? 0(px)? 0(px)? 30%\)/.test(clip), clip);
	check('the frame result can be downloaded', /^blob:/.test(await page.getAttribute('#frame-download', 'href')));
	check('the download is offered in the input\'s format', (await page.getAttribute('#frame-download', 'download')) === 'frame-denoised.png', await page.getAttribute('#frame-download', 'download'));
	await shot(page, 'frames');

	/* Models. */
	await page.goto(base + '/#models');
	const rows = await until(page, () => document.querySelectorAll('#models-table tbody tr').length >= 2 && [...document.querySelectorAll('#models-table tbody tr')].map((r) => r.dataset.model));
	check('the models view lists the loaded models', rows && [...rows].sort().join() === 'bare,frame,live,speech', rows);
	await page.click('#models-table tr[data-model="speech"]');
	const md = await until(page, () => document.querySelector('#model-details table.metadata') && document.getElementById('model-details').textContent);
	check("a model's metadata and figures are shown", md && /sample_rate/.test(md) && /best_val_loss/.test(md), md && md.slice(0, 200));
	await modelCards(page, base);

	/* Jobs: the form from the schema, a tiny training job followed live. */
	await page.goto(base + '/#jobs');
	await until(page, () => document.body.dataset.ready === '1');
	const ep = openapi.components.schemas.JobSpec.properties.params.properties.epochs;
	const epochs = await page.$eval('#job-params-epochs', (e) => [e.min, e.max, e.value]);
	check('the job form takes bounds and defaults from the OpenAPI document', epochs.join() === [ep.minimum, ep.maximum, ep.default].join(), epochs);
	check('eval-only fields are hidden for a training job', await page.$eval('#job-params-max_files', (e) => e.closest('.field').classList.contains('hidden')));
	/* The frame job types come from the same document, with their own members and defaults. */
	const types = await page.$$eval('#job-type option', (o) => o.map((x) => x.value));
	check('the job form offers the frame job types', types.includes('train-frame') && types.includes('eval-frame'), types);
	await page.selectOption('#job-type', 'train-frame');
	const frameForm = await page.evaluate(() => {
		const shown = (id) => !document.getElementById(id).closest('.field').classList.contains('hidden');
		return [shown('job-params-patch'), shown('job-params-sigma_max'), shown('job-register_as'), shown('job-params-patch_frames'), document.getElementById('job-params-filters').value, document.getElementById('job-dataset').value];
	});
	check('train-frame shows its own parameters and defaults (filters 16, no speech dataset)', frameForm.join() === 'true,true,true,false,16,', frameForm);
	await page.selectOption('#job-type', 'eval-frame');
	const evalFrame = await page.evaluate(() => [!document.getElementById('job-params-sigma').closest('.field').classList.contains('hidden'), document.getElementById('job-params-sigma').value, document.getElementById('job-register_as').closest('.field').classList.contains('hidden')]);
	check('eval-frame shows sigma (15, 25, 50) and no register_as', evalFrame.join() === 'true,15, 25, 50,true', evalFrame);
	await page.selectOption('#job-type', 'train');
	await page.fill('#job-dataset', 'tiny');
	for (const [k, v] of Object.entries({ epochs: 3, filters: 4, depth: 2, batch: 4, patch_frames: 32 })) await page.fill('#job-params-' + k, String(v));
	await page.click('#job-submit');
	const done = await until(page, () => document.getElementById('job-state').textContent === 'succeeded' && document.querySelector('#job-charts [data-plot="training"] canvas') && document.getElementById('job-percent').textContent, null, 120000);
	check('the training job reaches 100 %', done === '100 %' && (await page.$eval('#job-progress', (e) => e.value)) === 1, done);
	const curve = await page.evaluate(() => {
		const c = document.querySelector('#job-charts [data-plot="training"] canvas');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let blue = 0;
		let red = 0;
		for (let i = 0; i < d.length; i += 4) {
			if (d[i + 3] < 200) continue;
			if (d[i] < 90 && d[i + 1] < 140 && d[i + 2] > 180) blue++;
			if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) red++;
		}
		return { blue, red };
	});
	check('the training curves (loss, val_loss) are drawn', curve.blue > 30 && curve.red > 30, curve);
	const metrics = await page.textContent('#job-metrics');
	check('the training metrics table is shown', /best_epoch/.test(metrics) && /best_val_loss/.test(metrics), metrics.slice(0, 200));
	await shot(page, 'jobs-train');

	/* An evaluation job: metric-vs-SNR and distribution plots. */
	await page.selectOption('#job-type', 'eval');
	await page.fill('#job-model', 'speech');
	await page.fill('#job-dataset', 'tiny');
	await page.selectOption('#job-params-split', 'all');
	await page.fill('#job-params-max_files', '2');
	await page.fill('#job-params-snr_db', '5, 15');
	await page.fill('#job-params-examples', '1');
	const trainId = await page.textContent('#job-id');
	await page.click('#job-submit');
	const evalDone = await until(page, (prev) => document.getElementById('job-id').textContent !== prev && ['succeeded', 'failed'].includes(document.getElementById('job-state').textContent) && [document.getElementById('job-state').textContent, [...document.querySelectorAll('#job-charts [data-plot]')].map((e) => e.dataset.plot)], trainId, 180000);
	check('the evaluation job succeeds', evalDone && evalDone[0] === 'succeeded', evalDone || (await page.textContent('#job-error')));
	await until(page, () => document.querySelector('#job-charts [data-plot^="hist-"]'), null, 10000);
	const plots = await page.$$eval('#job-charts [data-plot]', (e) => e.map((x) => x.dataset.plot));
	check('metric-vs-SNR, distribution and spectrogram plots are drawn', plots.some((p) => p.startsWith('snr-')) && plots.some((p) => p.startsWith('hist-')) && plots.some((p) => p.startsWith('spectrogram-')), plots);
	check('the evaluation metrics table is shown', /pesq_wb|stoi|si_sdr/.test(await page.textContent('#job-metrics')));
	await shot(page, 'jobs-eval');
	check('the jobs list shows both jobs', (await until(page, () => document.querySelectorAll('#jobs-table tbody tr').length)) >= 2);

	/* A longer training job followed live over SSE, then cancelled. */
	await page.selectOption('#job-type', 'train');
	await page.fill('#job-model', '');
	await page.fill('#job-dataset', 'tiny');
	for (const [k, v] of Object.entries({ epochs: 400, filters: 4, depth: 2, batch: 4, patch_frames: 32 })) await page.fill('#job-params-' + k, String(v));
	const evalId = await page.textContent('#job-id');
	await page.click('#job-submit');
	const live = await until(page, (prev) => document.getElementById('job-id').textContent !== prev && /epoch ([2-9]|\d\d+) of 400/.test(document.getElementById('job-epoch').textContent) && document.querySelector('#job-charts [data-plot="live"] canvas') && [document.getElementById('job-epoch').textContent, document.getElementById('job-percent').textContent, document.getElementById('job-eta').textContent], evalId, 60000);
	check('a running job shows epoch, progress, ETA and a live curve from its events', live && /ETA \d/.test(live[2]), live);
	await shot(page, 'jobs-live');
	await page.click('#job-cancel');
	const cancelled = await until(page, () => document.getElementById('job-state').textContent === 'cancelled', null, 30000);
	check('the cancel button cancels the job', cancelled);

	check('no console errors on the daemon-served page', consoleErrors.length === 0, consoleErrors);
	check('no failed loads but the three deliberate ones (401, 415, a model without a card)', failedLoads.join() === '401 /v1/audio:denoise,415 /v1/audio:denoise,404 /v1/models/bare/card', failedLoads);
	check('no Content-Security-Policy violations', (await page.evaluate(() => window.__csp)).length === 0, await page.evaluate(() => window.__csp));

	/* The same page files from another origin allowed by cors_origins. */
	const other = await context.newPage();
	const otherErrors = [];
	other.on('pageerror', (e) => otherErrors.push(String(e)));
	await other.goto(`${origin}/?api=${encodeURIComponent(base)}#frames`);
	check('from another origin the page reads the daemon through CORS', await until(other, () => document.body.dataset.ready === '1' && /ready: 4 models/.test(document.getElementById('server-state').textContent)));
	await other.fill('#api-key', token);
	await other.dispatchEvent('#api-key', 'change');
	await other.setInputFiles('#frame-file', path.join(tmp, 'frame.png'));
	const cross = await until(other, () => {
		const a = document.getElementById('frame-after');
		return !document.getElementById('frame-result').hidden && a.complete && a.naturalWidth;
	});
	check('from another origin a frame is denoised (POST with the key, preflighted)', cross === 120, cross || (await other.textContent('#error')));
	await shot(other, 'cross-origin');
	await other.goto(`${origin}/?api=${encodeURIComponent(base)}#audio`);
	await until(other, () => document.body.dataset.ready === '1');
	const crossLive = await liveSession(other, 's16le', 1000);
	check('from another origin the live mode streams (the Origin is in cors_origins, the worklet from that origin)', crossLive.done && crossLive.done.frames_in > 0 && crossLive.received === crossLive.sent, crossLive);
	/* A socket that closes without "done" or a problem (nothing listens):
	 * an error too. */
	const gone = await new Promise((resolve) => {
		const srv = http.createServer();
		srv.listen(0, '127.0.0.1', () => {
			const p = srv.address().port;
			srv.close(() => resolve(p));
		});
	});
	await other.fill('#api-base', `http://127.0.0.1:${gone}`);
	await other.dispatchEvent('#api-base', 'change');
	await until(other, () => document.body.dataset.ready === '1');
	await other.click('#audio-live');
	const lost = await until(other, () => !document.getElementById('error').hidden && document.getElementById('live-state').textContent === 'off' && document.querySelector('#error .problem-detail').textContent);
	check('a stream that closes without its final message shows the close as an error', lost && /closed before it ended \(WebSocket code 1006\)/.test(lost), lost);
	await shot(other, 'audio-live-lost');
	check('no script errors on the other origin', otherErrors.length === 0, otherErrors);

	await browser.close();
	stat.close();
}

run()
	.catch((e) => check('the browser run', false, String(e && e.stack ? e.stack : e)))
	.then(() => {
		if (daemon && daemon.proc.exitCode === null) daemon.proc.kill('SIGTERM');
		console.log(`${passed} passed, ${failed} failed`);
		process.exit(failed > 0 ? 1 : 0);
	});
