/*
 * live-worklet.js — the two AudioWorklet processors of the page's live mode
 * (web/live.js), loaded with audioWorklet.addModule from the page's own
 * origin (the Content-Security-Policy's script-src 'self' covers it).
 *
 * dn-capture: the microphone's input, mixed to mono, cut into frames of
 * `frame` samples (about 20 ms) and encoded as the stream's PCM (s16le or
 * f32le, little-endian whatever the machine), each frame posted to the page
 * as a transferred ArrayBuffer that the page sends as one binary WebSocket
 * message. Its output is silence (it is connected only so that it runs).
 *
 * dn-playback: the denoised PCM the server sends back, decoded into a ring
 * buffer (the jitter buffer) and played from it. Playback starts once
 * `targetMs` of audio wait and stops (an underrun, counted) when the buffer
 * runs dry, so uneven arrival becomes a short, fixed delay rather than
 * clicks; above `maxMs` the oldest audio is dropped (counted) so the delay
 * stays bounded. "drain" plays out what is left at the end of a stream.
 * It posts its figures to the page about ten times a second.
 */
'use strict';

class Capture extends AudioWorkletProcessor {
	constructor(options) {
		super();
		const o = options.processorOptions || {};
		this.f32 = o.format === 'f32le';
		this.frame = Math.max(1, o.frame | 0);
		this.buf = new Float32Array(this.frame);
		this.n = 0;
		this.on = true;
		this.port.onmessage = (e) => {
			if (e.data === 'flush') {
				if (this.n) this.post(this.n);
				this.on = false;
				this.port.postMessage({ flushed: true });
			}
		};
	}

	post(n) {
		const bytes = this.f32 ? 4 : 2;
		const out = new ArrayBuffer(n * bytes);
		const v = new DataView(out);
		for (let i = 0; i < n; i++) {
			const x = this.buf[i];
			if (this.f32) v.setFloat32(i * 4, x, true);
			else v.setInt16(i * 2, Math.max(-32768, Math.min(32767, Math.round(x * 32767))), true);
		}
		this.n = 0;
		this.port.postMessage(out, [out]);
	}

	process(inputs) {
		if (!this.on) return false;
		const chans = inputs[0] || [];
		if (!chans.length) return true;
		const len = chans[0].length;
		for (let i = 0; i < len; i++) {
			let x = 0;
			for (let c = 0; c < chans.length; c++) x += chans[c][i];
			this.buf[this.n++] = x / chans.length;
			if (this.n === this.frame) this.post(this.frame);
		}
		return true;
	}
}

class Playback extends AudioWorkletProcessor {
	constructor(options) {
		super();
		const o = options.processorOptions || {};
		this.f32 = o.format === 'f32le';
		this.target = Math.round((sampleRate * (o.targetMs || 60)) / 1000);
		this.max = Math.round((sampleRate * (o.maxMs || 400)) / 1000);
		this.ring = new Float32Array(this.max + this.target + 8192);
		this.r = 0; // read position
		this.count = 0; // samples waiting
		this.primed = false;
		this.draining = false;
		this.carry = null; // a sample split between two messages
		this.stats = { received: 0, played: 0, underruns: 0, dropped: 0, peak: 0, buffered_ms: 0, drained: false };
		this.quanta = 0;
		this.port.onmessage = (e) => {
			if (e.data === 'drain') this.draining = true;
			else if (e.data instanceof ArrayBuffer) this.push(e.data);
		};
	}

	push(ab) {
		let bytes = new Uint8Array(ab);
		if (this.carry) {
			const joined = new Uint8Array(this.carry.length + bytes.length);
			joined.set(this.carry);
			joined.set(bytes, this.carry.length);
			bytes = joined;
			this.carry = null;
		}
		const size = this.f32 ? 4 : 2;
		const n = Math.floor(bytes.length / size);
		if (bytes.length % size) this.carry = bytes.slice(n * size);
		const v = new DataView(bytes.buffer, bytes.byteOffset, n * size);
		const cap = this.ring.length;
		for (let i = 0; i < n; i++) {
			const x = this.f32 ? v.getFloat32(i * 4, true) : v.getInt16(i * 2, true) / 32768;
			if (this.count === cap) {
				this.r = (this.r + 1) % cap;
				this.count--;
				this.stats.dropped++;
			}
			this.ring[(this.r + this.count) % cap] = x;
			this.count++;
		}
		this.stats.received += n;
		/* over the bound: keep the newest target's worth */
		if (this.count > this.max) {
			const drop = this.count - this.target;
			this.r = (this.r + drop) % cap;
			this.count -= drop;
			this.stats.dropped += drop;
		}
	}

	process(inputs, outputs) {
		const out = outputs[0];
		const len = out[0].length;
		if (!this.primed && (this.count >= this.target || (this.draining && this.count > 0))) this.primed = true;
		if (this.primed) {
			const cap = this.ring.length;
			const k = Math.min(len, this.count);
			for (let i = 0; i < k; i++) {
				const x = this.ring[(this.r + i) % cap];
				out[0][i] = x;
				const a = Math.abs(x);
				if (a > this.stats.peak) this.stats.peak = a;
			}
			out[0].fill(0, k);
			this.r = (this.r + k) % cap;
			this.count -= k;
			this.stats.played += k;
			if (k < len) {
				this.primed = false;
				if (!this.draining) this.stats.underruns++;
			}
		} else out[0].fill(0);
		for (let c = 1; c < out.length; c++) out[c].set(out[0]);
		if (++this.quanta % 32 === 0 || (this.draining && this.count === 0 && !this.stats.drained)) {
			this.stats.buffered_ms = (1000 * this.count) / sampleRate;
			this.stats.drained = this.draining && this.count === 0;
			this.port.postMessage({ ...this.stats });
		}
		return true;
	}
}

registerProcessor('dn-capture', Capture);
registerProcessor('dn-playback', Playback);
