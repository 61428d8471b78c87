/*
 * live.js — the audio view's live mode: speak, hear it denoised (issues 15
 * and 17), over GET /v1/audio:stream (a WebSocket; protocol in
 * api/openapi.json and docs/architecture.md).
 *
 * The microphone (getUserMedia, with the browser's own noise suppression,
 * echo cancellation and gain control off: the model is the denoiser) feeds
 * the dn-capture AudioWorklet (web/live-worklet.js), which posts 20 ms
 * frames of PCM in the chosen format; each goes out as one binary message
 * (or, while more than a second of audio waits unsent in the socket, is
 * dropped and counted: the page holds no unbounded queue either).
 * What comes back goes to the dn-playback worklet and its jitter buffer,
 * then to the speakers. The server's text messages drive the panel: "ready"
 * (model, algorithmic latency), "behind", "done" (the final counts), and a
 * problem (type, title, status, detail) before a refusing close, which is
 * shown like every other API error. A close without "done" is an error too.
 *
 * Uses app.js's helpers ($, el, api, apiUrl, showError, ProblemError,
 * state); app.js calls liveModels() whenever it has read the models.
 * Needs a secure context for the microphone and AudioWorklet: the page on
 * http://localhost or 127.0.0.1, or https.
 */
'use strict';

const LIVE_FRAME_MS = 20;
const LIVE_TARGET_MS = 60; // jitter buffer: playback starts with this much waiting
const LIVE_MAX_MS = 400; // and drops the oldest audio above this
const LIVE_END_WAIT_MS = 15000; // for "done" after {"type": "end"}

let liveSession = null;

/* The stream's PCM formats, from its route's parameters in the OpenAPI
 * document (as the audio formats are). */
function liveFormats() {
	const op = state.openapi && state.openapi.paths['/v1/audio:stream'];
	const p = op && op.get && (op.get.parameters || []).find((x) => x.name === 'format');
	return p && p.schema && p.schema.enum ? { list: p.schema.enum, def: p.schema.default } : { list: ['s16le'], def: 's16le' };
}

/* The model list: every audio model, the streamable ones (GET /v1/models
 * "streaming") first and chosen by default; the others are listed so that
 * the server's own refusal can be seen. */
function liveModels() {
	const sel = $('live-model');
	const keep = sel.value;
	const audio = state.models.filter((m) => m.kind === 'audio');
	const ok = audio.filter((m) => m.streaming);
	const no = audio.filter((m) => !m.streaming);
	sel.replaceChildren(
		...ok.map((m) => el('option', { value: m.name }, `${m.name} (${m.streaming.latency_ms.toFixed(0)} ms)`)),
		...no.map((m) => el('option', { value: m.name }, `${m.name} (not causal: cannot stream)`)),
	);
	if (audio.some((m) => m.name === keep)) sel.value = keep;
	else if (ok.length) sel.value = ok[0].name;
	const f = liveFormats();
	const fsel = $('live-format');
	const fkeep = fsel.value;
	fsel.replaceChildren(...f.list.map((v) => el('option', { value: v }, v)));
	fsel.value = f.list.includes(fkeep) ? fkeep : f.def || f.list[0];
	$('live-note').textContent = ok.length ? '' : 'No streamable (causal) model is loaded: load one trained with causal = 1 (denoise train --causal).';
}

