"""Cost against corpus size: wall time and peak memory of `uvac train` on corpora of 600 to 9,600 clips.

The corpora are the bundled FSDD repeated with augmentation: its 3,000 clips in a seeded order, then again as
copies, each copy with its own speed (0.9-1.1x, which moves pitch and formants with it), gain (-6 to +6 dB) and
a noise floor 40-60 dB below the clip. Each corpus holds the first N clips of that sequence, so the corpora are
nested and every one has the FSDD's ten digits and six speakers in about equal shares; the files keep the FSDD's
naming, so `uvac train` reads their labels and speaker ids. The FSDD is CC BY-SA 4.0 (Zohar Jackson and
contributors, github.com/Jakobovski/free-spoken-digit-dataset); the copies are too.

Each size is one `uvac train` process (the default recipe, its three runs and their consensus, scaled to
`--epochs` per run so that the sweep fits a session; `--epochs` also lifts the recipe's floor on optimiser
steps, so every size trains the same epochs and the time per clip compares like with like). The parent times
the process from start to exit and reads its peak resident memory from the kernel (`os.wait4`). Time per clip
is the wall time over the training clips (80% of the corpus), which includes a fixed cost (start-up, building
the model, the figures); the time each clip added since the last size leaves that out, and is the stricter check
of linear growth. The sweep's verdicts are issue 42's: time per clip at 9,600 clips at most 1.2x that at 1,200,
peak memory at most 1.3x.

    python benchmarks/size_sweep.py [--sizes 600 1200 2400 4800 9600] [--epochs 2] [--work runs/size_sweep]
    python benchmarks/size_sweep.py --replot     # the plot again, from benchmarks/results/size_sweep.json
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_uvac.atomic import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (600, 1200, 2400, 4800, 9600)
TRAINING_SHARE = 0.8  # the random split's training clips


def augmented_sequence(fsdd, count, seed=0):
    """The sweep's clips: `(source index, copy)` pairs, the FSDD in a seeded order, then its augmented copies.

    Example:
    >>> sequence = augmented_sequence(datasets.load_audio(), 9600)  # doctest: +SKIP
    >>> sequence[3000][1]  # doctest: +SKIP
    1
    """
    rng = np.random.default_rng(seed)
    copies = -(-count // len(fsdd))
    return [(int(index), copy) for copy in range(copies) for index in rng.permutation(len(fsdd))][:count]


def augment(signal, rng):
    """One augmented copy of a clip: resampled to play 0.9-1.1x as fast, a gain and a noise floor of its own."""
    import scipy.signal

    speed = rng.uniform(0.9, 1.1)
    # Played at the original rate, a signal resampled to 1/speed of its length sounds `speed` times as fast.
    signal = scipy.signal.resample_poly(signal, 100, round(100 * speed))
    signal = signal * 10 ** (rng.uniform(-6, 6) / 20)
    level = np.sqrt(np.mean(signal**2)) * 10 ** (-rng.uniform(40, 60) / 20)
    return np.clip(signal + level * rng.standard_normal(len(signal)), -1, 1).astype(np.float32)


def write_corpora(work, sizes, seed=0):
    """Writes the largest corpus's files once and each corpus as a folder of links to them.

    Returns:
        `{size: folder}`.
    """
    import soundfile

    from keras_uvac import datasets

    fsdd = datasets.load_audio()
    pool = os.path.join(work, "clips")
    os.makedirs(pool, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for index, copy in augmented_sequence(fsdd, max(sizes), seed):
        digit, speaker, take = datasets.DIGIT_FILENAME.match(os.path.basename(fsdd.paths[index])).groups()[:3]
        # The FSDD's takes are 0-49; each copy gets its own block of them, so names stay unique.
        name = f"{digit}_{speaker}_{int(take) + 100 * copy}.wav"
        path = os.path.join(pool, name)
        signal, rate = soundfile.read(fsdd.paths[index], dtype="float32")
        clip = signal if copy == 0 else augment(signal, rng)
        if not os.path.exists(path):
            soundfile.write(path, clip, rate, subtype="PCM_16")
        names.append(name)
    folders = {}
    for size in sizes:
        folder = os.path.join(work, f"corpus_{size}")
        os.makedirs(folder, exist_ok=True)
        for name in names[:size]:
            link = os.path.join(folder, name)
            if not os.path.exists(link):
                os.link(os.path.join(pool, name), link)
        folders[size] = folder
    return folders


def measure_training(data, out, epochs, seed=0):
    """Runs `uvac train` in its own process: wall seconds and peak resident memory in MiB."""
    # A fresh training each time: an earlier model or run folder would be resumed or refused.
    if os.path.exists(out):
        os.remove(out)
    shutil.rmtree(out + ".run", ignore_errors=True)
    command = [sys.executable, "-m", "keras_uvac.cli", "train", "--data", data, "--out", out, "--epochs",
               str(epochs), "--seed", str(seed)]
    print("running", " ".join(command), flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"uvac train failed on {data} (exit {os.waitstatus_to_exitcode(status)})")
    return {"command": " ".join(command[1:]), "seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def plot_sweep(result, path):
    """Draws time per training clip and peak memory against corpus size, from the sweep's JSON."""
    from keras_uvac.evaluation import _figure, _save

    clips = [row["clips"] for row in result["rows"]]
    figure, (time_axis, memory_axis) = _figure(1, 2, figsize=(10, 3.6))
    time_axis.plot(clips, [row["ms_per_training_clip"] for row in result["rows"]], "o-", label="whole run")
    time_axis.plot(clips[1:], [row["added_ms_per_training_clip"] for row in result["rows"][1:]], "s--",
                   label="added since the last size")
    time_axis.set_ylabel("ms per training clip")
    time_axis.legend(fontsize=8)
    memory_axis.plot(clips, [row["peak_rss_mib"] for row in result["rows"]], "o-")
    memory_axis.set_ylabel("peak resident memory (MiB)")
    for axis in (time_axis, memory_axis):
        axis.set_xscale("log")
        axis.minorticks_off()
        axis.set_ylim(bottom=0)
        axis.set_xticks(clips, [f"{count:,}" for count in clips])
        axis.set_xlabel("clips in the corpus")
    figure.suptitle(f"uvac train against corpus size ({result['epochs']} epochs per run, "
                    f"{result['machine']['cpus']} cores)", fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run of the recipe (default 2)")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "size_sweep"))
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "size_sweep.json"))
    parser.add_argument("--plot", default=os.path.join(ROOT, "docs", "figures", "size_sweep.png"))
    parser.add_argument("--replot", action="store_true", help="only draw the plot again from the JSON")
    args = parser.parse_args()
    if args.replot:
        with open(args.json) as handle:
            print(f"wrote {plot_sweep(json.load(handle), args.plot)}")
        return
    folders = write_corpora(args.work, args.sizes)
    rows = []
    for size in args.sizes:
        out = os.path.join(args.work, f"uvac_{size}.keras")
        row = {"clips": size, "training_clips": round(TRAINING_SHARE * size), **measure_training(folders[size], out,
                                                                                                args.epochs)}
        row["ms_per_training_clip"] = 1000 * row["seconds"] / row["training_clips"]
        if rows:
            # What each clip added since the last size, without the fixed cost (start-up, model building).
            row["added_ms_per_training_clip"] = (1000 * (row["seconds"] - rows[-1]["seconds"])
                                                 / (row["training_clips"] - rows[-1]["training_clips"]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    by_size = {row["clips"]: row for row in rows}
    result = {"what": "wall time and peak memory of uvac train against corpus size (the FSDD repeated with "
                      f"augmentation; the default recipe at {args.epochs} epochs per run)",
              "command": "python benchmarks/size_sweep.py " + " ".join(sys.argv[1:]),
              "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
              "epochs": args.epochs, "rows": rows}
    if 1200 in by_size and 9600 in by_size:
        result["time_per_clip_ratio_9600_to_1200"] = (by_size[9600]["ms_per_training_clip"]
                                                      / by_size[1200]["ms_per_training_clip"])
        result["peak_rss_ratio_9600_to_1200"] = by_size[9600]["peak_rss_mib"] / by_size[1200]["peak_rss_mib"]
    write_json(args.json, result)
    print(f"wrote {args.json} and {plot_sweep(result, args.plot)}")


if __name__ == "__main__":
    main()
