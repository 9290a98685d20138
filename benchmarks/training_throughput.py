"""Training throughput of keras_uvac against a plain PyTorch reference, in one run.

Each path trains the paper-sized network (batch 64, 128 x 99 inputs, float32,
the same masked reconstruction + KL loss, one sample) on random features for
warm-up steps, then is timed over several windows of consecutive steps (one
`fit` call in Keras, timed per batch); the median clips/s of each is reported.
Every path runs in its own subprocess with the same thread count.

    python benchmarks/training_throughput.py [--windows 5] [--steps 10] [--paths ...]
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
    import numpy as np, keras
    keras.mixed_precision.set_global_policy("{policy}")
    from keras_uvac.model import UVAC
    batch, windows, steps, overrides = {batch}, {windows}, {steps}, {overrides}
    rng = np.random.default_rng(0)
    inputs = {{"spectrogram": rng.uniform(size=(batch, 128, 99)).astype("float32"),
              "activity_mask": (rng.uniform(size=(batch, 99)) < 0.8).astype("float32")}}
    model = UVAC(**overrides, seed=0)
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


def keras_path(backend, jit=False, overrides=None, policy="float32"):
    return {"backend": backend, "jit": jit, "overrides": overrides or {}, "policy": policy}


PATHS = {
    "pytorch_reference": None,
    "keras_tensorflow": keras_path("tensorflow"),
    "keras_tensorflow_mixed_bfloat16": keras_path("tensorflow", policy="mixed_bfloat16"),
    "keras_torch": keras_path("torch"),
    "keras_jax": keras_path("jax", jit=True),
}


def run_path(name, batch, windows, steps, threads):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads)}
    spec = PATHS[name]
    if spec is None:
        code = TORCH_REFERENCE.format(batch=batch, windows=windows, steps=steps)
    else:
        environment["KERAS_BACKEND"] = spec["backend"]
        code = KERAS_PATH.format(batch=batch, windows=windows, steps=steps, overrides=repr(spec["overrides"]),
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
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "training_throughput.json"))
    args = parser.parse_args()
    threads = os.cpu_count()
    results = {}
    for name in args.paths:
        results[name] = run_path(name, args.batch, args.windows, args.steps, threads)
        print(name, results[name].get("median_clips_per_s", results[name].get("error", "")[-300:]), flush=True)
    reference = results.get("pytorch_reference", {}).get("median_clips_per_s")
    if reference:
        for result in results.values():
            if "median_clips_per_s" in result:
                result["ratio_to_pytorch_reference"] = result["median_clips_per_s"] / reference
    payload = {"what": f"training clips/s, paper-sized UVAC, batch {args.batch}, float32 unless the path names another",
               "command": "python benchmarks/training_throughput.py " + " ".join(sys.argv[1:]),
               "machine": {"processor": platform.processor() or platform.machine(), "cpus": threads},
               "windows": args.windows, "steps_per_window": args.steps, "results": results}
    from keras_uvac.atomic import atomic_path

    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