function kb(bytes) {
	return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(2)} MB`;
}

class LiveSession {
	constructor(model, format) {
		const m = state.models.find((x) => x.name === model);
		this.modelRate = m && m.audio ? m.audio.sample_rate : 0;
		this.model = model;
		this.format = format;
		this.bytesPerSample = format === 'f32le' ? 4 : 2;
		this.sent = 0;
		this.msgsSent = 0;
		this.unsent = 0;
		this.received = 0;
		this.msgsReceived = 0;
		this.behind = 0;
		this.ready = null;
		this.done = null;
		this.problem = null;
		this.play = {};
		this.ending = false;
		this.finished = false;
	}

	async start() {
		try {
			this.media = await navigator.mediaDevices.getUserMedia({
				audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
			});
		} catch (e) {
			throw new Error(`the microphone is not available: ${e.message}`);
		}
		/* At the model's own rate when the browser resamples the microphone
		 * itself: the server's resamplers would add their delay (at 44.1 kHz
		 * about 80 ms) to the model's latency. */
		try {
			this.ctx = new AudioContext({ latencyHint: 'interactive', sampleRate: this.modelRate || undefined });
			this.src = this.ctx.createMediaStreamSource(this.media);
		} catch (e) {
			if (this.ctx) this.ctx.close().catch(() => {});
			this.ctx = new AudioContext({ latencyHint: 'interactive' });
			this.src = this.ctx.createMediaStreamSource(this.media);
		}
		try {
			await this.ctx.audioWorklet.addModule(new URL('web/live-worklet.js', document.baseURI).href);
		} catch (e) {
			throw new Error(`the audio worklet did not load: ${e.message}`);
		}
		this.rate = this.ctx.sampleRate;
		const frame = Math.round((this.rate * LIVE_FRAME_MS) / 1000);
		this.cap = new AudioWorkletNode(this.ctx, 'dn-capture', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { frame, format: this.format } });
		this.out = new AudioWorkletNode(this.ctx, 'dn-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { format: this.format, targetMs: LIVE_TARGET_MS, maxMs: LIVE_MAX_MS } });
		this.src.connect(this.cap);
		this.cap.connect(this.ctx.destination);
		this.out.connect(this.ctx.destination);
		this.out.port.onmessage = (e) => {
			this.play = e.data;
			if (this.play.drained && this.finished) this.release();
		};
		this.cap.port.onmessage = (e) => {
			if (e.data instanceof ArrayBuffer) {
				/* a socket that backs up (over a second of audio unsent) loses
				 * frames, counted, rather than holding them without bound */
				if (this.ws && this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount > this.rate * this.bytesPerSample) this.unsent++;
				else if (this.ws && this.ws.readyState === WebSocket.OPEN) {
					this.ws.send(e.data);
					this.sent += e.data.byteLength;
					this.msgsSent++;
				}
			} else if (e.data && e.data.flushed && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'end' }));
		};

		/* everything that can fail here fails before the socket opens: once it
		 * is open, closed() alone ends the session */
		await this.ctx.resume();
		this.timer = setInterval(() => this.show(), 200);

		const q = new URLSearchParams({ rate: String(this.rate), channels: '1', format: this.format });
		if (this.model) q.set('model', this.model);
		const key = $('api-key').value.trim();
		if (key) q.set('access_token', key); // a browser cannot set Authorization on a WebSocket
		const url = new URL(apiUrl('/v1/audio:stream?' + q), location.href);
		url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
		this.ws = new WebSocket(url.href);
		this.ws.binaryType = 'arraybuffer';
		this.ws.onmessage = (e) => this.message(e.data);
		this.ws.onclose = (e) => this.closed(e);
		this.show();
	}

	message(data) {
		if (data instanceof ArrayBuffer) {
			this.received += data.byteLength;
			this.msgsReceived++;
			this.out.port.postMessage(data, [data]);
			return;
		}
		let m;
		try {
			m = JSON.parse(data);
		} catch (e) {
			return;
		}
		if (m.type === 'ready') this.ready = m;
		else if (m.type === 'done') this.done = m;
		else if (m.type === 'behind') {
			this.behind++;
			$('live-status').textContent = `The server is behind real time: ${m.detail}`;
		} else if (typeof m.type === 'string' && m.type.startsWith('urn:')) {
			this.problem = m;
			showError(new ProblemError(m, m.status));
		}
		this.show();
	}

	/* Stop: the last partial frame, then {"type": "end"}; the server answers
	 * with the rest of the PCM, "done" and its close. */
	stop() {
		if (this.ending) return;
		this.ending = true;
		this.media.getTracks().forEach((t) => t.stop());
		if (this.ws.readyState === WebSocket.OPEN) {
			this.cap.port.postMessage('flush');
			this.endTimer = setTimeout(() => this.ws.close(1000, 'no done'), LIVE_END_WAIT_MS);
		} else {
			this.cancelled = true; // stopped before the socket opened: no error
			this.ws.close();
		}
		$('live-status').textContent = 'Ending the stream…';
		this.show();
	}

	closed(e) {
		clearTimeout(this.endTimer);
		this.finished = true;
		this.media.getTracks().forEach((t) => t.stop());
		this.src.disconnect();
		this.cap.disconnect();
		if (this.done) {
			$('live-status').textContent = `Stream ended: ${this.done.seconds.toFixed(2)} s of audio denoised.`;
			this.out.port.postMessage('drain');
			/* the worklet says when the jitter buffer is empty; bounded all the same */
			this.drainTimer = setTimeout(() => this.release(), LIVE_MAX_MS + 1000);
		} else if (this.cancelled && !this.problem) {
			$('live-status').textContent = 'Stopped before the stream started.';
			this.release();
		} else {
			if (!this.problem)
				showError(new ProblemError({ title: 'The stream closed', detail: `the stream closed before it ended (WebSocket code ${e.code}${e.reason ? ': ' + e.reason : ''}); is the server still running?` }, 0));
			$('live-status').textContent = this.problem ? `Refused: ${this.problem.detail}` : 'The stream closed before it ended.';
			this.release();
		}
		this.show();
		if (liveSession === this) liveSession = null;
		liveButton();
	}

	/* Frees the audio graph once playback is over. */
	release() {
		clearTimeout(this.drainTimer);
		clearInterval(this.timer);
		this.show();
		if (this.ctx && this.ctx.state !== 'closed') this.ctx.close().catch(() => {});
	}

	show() {
		const bps = (this.rate || 1) * this.bytesPerSample;
		const set = (id, text, v) => {
			$(id).textContent = text;
			if (v !== undefined) $(id).dataset.value = String(v);
		};
		$('live-figures').hidden = false;
		set('live-model-name', this.ready ? this.ready.model : this.model || '(server picks)');
		const r = this.ready;
		set('live-latency', r ? `${r.latency_ms.toFixed(1)} ms (${r.rate === this.modelRate ? "the model's algorithmic latency" : `the model's, plus its resamplers' delay at ${r.rate} Hz`})` : '…', r ? r.latency_ms : '');
		set('live-sent', `${kb(this.sent)} in ${this.msgsSent} messages (${(this.sent / bps).toFixed(2)} s)${this.unsent ? `; ${this.unsent} frames not sent (the socket backed up)` : ''}`, this.sent);
		set('live-received', `${kb(this.received)} in ${this.msgsReceived} messages (${(this.received / bps).toFixed(2)} s)`, this.received);
		set('live-inflight', `${Math.max(0, ((this.sent - this.received) / bps) * 1000).toFixed(0)} ms of audio`);
		set('live-buffer', `${(this.play.buffered_ms || 0).toFixed(0)} ms waiting (starts at ${LIVE_TARGET_MS}, at most ${LIVE_MAX_MS}); ${this.play.underruns || 0} underruns, ${this.play.dropped || 0} samples dropped`, this.play.played || 0);
		$('live-buffer').dataset.peak = String(this.play.peak || 0);
		set('live-behind', String(this.behind), this.behind);
		const d = this.done;
		const t = $('live-done');
		t.hidden = !d;
		if (d)
			t.replaceChildren(
				el('caption', {}, 'Final counts (the server\'s "done")'),
				...Object.entries(d)
					.filter(([k]) => k !== 'type')
					.map(([k, v]) => el('tr', { 'data-key': k }, el('th', {}, k), el('td', {}, typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v)))),
			);
		if (d) t.dataset.done = JSON.stringify(d);
	}
}

function liveButton() {
	const b = $('audio-live');
	const on = !!liveSession;
	b.textContent = on ? (liveSession.ending ? 'Ending…' : 'Stop live') : 'Live';
	b.setAttribute('aria-pressed', on ? 'true' : 'false');
	/* disabled while starting (until the socket exists) and while ending */
	b.disabled = on && (liveSession.ending || !liveSession.ws);
	$('live-model').disabled = on;
	$('live-format').disabled = on;
	$('live-state').textContent = on ? (liveSession.ending ? 'ending' : 'live') : 'off';
	$('live-state').className = 'badge ' + (on ? 'running' : '');
}

async function toggleLive() {
	if (liveSession) {
		liveSession.stop();
		liveButton();
		return;
	}
	clearError();
	$('live-status').textContent = 'Starting: microphone, audio worklet, WebSocket…';
	$('live-done').hidden = true;
	const s = new LiveSession($('live-model').value, $('live-format').value);
	liveSession = s;
	liveButton();
	try {
		await s.start();
		liveButton();
		if (!s.finished) $('live-status').textContent = 'Live: speak; you hear the denoised sound. Press Stop live to end.';
	} catch (e) {
		if (s.media) s.media.getTracks().forEach((t) => t.stop());
		if (s.ctx) s.ctx.close().catch(() => {});
		if (s.ws) s.ws.close();
		clearInterval(s.timer);
		liveSession = null;
		liveButton();
		$('live-status').textContent = `Not started: ${e.message}`;
		showError(e);
	}
}

$('audio-live').addEventListener('click', toggleLive);
if (state.models.length) liveModels();
