"""Where the TensorFlow training step's time goes, per part of the network, with oneDNN's kernels and with Eigen's.

Each part of the paper-sized UVAC (batch 64, float32) runs forward and backward
(gradients of its weights) in a `tf.function`, timed over several windows after
warm-up: the encoder's convolutions alone, the whole encoder (convolutions and
the two GRU layers), and the decoder (dense layer and transposed convolutions).
Every setting runs in its own process: `native` (this CPU, TensorFlow's oneDNN
kernels on, as keras_uvac sets them), `avx2` (`ONEDNN_MAX_CPU_ISA=AVX2`, as an
AVX2-only CPU) and `avx2_eigen` (the same with TensorFlow's oneDNN operations
off, `TF_ENABLE_ONEDNN_OPTS=0`, which is TensorFlow's own default on such a CPU).
Milliseconds per step, medians, are written to benchmarks/results/step_profile.json.

    python benchmarks/step_profile.py [--windows 5] [--steps 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETTINGS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
            "avx2_eigen": {"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_ENABLE_ONEDNN_OPTS": "0"}}

PARTS = textwrap.dedent("""
    import json, time
    import keras_uvac  # first, as users import it: it chooses TensorFlow's kernels
    import numpy as np, tensorflow as tf
    from keras_uvac import layers
    windows, steps = {windows}, {steps}
    rng = np.random.default_rng(0)
    spectrogram = tf.constant(rng.uniform(size=(64, 128, 99)).astype("float32"))
    codes = tf.constant(rng.normal(size=(64, 10)).astype("float32"))
    parts = {{
        "encoder convolutions": (layers.Encoder(10, gru_units=()), spectrogram),
        "encoder (convolutions and GRUs)": (layers.Encoder(10), spectrogram),
        "decoder (transposed convolutions)": (layers.Decoder(128, 99), codes),
    }}
    result = {{}}
    for name, (part, inputs) in parts.items():
        part(inputs, training=True)

        @tf.function
        def step(inputs, part=part):
            with tf.GradientTape() as tape:
                outputs = part(inputs, training=True)
                total = tf.add_n([tf.reduce_sum(output) for output in tf.nest.flatten(outputs)])
            return tape.gradient(total, part.trainable_variables)

        for _ in range(2 * steps):
            step(inputs)
        times = []
        for _ in range(windows):
            start = time.perf_counter()
            for _ in range(steps):
                tf.nest.map_structure(lambda gradient: gradient.numpy(), step(inputs))
            times.append(1000 * (time.perf_counter() - start) / steps)
        result[name] = times
    print("RESULT", json.dumps(result))
""")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "step_profile.json"))
    args = parser.parse_args()
    results = {}
    for setting, variables in SETTINGS.items():
        environment = {key: value for key, value in os.environ.items()
                       if key not in ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")}
        environment.update({"TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", **variables})
        run = subprocess.run([sys.executable, "-c", PARTS.format(windows=args.windows, steps=args.steps)],
                             env=environment, capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
        if run.returncode or not lines:
            raise SystemExit(f"{setting} failed:\n{run.stderr[-3000:]}")
        windows = json.loads(lines[-1][len("RESULT "):])
        results[setting] = {part: {"median_ms": statistics.median(times), "window_ms": times}
                            for part, times in windows.items()}
        print(setting, {part: round(value["median_ms"], 1) for part, value in results[setting].items()}, flush=True)
    payload = {"what": "milliseconds per forward and backward pass of each part, batch 64, float32",
               "command": "python benchmarks/step_profile.py " + " ".join(sys.argv[1:]),
               "settings": {name: variables for name, variables in SETTINGS.items()}, "results": results}
    from keras_uvac.atomic import atomic_path

    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
