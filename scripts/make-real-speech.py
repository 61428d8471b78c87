#!/usr/bin/python3
"""make-real-speech.py — a corpus of real recorded voices, from Debian packages.

The TTS corpus (make-speech-corpus.py) is synthetic; users' recordings are
not. This script turns the recordings shipped in Debian main packages into a
corpus in the same layout (manifest.tsv read by core/train/dataset.c), so
that training and evaluation can use real voices without downloading a data
set. scripts/make-real-speech.sh fetches and unpacks the packages first.

Sources (PKGS is the folder of unpacked packages, one sub-folder each):
  festvox-ru        the recorded prompts of the msu_ru_nsh voice (wav/), one
                    male speaker; not its synthesis. Training only.
  asterisk-core-sounds-{en,es,fr,it,ru}-g722
                    telephone prompts, G.722 at 16 kHz (ffmpeg -f g722). The
                    speaker is the voice folder's name; en_US_f_Allison and
                    es_MX_f_Allison are one person (Allison), so 4 speakers.
  klettres-data     letters and syllables, one speaker per language folder
                    (en and en_GB are kept together: they may be one person).
  hedgewars-data    short acted shouts, one voice per voice pack. Packs that
                    ship byte-identical files share a recording session, so
                    they are one speaker group (Classic, Default, Default_uk,
                    HillBilly; Default_pl, Russian_pl); identical files are
                    kept once. Robot is left out: it is effect-processed, not
                    a voice anyone would want to recover.

Splits are disjoint by speaker, fixed below (not drawn: there are few
speakers, and which ones are held out matters more than a seed): validation
and test each take speakers of three packages, test voices are never heard
in training.

Every file is decoded with ffmpeg to 16 kHz mono, its leading and trailing
silence trimmed (to 0.1 s around the first and last frame within 45 dB of
the loudest 10 ms frame, and above -60 dBFS), pauses longer than 0.6 s cut
to 0.3 s, files longer than --max-seconds cut into pieces, pieces shorter
than 0.5 s (or silent) dropped, peak-normalised to -3 dBFS and written as
16-bit WAV. Non-speech prompts of asterisk (beeps, tones, silence) are
skipped by name.

Output in OUT (default data/real-speech/):
  manifest.tsv   split, voice, sentence_id, path, duration, source (the
                 package and file it came from); a header line first
  corpus.json    the parameters; a re-run with the same ones and all files
                 present does nothing (the cache)
  SPLITS.md      minutes and speakers per split and package (also printed)
  wav/SPLIT/*.wav   VOICE_FILE.wav; in test HASH-VOICE_FILE.wav (see below)

--tts DIR adds the training split of a TTS corpus (make-speech-corpus.py's
output) as a second source: its train rows are appended to the manifest with
paths relative to OUT (../speech/wav/train/...), so one corpus folder feeds
both; validation and test stay real voices only.

Needs ffmpeg and python3-numpy.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
import sys
import wave

import numpy as np

VERSION = 2
RATE = 16000

# Speaker -> split for the held-out speakers; every other speaker trains.
HELD_OUT = {
    "asterisk+fr_CA_f_June": "valid",
    "asterisk+it_IT_m_Carlo": "test",
    "klettres+da": "valid",
    "klettres+nl": "valid",
    "klettres+hu": "valid",
    "klettres+de": "test",
    "klettres+fr": "test",
    "klettres+it": "test",
    "klettres+lt": "test",
    "hedgewars+Mobster": "valid",
    "hedgewars+Surfer": "valid",
    "hedgewars+British": "test",
    "hedgewars+Pirate": "test",
    "hedgewars+Default_ru": "test",
}
ASTERISK_SPEAKER = {"en_US_f_Allison": "Allison", "es_MX_f_Allison": "Allison"}
KLETTRES_SPEAKER = {"en_GB": "en"}
HEDGEWARS_EXCLUDE = {"Robot"}
ASTERISK_SKIP = re.compile(r"(?i)beep|tone|silence|^silence|music|dtmf")
AUDIO_EXT = (".wav", ".ogg", ".g722", ".flac")


def die(msg):
    print("make-real-speech: " + msg, file=sys.stderr)
    sys.exit(1)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def files_under(d, exts=AUDIO_EXT):
    out = []
    for root, _, names in os.walk(d):
        for n in names:
            if n.lower().endswith(exts):
                out.append(os.path.join(root, n))
    return sorted(out)


def hedgewars_groups(voices_dir):
    """Voice packs -> speaker group: packs sharing an identical file join."""
    packs = sorted(p for p in os.listdir(voices_dir)
                   if os.path.isdir(os.path.join(voices_dir, p)) and p not in HEDGEWARS_EXCLUDE)
    parent = {p: p for p in packs}

    def find(p):
        while parent[p] != p:
            p = parent[p]
        return p

    seen = {}
    files = []
    for p in packs:
        for f in files_under(os.path.join(voices_dir, p)):
            h = md5(f)
            if h in seen:
                a, b = find(seen[h]), find(p)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                continue  # identical recording: kept once
            seen[h] = p
            files.append((p, f))
    # A group is named after its first pack in sorted order ("Classic").
    return [(find(p), f) for p, f in files], {p: find(p) for p in packs}


def sources(pkgs):
    """(package, speaker, path, decoder args) for every recording."""
    out = []
    fv = os.path.join(pkgs, "festvox-ru/usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav")
    if not os.path.isdir(fv):
        die(fv + ": missing (run scripts/make-real-speech.sh, which unpacks festvox-ru)")
    for f in files_under(fv, (".wav",)):
        out.append(("festvox-ru", "festvox-ru+msu_ru_nsh", f, []))
    for lang in ("en", "es", "fr", "it", "ru"):
        pkg = "asterisk-core-sounds-%s-g722" % lang
        root = os.path.join(pkgs, pkg, "usr/share/asterisk/sounds")
        if not os.path.isdir(root):
            die(root + ": missing (run scripts/make-real-speech.sh)")
        for voice in sorted(os.listdir(root)):
            spk = "asterisk+" + ASTERISK_SPEAKER.get(voice, voice)
            for f in files_under(os.path.join(root, voice), (".g722",)):
                if ASTERISK_SKIP.search(os.path.basename(f)):
                    continue
                out.append((pkg, spk, f, ["-f", "g722"]))
    kl = os.path.join(pkgs, "klettres-data/usr/share/klettres")
    if not os.path.isdir(kl):
        die(kl + ": missing (run scripts/make-real-speech.sh)")
    for lang in sorted(os.listdir(kl)):
        for f in files_under(os.path.join(kl, lang), (".ogg",)):
            out.append(("klettres-data", "klettres+" + KLETTRES_SPEAKER.get(lang, lang), f, []))
    hw = os.path.join(pkgs, "hedgewars-data/usr/share/games/hedgewars/Data/Sounds/voices")
    if not os.path.isdir(hw):
        die(hw + ": missing (run scripts/make-real-speech.sh)")
    files, _ = hedgewars_groups(hw)
    for group, f in files:
        out.append(("hedgewars-data", "hedgewars+" + group, f, []))
    return out


def decode(path, fmt_args):
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error"] + fmt_args + \
          ["-i", path, "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("%s: ffmpeg: %s" % (path, r.stderr.decode(errors="replace").strip()))
    return np.frombuffer(r.stdout, dtype="<f4").astype(np.float64)


def clean_up(x, max_seconds):
    """Trimmed, pause-shortened pieces of x (each <= max_seconds, >= 0.5 s)."""
    hop = RATE // 100
    nf = len(x) // hop
    if nf < 5:
        return []
    fr = x[:nf * hop].reshape(nf, hop)
    db = 10 * np.log10(np.mean(fr * fr, axis=1) + 1e-12)
    thr = max(db.max() - 45.0, -60.0)
    act = db > thr
    if not act.any():
        return []
    # Frames kept: active ones, 0.1 s (10 frames) around them, and at most
    # 0.3 s of any pause (0.15 s at each side), so long pauses shrink.
    keep = np.zeros(nf, bool)
    idx = np.flatnonzero(act)
    first, last = idx[0], idx[-1]
    keep[max(0, first - 10):min(nf, last + 11)] = True
    gaps = np.flatnonzero(np.diff(idx) > 1)
    for g in gaps:
        a, b = idx[g] + 1, idx[g + 1]  # silent frames a..b-1
        if b - a > 60:
            keep[a + 15:b - 15] = False
    segs = []
    frames = np.flatnonzero(keep)
    y = np.concatenate([fr[i] for i in frames]) if len(frames) else np.zeros(0)
    # Cut-outs are spliced without a cross-fade: both sides lie inside a
    # pause at least 45 dB below the loudest frame, so no click is heard.
    cap = int(max_seconds * RATE)
    for s in range(0, len(y), cap):
        piece = y[s:s + cap]
        if len(piece) >= RATE // 2:
            segs.append(piece)
    return segs


def write_wav(path, x):
    peak = np.max(np.abs(x))
    if peak <= 0:
        return False
    y = x * (10 ** (-3 / 20) / peak)
    pcm = np.clip(np.round(y * 32767), -32768, 32767).astype("<i2")
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)
    return True


def work(job):
    pkg, spk, src, fmt, split, base, max_seconds, out = job
    try:
        pieces = clean_up(decode(src, fmt), max_seconds)
    except RuntimeError as e:
        return (job, None, str(e))
    rows = []
    for k, p in enumerate(pieces):
        rel = "wav/%s/%s%s.wav" % (split, base, "" if k == 0 else "_%d" % k)
        if write_wav(os.path.join(out, rel), p):
            rows.append((rel, len(p) / RATE))
    return (job, rows, None)


def slug(s):
    return re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-")


def splits_md(rows, tts_rows):
    by = {}
    for split, voice, _, _, dur, src in rows:
        pkg = src.split("/")[0]
        d = by.setdefault((split, pkg), [0.0, set()])
        d[0] += dur
        d[1].add(voice.split("+", 1)[1])
    lines = ["# Real speech corpus: minutes and speakers per split", "",
             "Made by scripts/make-real-speech.sh (splits disjoint by speaker; "
             "see scripts/make-real-speech.py).", "",
             "| split | package | minutes | files | speakers |", "|---|---|---:|---:|---|"]
    counts = {}
    for split, voice, _, _, dur, src in rows:
        counts[(split, src.split("/")[0])] = counts.get((split, src.split("/")[0]), 0) + 1
    for split in ("train", "valid", "test"):
        tot = 0.0
        spk = set()  # distinct: Allison speaks both asterisk en and es
        for (s, pkg), (mins, voices) in sorted(by.items()):
            if s != split:
                continue
            lines.append("| %s | %s | %.1f | %d | %d: %s |" % (split, pkg, mins / 60, counts[(s, pkg)],
                                                              len(voices), ", ".join(sorted(voices))))
            tot += mins
            spk |= voices
        lines.append("| **%s** | all | **%.1f** | | **%d** |" % (split, tot / 60, len(spk)))
    if tts_rows:
        lines += ["", "Plus %d TTS utterances (%.1f min) of the training split of %s, appended as a "
                  "second source." % (len(tts_rows), sum(r[4] for r in tts_rows) / 60,
                                      tts_rows[0][5])]
    return "\n".join(lines) + "\n"


def finish(out, rows, dropped, tts, params):
    """Writes manifest.tsv (rows, plus the TTS corpus's train rows when tts
    names one), SPLITS.md (keeping a pack-cost section) and corpus.json."""
    tts_rows = []
    if tts:
        with open(os.path.join(tts, "manifest.tsv")) as f:
            hdr, *lines = f.read().splitlines()
        h = hdr.split("\t")
        for l in lines:
            f_ = dict(zip(h, l.split("\t")))
            if f_["split"] != "train":
                continue
            p = os.path.relpath(os.path.join(os.path.abspath(tts), f_["path"]), os.path.abspath(out))
            tts_rows.append(["train", "tts+" + f_["voice"], 1000000 + int(f_["sentence_id"]), p,
                             float(f_["duration"]), os.path.basename(os.path.abspath(tts))])
    man = os.path.join(out, "manifest.tsv")
    with open(man + ".tmp", "w") as f:
        f.write("split\tvoice\tsentence_id\tpath\tduration\tsource\n")
        for r in rows + tts_rows:
            f.write("%s\t%s\t%d\t%s\t%.3f\t%s\n" % tuple(r))
    os.replace(man + ".tmp", man)
    md = splits_md(rows, tts_rows)
    md += "\n%d source files were dropped as silent or shorter than 0.5 s after trimming.\n" % dropped
    sp = os.path.join(out, "SPLITS.md")
    if os.path.exists(sp):
        with open(sp) as f:
            old = f.read()
        k = old.find("## What the pack")
        if k >= 0:
            md += "\n" + old[k:]
    with open(sp, "w") as f:
        f.write(md)
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump({"params": params, "files": len(rows) + len(tts_rows), "dropped": dropped,
                   "tts": os.path.abspath(tts) if tts else None}, f, indent=1)
    print(md, end="")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--pkgs", default=os.path.join(here, "data", "pkgs"))
    ap.add_argument("--out", default=os.path.join(here, "data", "real-speech"))
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="longer recordings are cut into pieces (the data set's max_seconds)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tts", help="a TTS corpus folder whose train split is added to train")
    a = ap.parse_args()
    out = a.out
    # The TTS merge is not part of the cache's key: it only rewrites the
    # manifest, so adding or dropping --tts decodes nothing again.
    params = {"version": VERSION, "rate": RATE, "max_seconds": a.max_seconds, "held_out": HELD_OUT}
    stamp = os.path.join(out, "corpus.json")
    man = os.path.join(out, "manifest.tsv")
    if os.path.exists(stamp) and os.path.exists(man):
        with open(stamp) as f:
            old = json.load(f)
        if {k: v for k, v in old.get("params", {}).items() if k != "tts"} == params:
            with open(man) as f:
                rows = [l.split("\t") for l in f.read().splitlines()[1:]]
            rows = [[r[0], r[1], int(r[2]), r[3], float(r[4]), r[5]] for r in rows
                    if not r[1].startswith("tts+")]
            if all(os.path.exists(os.path.join(out, r[3])) for r in rows):
                finish(out, rows, old.get("dropped", 0), a.tts, params)
                print("make-real-speech: %s is up to date (%d recordings)" % (out, len(rows)),
                      file=sys.stderr)
                return
    srcs = sources(a.pkgs)
    for s in ("train", "valid", "test"):
        os.makedirs(os.path.join(out, "wav", s), exist_ok=True)
    jobs = []
    seen = set()
    for pkg, spk, src, fmt in srcs:
        split = HELD_OUT.get(spk, "train")
        base = slug(spk) + "_" + slug(os.path.relpath(src, os.path.join(a.pkgs, pkg)).rsplit(".", 1)[0])
        base = base[-120:]
        while base in seen:
            base += "x"
        seen.add(base)
        if split == "test":
            # Test files start with a hash of their name, so that the first N
            # in path order (denoise eval --max-files N) are a sample across
            # the test speakers rather than the first speaker's files.
            base = hashlib.md5(base.encode()).hexdigest()[:6] + "-" + base
        jobs.append((pkg, spk, src, fmt, split, base, a.max_seconds, out))
    rows = []
    dropped = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for job, got, msg in ex.map(work, jobs):
            if msg:
                die(msg)
            if not got:
                dropped += 1
            pkg, spk, src, split = job[0], job[1], job[2], job[4]
            for rel, dur in got or []:
                rows.append([split, spk, 0, rel, dur, pkg + "/" + os.path.relpath(src, os.path.join(a.pkgs, pkg))])
    rows.sort(key=lambda r: r[3])
    for i, r in enumerate(rows, 1):
        r[2] = i
    finish(out, rows, dropped, a.tts, params)

if __name__ == "__main__":
    main()
