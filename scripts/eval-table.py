#!/usr/bin/python3
"""eval-table.py EVAL.json [--seed-targets] — the per-SNR table of an evaluation as Markdown.

Reads the JSON of `denoise eval --json` (docs/eval-json.md) and prints, per
input SNR, PESQ-WB, STOI, SI-SDR and SNR improvement of the model with the
noisy input's own score beside it. With --seed-targets, the seed's published
figures stand beside each cell with a mark saying whether the model beats
them, so a model card cannot quote a comparison it did not make.
"""
import json
import sys

# The seed's table (issue 4): input SNR -> (PESQ, STOI, SNR improvement dB).
SEED = {5: (2.85, 0.825, 4.2), 10: (3.10, 0.880, 5.1), 15: (3.35, 0.910, 4.8),
        20: (3.52, 0.925, 3.9), 25: (3.68, 0.935, 2.5)}


def mean(cell, metric, who):
    v = cell.get(metric, {})
    v = v.get(who, v) if isinstance(v, dict) and who in v else v
    return v.get("mean") if isinstance(v, dict) else None


def fmt(x, spec):
    return "n/a" if x is None else spec % x


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    targets = "--seed-targets" in sys.argv
    if len(args) != 1:
        sys.exit("usage: eval-table.py EVAL.json [--seed-targets]")
    j = json.load(open(args[0]))
    ts = j.get("test_set", {})
    print("model %s (version %s); %s clean files x %s noise kinds (%s), %s noisy files"
          % (j["model"]["name"], j["model"]["version"], ts.get("files"), len(ts.get("noise", [])),
             ",".join(ts.get("noise", [])), ts.get("noisy_files")))
    print()
    head = "| input SNR | PESQ-WB noisy → model | STOI noisy → model | SI-SDR dB noisy → model | SNR improvement dB |"
    print(head)
    print("|---|---|---|---|---|")
    beaten = total = noisy_beats = 0
    for cell in j["by_snr"]:
        snr = int(round(cell["snr_db"]))
        p = (mean(cell, "pesq_wb", "noisy"), mean(cell, "pesq_wb", "model"))
        s = (mean(cell, "stoi", "noisy"), mean(cell, "stoi", "model"))
        d = (mean(cell, "si_sdr_db", "noisy"), mean(cell, "si_sdr_db", "model"))
        imp = cell.get("snr_improvement_db", {}).get("mean")
        cols = ["%s → **%s**" % (fmt(p[0], "%.2f"), fmt(p[1], "%.2f")),
                "%s → **%s**" % (fmt(s[0], "%.3f"), fmt(s[1], "%.3f")),
                "%s → **%s**" % (fmt(d[0], "%.2f"), fmt(d[1], "%.2f")),
                "**%s**" % fmt(imp, "%+.2f")]
        if targets and snr in SEED:
            got = (p[1], s[1], imp)
            noisy_beats += sum(x is not None and x > SEED[snr][i] for i, x in enumerate((p[0], s[0])))
            for i, k in enumerate((0, 1, 3)):
                ok = got[i] is not None and got[i] > SEED[snr][i]
                beaten += ok
                total += 1
                cols[k] += " (seed %s %s)" % (SEED[snr][i], "✓" if ok else "✗")
        print("| %d dB | %s |" % (snr, " | ".join(cols)))
    if targets:
        print()
        print("Seed cells beaten: %d of %d. The noisy input itself beats %d of the seed's 10 PESQ and "
              "STOI cells on this test set, so those cells say more about the test set than the model."
              % (beaten, total, noisy_beats))
    t = j.get("timing", {})
    if t.get("denoise_seconds_per_audio_minute") is not None:
        print()
        print("Denoising: %.2f s per minute of audio during the evaluation." % t["denoise_seconds_per_audio_minute"])


if __name__ == "__main__":
    main()
