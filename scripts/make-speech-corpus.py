#!/usr/bin/python3
"""make-speech-corpus.py — the built-in clean speech corpus, from Debian's synthesizers.

denoised needs clean English speech to train and evaluate its speech models
without downloading a data set. This script makes it from the sentences in
scripts/sentences.txt, spoken by espeak-ng voice variants (+f1.., +m1..,
+croak, +klatt, ...; each utterance with a random English accent, speed and
pitch) and by the festival voices that are installed (kal and ked diphone
voices, the slt HTS voice; speed and pitch varied too). Every file is
resampled to 16 kHz mono 16-bit WAV with sox and peak-normalised to -3 dBFS.

Splits are disjoint twice over: each voice belongs to one split, each
sentence belongs to one split, and only (voice, sentence) pairs whose voice
and sentence are in the same split are spoken. A voice is the timbre (the
espeak variant or the festival voice); accent, speed and pitch are per-
utterance variation and are not used to tell voices apart, so no test voice's
timbre is heard in training.

Output, in DIR (default $DN_SPEECH_DIR, else data/speech/ in the source
tree, which git ignores):
  manifest.tsv   split, voice, sentence_id, path (relative to DIR), duration
                 (seconds), synth (how it was spoken); a header line first
  sentences.tsv  sentence_id, text
  corpus.json    the parameters; a second run with the same parameters and
                 all files present does nothing (the cache)
  wav/SPLIT/*.wav

Standard library only; needs espeak-ng and sox, uses festival if present.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave

VERSION = 1
RATE = 16000
SPLITS = ("train", "valid", "test")
FRACTIONS = (0.8, 0.1, 0.1)

# English accents for espeak-ng: the per-utterance "language" of a voice.
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                  "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# espeak-ng variants left out: robotic or effect voices that are not speech
# anyone would want to recover, a speed preset, and a name with a space.
ESPEAK_EXCLUDE = re.compile(r"(?i)robo|demonic|tweaky|^fast$|\s")
# The festival voices and the split each goes to. Fixed rather than drawn,
# because there are only three: the two most different go to training, and
# the held-out diphone voice tests generalisation to an unseen synthesizer
# voice.
FESTIVAL_VOICES = (("kal_diphone", "train"), ("cmu_us_slt_arctic_hts", "train"),
                   ("ked_diphone", "test"))
# A festival voice is given this many times the utterances of an espeak
# variant: there are few of them and they are the most natural.
FESTIVAL_WEIGHT = 4


def die(msg):
    print("make-speech-corpus: " + msg, file=sys.stderr)
    sys.exit(1)


def espeak_data_dirs():
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    dirs = [m.group(1)] if m else []
    dirs += ["/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/share/espeak-ng-data"]
    return [d for d in dirs if os.path.isdir(os.path.join(d, "voices", "!v"))]


def espeak_variants():
    dirs = espeak_data_dirs()
    if not dirs:
        die("espeak-ng variants directory (voices/!v) not found; is espeak-ng installed?")
    names = sorted(set(os.listdir(os.path.join(dirs[0], "voices", "!v"))))
    return [n for n in names if not ESPEAK_EXCLUDE.search(n)]


def festival_voices():
    if not shutil.which("festival"):
        return []
    have = []
    for name, split in FESTIVAL_VOICES:
        for lang in ("english", "us"):
            if os.path.isdir(os.path.join("/usr/share/festival/voices", lang, name)):
                have.append((name, split))
                break
    return have


def split_list(items, rng):
    """Shuffles items and cuts them 80/10/10, with at least one in each part."""
    items = list(items)
    rng.shuffle(items)
    n = len(items)
    if n < 3:
        die("need at least 3 items to split, got %d" % n)
    nv = max(1, round(n * FRACTIONS[1]))
    nt = max(1, round(n * FRACTIONS[2]))
    return {"train": items[:n - nv - nt], "valid": items[n - nv - nt:n - nt], "test": items[n - nt:]}


def plan(sentences, variants, festival, total, seed):
    """The utterances to make: a list of dicts, deterministic in the arguments."""
    rng = random.Random(seed)
    sent_split = split_list(range(1, len(sentences) + 1), rng)
    voice_split = split_list(["espeak-ng+" + v for v in variants], rng)
    for name, split in festival:
        voice_split[split].append("festival+" + name)
    utts = []
    for si, split in enumerate(SPLITS):
        count = int(round(total * FRACTIONS[si]))
        if si == 0:
            count = total - sum(int(round(total * f)) for f in FRACTIONS[1:])
        slots = []
        for v in voice_split[split]:
            slots += [v] * (FESTIVAL_WEIGHT if v.startswith("festival+") else 1)
        rng.shuffle(slots)
        sents = list(sent_split[split])
        rng.shuffle(sents)
        if count > len(set(slots)) * len(sents):
            die("%d utterances asked for the %s split, but it has only %d voice-sentence pairs" %
                (count, split, len(set(slots)) * len(sents)))
        # Voices take turns by slot; each takes the next sentence it has not
        # spoken yet, and a voice that has spoken all its split's sentences
        # gives up its turn. The check above makes sure this ends.
        used = {v: set() for v in slots}
        j = k = 0
        for _ in range(count):
            while True:
                voice = slots[j % len(slots)]
                j += 1
                if len(used[voice]) < len(sents):
                    break
            while sents[k % len(sents)] in used[voice]:
                k += 1
            sid = sents[k % len(sents)]
            k += 1
            used[voice].add(sid)
            u = {"split": split, "voice": voice, "sid": sid}
            if voice.startswith("espeak-ng+"):
                u["accent"] = rng.choice(ESPEAK_ACCENTS)
                u["speed"] = rng.randint(130, 195)  # words per minute
                u["pitch"] = rng.randint(25, 75)    # 0..99, 50 is the voice's own
            else:
                u["stretch"] = round(rng.uniform(0.85, 1.2), 3)  # > 1 is slower
                u["cents"] = rng.randint(-150, 150)
            safe = re.sub(r"[^A-Za-z0-9]+", "-", voice)
            u["path"] = "wav/%s/%s_%03d.wav" % (split, safe, sid)
            utts.append(u)
    return utts, sent_split, voice_split


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], r.returncode, r.stderr.strip()[:300]))


def to_16k(src, dst, effects=()):
    # -R: repeatable (fixed dither seed), so a rerun gives identical files.
    tmp = dst + ".part.wav"
    run(["sox", "-R", "-V1", src, "-b", "16", tmp, "remix", "-", *effects, "rate", "-h", str(RATE),
         "norm", "-3"])
    os.replace(tmp, dst)


def make_espeak(u, text, out, tmpdir):
    raw = os.path.join(tmpdir, os.path.basename(u["path"]) + ".raw.wav")
    variant = u["voice"].split("+", 1)[1]
    run(["espeak-ng", "-v", "%s+%s" % (u["accent"], variant), "-s", str(u["speed"]), "-p",
         str(u["pitch"]), "-w", raw, text])
    to_16k(raw, os.path.join(out, u["path"]))
    os.unlink(raw)
    return "espeak-ng -v %s+%s -s %d -p %d" % (u["accent"], variant, u["speed"], u["pitch"])


def scheme_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_festival_batch(batch, texts, out, tmpdir):
    """One festival process speaks a batch of one voice (startup is the slow part)."""
    name = batch[0]["voice"].split("+", 1)[1]
    hts = "_hts" in name
    lines = ["(voice_%s)" % name]
    raws = []
    for u in batch:
        raw = os.path.join(tmpdir, os.path.basename(u["path"]) + ".raw.wav")
        raws.append(raw)
        if not hts:  # diphone voices honour Duration_Stretch; HTS gets sox tempo below
            lines.append("(Parameter.set 'Duration_Stretch %s)" % u["stretch"])
        lines.append("(utt.save.wave (utt.synth (Utterance Text %s)) %s 'riff)" %
                     (scheme_string(texts[u["sid"]]), scheme_string(raw)))
    scm = os.path.join(tmpdir, "batch-%s-%d.scm" % (name, batch[0]["sid"]))
    with open(scm, "w") as f:
        f.write("\n".join(lines) + "\n")
    run(["festival", "-b", scm])
    descs = []
    for u, raw in zip(batch, raws):
        effects = ["pitch", str(u["cents"])]
        if hts:
            effects += ["tempo", "-s", "%.3f" % (1.0 / u["stretch"])]
        to_16k(raw, os.path.join(out, u["path"]), effects)
        os.unlink(raw)
        descs.append("festival %s stretch %.3f pitch %+d cents" % (name, u["stretch"], u["cents"]))
    os.unlink(scm)
    return descs


def wav_seconds(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1:
            raise RuntimeError("%s: not %d Hz mono" % (path, RATE))
        return w.getnframes() / float(RATE)


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("DN_SPEECH_DIR",
                                                    os.path.join(here, "..", "data", "speech")),
                    help="corpus directory (default $DN_SPEECH_DIR or data/speech)")
    ap.add_argument("--small", action="store_true", help="a tiny corpus (40 utterances) for tests")
    ap.add_argument("--utterances", type=int, help="utterances in all splits (default 1500)")
    ap.add_argument("--seed", type=int, default=1, help="seed for splits and variation (default 1)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="synthesizer processes at once (default 2)")
    ap.add_argument("--sentences", default=os.path.join(here, "sentences.txt"))
    ap.add_argument("--no-festival", action="store_true", help="espeak-ng voices only")
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    a = ap.parse_args()

    total = a.utterances if a.utterances else (40 if a.small else 1500)
    if total < 10:
        die("--utterances must be at least 10")
    for tool in ("espeak-ng", "sox"):
        if not shutil.which(tool):
            die("%s not found (Debian package %s)" % (tool, tool))
    with open(a.sentences, encoding="utf-8") as f:
        sentences = [s.strip() for s in f if s.strip() and not s.startswith("#")]
    if len(set(sentences)) != len(sentences):
        die("%s has duplicate sentences" % a.sentences)
    texts = {i + 1: s for i, s in enumerate(sentences)}
    variants = espeak_variants()
    festival = [] if a.no_festival else festival_voices()

    params = {"version": VERSION, "utterances": total, "seed": a.seed,
              "sentences_sha256": hashlib.sha256("\n".join(sentences).encode()).hexdigest(),
              "espeak_variants": variants, "festival_voices": [n for n, _ in festival]}
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, "corpus.json")
    manifest = os.path.join(out, "manifest.tsv")
    if not a.force and os.path.exists(stamp) and os.path.exists(manifest):
        with open(stamp) as f:
            old = json.load(f)
        with open(manifest) as f:
            rows = [l.split("\t") for l in f.read().splitlines()[1:]]
        if old.get("params") == params and all(os.path.exists(os.path.join(out, r[3])) for r in rows):
            print("make-speech-corpus: %s is up to date (%d utterances)" % (out, len(rows)))
            return

    t0 = time.time()
    if os.path.exists(stamp):  # a corpus of other parameters: its files go
        shutil.rmtree(os.path.join(out, "wav"), ignore_errors=True)
        os.unlink(stamp)
    utts, sent_split, voice_split = plan(sentences, variants, festival, total, a.seed)
    for s in SPLITS:
        os.makedirs(os.path.join(out, "wav", s), exist_ok=True)
    desc = {}
    with tempfile.TemporaryDirectory(prefix="dn-corpus-") as tmpdir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = {}
        for u in utts:
            if u["voice"].startswith("espeak-ng+"):
                futs[pool.submit(make_espeak, u, texts[u["sid"]], out, tmpdir)] = [u]
        by_voice = {}
        for u in utts:
            if u["voice"].startswith("festival+"):
                by_voice.setdefault(u["voice"], []).append(u)
        for batch in by_voice.values():
            for i in range(0, len(batch), 25):
                part = batch[i:i + 25]
                futs[pool.submit(make_festival_batch, part, texts, out, tmpdir)] = part
        for fut in concurrent.futures.as_completed(futs):
            try:
                r = fut.result()
            except Exception as e:  # one failure fails the corpus, with the reason
                pool.shutdown(wait=True, cancel_futures=True)
                die(str(e))
            for u, d in zip(futs[fut], r if isinstance(r, list) else [r]):
                desc[u["path"]] = d

    lines = ["split\tvoice\tsentence_id\tpath\tduration\tsynth"]
    total_s = 0.0
    for u in utts:
        sec = wav_seconds(os.path.join(out, u["path"]))
        total_s += sec
        lines.append("%s\t%s\t%d\t%s\t%.3f\t%s" % (u["split"], u["voice"], u["sid"], u["path"], sec,
                                                  desc[u["path"]]))
    write_atomic(os.path.join(out, "sentences.tsv"),
                 "sentence_id\ttext\n" + "".join("%d\t%s\n" % (i, t) for i, t in texts.items()))
    write_atomic(manifest, "\n".join(lines) + "\n")
    write_atomic(stamp, json.dumps({"params": params,
                                    "splits": {s: {"voices": sorted(voice_split[s]),
                                                   "sentences": sorted(sent_split[s])}
                                               for s in SPLITS}}, indent=1) + "\n")
    print("make-speech-corpus: %d utterances, %.1f min of speech, %d voices, in %.1f s -> %s" %
          (len(utts), total_s / 60, len({u["voice"] for u in utts}), time.time() - t0, out))


if __name__ == "__main__":
    main()
