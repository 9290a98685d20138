"""Training throughput of keras_uvac against a plain PyTorch reference, in one run.

Each path trains the paper-sized network (batch 64, 128 x 99 inputs, float32,
the same masked reconstruction + KL loss, one sample) on random features for
warm-up steps, then is timed over several windows of consecutive steps (one
`fit` call in Keras, timed per batch); the median clips/s of each is reported.
`keras_<backend>_recipe` times the default recipe's real step instead (two
augmented views, the contrastive and speaker terms) on that backend. Every path runs in its own
subprocess with the same thread count, once per instruction set asked for:
`native` (the CPU as it is) and `avx2` (`ONEDNN_MAX_CPU_ISA=AVX2`, which limits
oneDNN, the kernels both TensorFlow and PyTorch use on x86, to what an AVX2-only
CPU has). `keras_tensorflow_eigen` is TensorFlow with its oneDNN operations off
(`TF_ENABLE_ONEDNN_OPTS=0`), which is TensorFlow's own default on Linux CPUs
without AVX-512 VNNI/BF16 or AMX, and so what Keras on TensorFlow ran on an
AVX2-only CPU before keras_uvac turned them on (see `keras_uvac._startup`).

    python benchmarks/training_throughput.py [--windows 5] [--steps 10] [--paths ...] [--isa native avx2]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KERAS_PATH = textwrap.dedent("""
    import json, resource, sys, time
    # keras_uvac first, as its users import it: it chooses TensorFlow's start-up settings.
    from keras_uvac.model import UVAC
    from keras_uvac.training import RECIPES
    import numpy as np, keras
    keras.mixed_precision.set_global_policy("{policy}")
    batch, windows, steps, recipe_step = {batch}, {windows}, {steps}, {recipe_step}
    rng = np.random.default_rng(0)
    inputs = {{"spectrogram": rng.uniform(size=(batch, 128, 99)).astype("float32"),
              "activity_mask": (rng.uniform(size=(batch, 99)) < 0.8).astype("float32")}}
    if recipe_step:
        inputs["speaker"] = rng.integers(0, 6, size=batch).astype("int32")
    model = UVAC(**(RECIPES["default"].model if recipe_step else {{}}), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile={jit})

    class Clock(keras.callbacks.Callback):
        # One fit call for warm-up and every window, so no window pays for starting fit.
        def on_train_batch_end(self, batch_index, logs=None):
            ends.append(time.perf_counter())

    ends, warmup = [], 2 * steps
    data = {{key: np.concatenate([value] * (warmup + windows * steps)) for key, value in inputs.items()}}
    model.fit(data, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[Clock()])
    marks = ends[warmup - 1::steps]
    rates = [batch * steps / (end - start) for start, end in zip(marks, marks[1:])]
    print("RESULT", json.dumps(rates), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")

TORCH_REFERENCE = textwrap.dedent("""
    import json, resource, time, math
    import torch
    from torch import nn
    torch.manual_seed(0)
    batch, windows, steps = {batch}, {windows}, {steps}

    class Reference(nn.Module):
        # The same network as keras_uvac's default UVAC, written directly in PyTorch (channels first).
        def __init__(self, latent=10, clusters=10):
            super().__init__()
            layers, width = [], 1
            for channels in (16, 32, 64, 128):
                layers += [nn.Conv2d(width, channels, 8, 2, 3), nn.BatchNorm2d(channels), nn.ReLU()]
                width = channels
            self.convolutions = nn.Sequential(*layers)
            self.gru = nn.GRU(8 * 128, 128, num_layers=2, batch_first=True)
            self.moments = nn.Linear(128, 2 * latent)
            self.from_latent = nn.Linear(latent, 128)
            deconvolutions, width = [], 128
            for channels in (64, 32, 16, 1):
                deconvolutions += [nn.ConvTranspose2d(width, channels, 8, 2, 3),
                                   nn.ReLU() if channels > 1 else nn.Sigmoid()]
                width = channels
            self.deconvolutions = nn.Sequential(*deconvolutions)
            self.logits = nn.Parameter(torch.zeros(clusters))
            self.means = nn.Parameter(torch.randn(clusters, latent) * 0.3)
            self.log_variances = nn.Parameter(torch.zeros(clusters, latent))
            self.latent = latent

        def forward(self, spectrogram, mask):
            hidden = self.convolutions(spectrogram[:, None])            # (B, 128, 8, 6)
            sequence = hidden.permute(0, 3, 1, 2).reshape(len(hidden), hidden.shape[3], -1)
            _, state = self.gru(sequence)
            moments = self.moments(state[-1])
            mean, log_var = moments[:, :self.latent], moments[:, self.latent:]
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            grid = self.from_latent(z)[:, :, None, None].expand(-1, -1, 8, 7)
            reconstruction = self.deconvolutions(grid)[:, 0, :128, :99]
            error = ((spectrogram - reconstruction) * mask[:, None]).square().sum((1, 2)).mean()
            log_var_c = self.log_variances.clamp(min=-6)
            inner = 0.5 * ((mean[:, None] - self.means).square() / log_var_c.exp() + log_var_c - log_var[:, None] - 1
                           + (log_var[:, None] - log_var_c).exp()).sum(-1)
            kl = -torch.logsumexp(torch.log_softmax(self.logits, 0) - inner, dim=1).mean()
            return error + kl

    model = Reference()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    spectrogram = torch.rand(batch, 128, 99)
    mask = (torch.rand(batch, 99) < 0.8).float()

    def step():
        optimizer.zero_grad()
        model(spectrogram, mask).backward()
        optimizer.step()

    for _ in range(2 * steps):
        step()
    rates = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(batch * steps / (time.perf_counter() - start))
    print("RESULT", json.dumps(rates), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
""")


def keras_path(backend, jit=False, recipe_step=False, policy="float32", environment=None):
    return {"backend": backend, "jit": jit, "recipe_step": recipe_step, "policy": policy,
            "environment": environment or {}}


PATHS = {
    "pytorch_reference": None,
    "keras_tensorflow": keras_path("tensorflow"),
    "keras_tensorflow_recipe": keras_path("tensorflow", recipe_step=True),
    "keras_tensorflow_eigen": keras_path("tensorflow", environment={"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "keras_tensorflow_xla": keras_path("tensorflow", jit=True),
    "keras_tensorflow_mixed_bfloat16": keras_path("tensorflow", policy="mixed_bfloat16"),
    "keras_torch": keras_path("torch"),
    "keras_torch_recipe": keras_path("torch", recipe_step=True),
    "keras_jax": keras_path("jax", jit=True),
    "keras_jax_recipe": keras_path("jax", jit=True, recipe_step=True),
}

ISAS = {"native": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}

CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_features():
    """The instruction sets of CPU_FEATURES this CPU has, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return None
    return [feature for feature in CPU_FEATURES if feature in flags]


def run_path(name, isa, batch, windows, steps, threads):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")}
    environment.update({"TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads), **ISAS[isa]})
    spec = PATHS[name]
    if spec is None:
        code = TORCH_REFERENCE.format(batch=batch, windows=windows, steps=steps)
    else:
        environment.update({"KERAS_BACKEND": spec["backend"], **spec["environment"]})
        code = KERAS_PATH.format(batch=batch, windows=windows, steps=steps, recipe_step=spec["recipe_step"],
                                 jit=repr(spec["jit"]), policy=spec["policy"])
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode or not lines:
        return {"error": (result.stderr or result.stdout)[-2000:]}
    rates_text, peak_kib = lines[-1][len("RESULT "):].rsplit(" ", 1)
    rates = json.loads(rates_text)
    return {"median_clips_per_s": statistics.median(rates), "window_clips_per_s": rates,
            "peak_memory_mib": int(peak_kib) / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed window")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--paths", nargs="*", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--isa", nargs="*", default=list(ISAS), choices=list(ISAS),
                        help="instruction sets to run every path under")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "training_throughput.json"))
    args = parser.parse_args()
    threads = os.cpu_count()
    results = {}
    for isa in args.isa:
        results[isa] = {}
        for name in args.paths:
            if isa != "native" and PATHS[name] and PATHS[name]["policy"] != "float32":
                continue  # AVX2 has no bfloat16 arithmetic
            result = results[isa][name] = run_path(name, isa, args.batch, args.windows, args.steps, threads)
            print(isa, name, result.get("median_clips_per_s", result.get("error", "")[-300:]), flush=True)
        reference = results[isa].get("pytorch_reference", {}).get("median_clips_per_s")
        if reference:
            for result in results[isa].values():
                if "median_clips_per_s" in result:
                    result["ratio_to_pytorch_reference"] = result["median_clips_per_s"] / reference
    payload = {"what": f"training clips/s, paper-sized UVAC, batch {args.batch}, float32 unless the path names another",
               "command": "python benchmarks/training_throughput.py " + " ".join(sys.argv[1:]),
               "machine": {"processor": platform.processor() or platform.machine(), "cpus": threads,
                           "cpu_features": cpu_features()},
               "windows": args.windows, "steps_per_window": args.steps, "results": results}
    from keras_uvac.atomic import atomic_path

    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
