#!/usr/bin/env node
// run.mjs — the noise suppressors of @sapphi-red/web-noise-suppressor
// (RNNoise, Speex preprocess, GTCRN), run offline under Node.js on a WAV file.
//
//   node bench/peers/run.mjs [--raw] rnnoise|speex|gtcrn IN.wav OUT.wav
//
// The package is meant for browser AudioWorklets. Rather than re-implement
// its framing, this loads the package's own worklet processor file
// (dist/METHOD/workletProcessor.js) beside a minimal AudioWorkletGlobalScope
// (AudioWorkletProcessor with a port, registerProcessor, sampleRate),
// constructs the processor with the package's WASM binary as its
// processorOptions exactly as the package's WorkletNode does, and calls its
// process() on 128-sample render quanta, as the Web Audio renderer would:
//   rnnoise  48 kHz only (the node's documented assumption; RNNoise's
//            480-sample frames gathered from the quanta in a 1920-sample
//            ring); the SIMD build where WebAssembly SIMD validates, as the
//            package's loadRnnoise picks it
//   gtcrn    16 kHz (256-sample frames) or 48 kHz (768-sample frames,
//            resampled inside the WASM); 48 kHz input runs at 48 kHz, any
//            other rate at 16 kHz
//   speex    speex_preprocess at any rate, one 128-sample frame per quantum,
//            denoise on (the worklet's only setting), AGC off
// The input (any rate, any channel count: mixed down to mono) is converted
// to the method's rate with sox, and the output back to the input's rate,
// written as mono float32 WAV of the input's length. The worklets hand their
// output back late (their buffering plus the algorithm's own look-ahead);
// that delay, measured once per method on speech (see DELAY below), is
// taken off by feeding that many samples of silence after the input and
// dropping the first DELAY output samples. --raw skips the compensation
// and writes the whole delayed stream (input length + DELAY samples).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "node_modules", "@sapphi-red", "web-noise-suppressor", "dist");
const QUANTUM = 128;

// Output delay in samples at the method's rate, measured with
// cross-correlation against the input on a TTS test-split mix (--raw output):
// rnnoise 992 = the worklet's 512-sample ring lag + RNNoise's 480-sample
// frame; gtcrn 384 at 16 kHz, 1530 at 48 kHz; speex one 128-sample quantum
// at 16 and 48 kHz.
const DELAY = { rnnoise: { 48000: 992 }, gtcrn: { 16000: 384, 48000: 1530 }, speex: {} };
const SPEEX_DELAY = 128;

function die(msg) {
	process.stderr.write(`run.mjs: ${msg}\n`);
	process.exit(1);
}

const args = process.argv.slice(2);
let raw = false;
if (args[0] === "--raw") {
	raw = true;
	args.shift();
}
if (args.length !== 3)
	die("usage: node run.mjs [--raw] rnnoise|speex|gtcrn IN.wav OUT.wav");
const [method, inPath, outPath] = args;
if (!["rnnoise", "speex", "gtcrn"].includes(method))
	die(`unknown method '${method}': use rnnoise, speex or gtcrn`);
try {
	readFileSync(join(dist, `${method}.wasm`), { flag: "r" }).length;
} catch {
	die(`${dist} is missing: install the peers with (cd bench/peers && npm ci)`);
}

function sox(argv, input) {
	const r = spawnSync("sox", argv, { input, maxBuffer: 1 << 30 });
	if (r.error) die(`sox: ${r.error.message} (apt-get install sox)`);
	if (r.status !== 0) die(`sox ${argv.join(" ")}: ${r.stderr.toString().trim()}`);
	return r.stdout;
}

const info = spawnSync("soxi", ["-r", inPath]);
if (info.status !== 0)
	die(`${inPath}: not a readable audio file (${(info.stderr || "").toString().trim()})`);
const inRate = parseInt(info.stdout.toString(), 10);
if (!(inRate > 0)) die(`${inPath}: no sample rate`);
const rate = method === "rnnoise" ? 48000
	: method === "gtcrn" ? (inRate === 48000 ? 48000 : 16000)
	: inRate;
const inBytes = sox([inPath, "-t", "f32", "-e", "floating-point", "-c", "1", "-r", String(rate), "-"]);
const x = new Float32Array(inBytes.buffer, inBytes.byteOffset, inBytes.byteLength >> 2);
const inLen = parseInt(spawnSync("soxi", ["-s", inPath]).stdout.toString(), 10);
if (!(inLen > 0)) die(`${inPath}: no samples`);

// The AudioWorkletGlobalScope the processor files expect.
let Processor = null;
globalThis.sampleRate = rate;
globalThis.currentTime = 0;
globalThis.AudioWorkletProcessor = class {
	constructor() {
		this.port = { addEventListener() {}, postMessage() {}, start() {} };
	}
};
globalThis.registerProcessor = (name, cls) => { Processor = cls; };
// rnnoise's older Emscripten glue takes its Node branch and wants these.
globalThis.require = createRequire(import.meta.url);
globalThis.__dirname = join(dist, method);
await import(pathToFileURL(join(dist, method, "workletProcessor.js")).href);
if (!Processor) die(`${method}: the worklet file registered no processor`);

const simd = WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123,
	3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
const wasmFile = method === "rnnoise" && simd ? "rnnoise_simd.wasm" : `${method}.wasm`;
const wasm = readFileSync(join(dist, wasmFile));
const wasmBinary = wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength);
const proc = new Processor({ processorOptions: { maxChannels: 1, wasmBinary } });
for (let i = 0; !proc.processor; i++) {
	if (i > 10000) die(`${method}: the WASM module did not start`);
	await new Promise((r) => setTimeout(r, 1));
}

const D = DELAY[method][rate] ?? SPEEX_DELAY;
const nq = Math.ceil((x.length + D) / QUANTUM);
const y = new Float32Array(nq * QUANTUM);
const inq = new Float32Array(QUANTUM), outq = new Float32Array(QUANTUM);
for (let q = 0; q < nq; q++) {
	const off = q * QUANTUM;
	inq.fill(0);
	if (off < x.length) inq.set(x.subarray(off, Math.min(off + QUANTUM, x.length)));
	outq.fill(0);
	proc.process([[inq]], [[outq]], {});
	y.set(outq, off);
}
proc.destroy();
const out = raw ? y.subarray(0, x.length + D) : y.subarray(D, D + x.length);
for (let i = 0; i < out.length; i++)
	if (!Number.isFinite(out[i])) die(`${method}: non-finite output at sample ${i}`);

const outBuf = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
const conv = ["-t", "f32", "-e", "floating-point", "-c", "1", "-r", String(rate), "-",
	"-e", "floating-point", "-b", "32", outPath, "rate", "-v", String(inRate)];
if (!raw) conv.push("pad", "0", "64s", "trim", "0", `${inLen}s`);
sox(conv, outBuf);
