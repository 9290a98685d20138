"""Checks the backend-agnostic layers on a GPU under JAX and PyTorch, against the same layers on the CPU.

`keras_uvac.layers` (the encoder, the GMM prior, the decoder, the augmentation) is written in `keras.ops` only,
so it must give the same numbers on any device. The package as a whole imports TensorFlow (its tf.data pipeline
and feature front end), which a GPU machine without TensorFlow cannot load, so this script loads `layers.py` by
itself. For each backend it builds encoder -> prior -> decoder on the CPU, keeps the weights and the outputs for
a fixed batch, then in a second process on the GPU loads those weights and compares the outputs (encoder moments,
the per-clip KL of eq. 11, the cluster posteriors of eq. 14, the reconstruction), then trains a few steps with
`fit` on the GPU and on the CPU (reconstruction plus KL), and reports the losses and the median time per step.

    python benchmarks/gpu_layers.py [--backends jax torch] [--steps 30] [--cpu-steps 6] [--json OUT]

Needs Keras 3 and the backends; a GPU for the comparison (without one, both processes run on the CPU).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, BINS, FRAMES = 64, 128, 99


def _load_layers():
    spec = importlib.util.spec_from_file_location("uvac_layers", os.path.join(ROOT, "keras_uvac", "layers.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _device_run(reference, steps):
    """Builds the layers on this process' device; returns its outputs, weights, losses and step times."""
    import keras
    from keras import ops

    layers = _load_layers()
    keras.utils.set_random_seed(0)

    class SmallVAE(keras.Model):
        def __init__(self):
            super().__init__()
            self.augment = layers.SpectrogramAugment()
            self.encoder = layers.Encoder()
            self.prior = layers.GMMPrior()
            self.prior.build()  # its KL is used before any call of it
            self.decoder = layers.Decoder(num_bins=BINS, num_frames=FRAMES)
            self.noise = keras.random.SeedGenerator(0)

        def outputs(self, spectrogram):
            z_mean, z_log_var = self.encoder(spectrogram)
            return {"z_mean": z_mean, "z_log_var": z_log_var, "kl": self.prior.kl_divergence(z_mean, z_log_var),
                    "posterior": self.prior(z_mean), "reconstruction": self.decoder(z_mean)}

        def call(self, spectrogram, training=False):
            z_mean, z_log_var = self.encoder(self.augment(spectrogram, training=training), training=training)
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.noise)
            self.add_loss(ops.mean(self.prior.kl_divergence(z_mean, z_log_var)) / (BINS * FRAMES))
            return self.decoder(z)

    spectrogram = np.random.default_rng(0).uniform(size=(BATCH, BINS, FRAMES)).astype("float32")
    model = SmallVAE()
    model(spectrogram[:2])
    if reference is not None:
        model.set_weights([reference[f"weight_{index}"] for index in range(len(model.weights))])
    outputs = {name: ops.convert_to_numpy(value) for name, value in model.outputs(spectrogram).items()}
    weights = [ops.convert_to_numpy(weight) for weight in model.get_weights()]

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    step_times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times.append(time.perf_counter() - self.start)

    history = model.fit(spectrogram, spectrogram, batch_size=BATCH, epochs=steps, verbose=0,
                        callbacks=[StepTimer()])
    return outputs, weights, history.history["loss"], step_times


def _child(args):
    import keras

    reference = dict(np.load(args.reference)) if args.reference else None
    outputs, weights, losses, step_times = _device_run(reference, args.steps)
    device = "cpu"
    if keras.backend.backend() == "jax":
        import jax
        device = jax.devices()[0].device_kind
    elif keras.backend.backend() == "torch":
        import torch
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    np.savez(args.out, **{f"output_{name}": value for name, value in outputs.items()},
             **{f"weight_{index}": value for index, value in enumerate(weights)},
             losses=np.asarray(losses), step_times=np.asarray(step_times), device=np.asarray(device))


def _spawn(backend, device, steps, out, reference=None):
    environment = dict(os.environ, KERAS_BACKEND=backend)
    if device == "cpu":
        environment.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    command = [sys.executable, __file__, "--child", "--steps", str(steps), "--out", out]
    if reference:
        command += ["--reference", reference]
    subprocess.run(command, env=environment, check=True)
    return dict(np.load(out))


def compare(backend, folder, steps, cpu_steps):
    """Runs one backend on the CPU, then on the GPU from the CPU's weights; returns the comparison."""
    reference = os.path.join(folder, f"{backend}_cpu.npz")
    cpu = _spawn(backend, "cpu", cpu_steps, reference)
    gpu = _spawn(backend, "gpu", steps, os.path.join(folder, f"{backend}_gpu.npz"), reference)
    differences = {}
    for key in cpu:
        if key.startswith("output_"):
            scale = float(np.max(np.abs(cpu[key]))) or 1.0
            differences[key[len("output_"):]] = float(np.max(np.abs(cpu[key] - gpu[key]))) / scale
    agree = float(np.mean(np.argmax(cpu["output_posterior"], -1) == np.argmax(gpu["output_posterior"], -1)))
    return {"device": str(gpu["device"]), "max_relative_difference": differences,
            "same_cluster_fraction": agree, "losses_gpu": [float(gpu["losses"][0]), float(gpu["losses"][-1])],
            "losses_cpu": [float(cpu["losses"][0]), float(cpu["losses"][-1])],
            "finite": bool(np.all(np.isfinite(gpu["losses"]))),
            # The first steps compile (JAX) or warm up (cuDNN): the step time is the median of the second half.
            "median_step_seconds_gpu": float(np.median(gpu["step_times"][steps // 2:])),
            "median_step_seconds_cpu": float(np.median(cpu["step_times"][cpu_steps // 2:]))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="*", default=["jax", "torch"])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--steps", type=int, default=30, help="training steps on the GPU")
    parser.add_argument("--cpu-steps", type=int, default=6, help="training steps on the CPU (slow under JAX)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--reference", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    results = {"command": "python benchmarks/gpu_layers.py " + " ".join(sys.argv[1:]),
               "batch": BATCH, "steps": args.steps, "cpu_steps": args.cpu_steps, "backends": {}}
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends:
            results["backends"][backend] = compare(backend, folder, args.steps, args.cpu_steps)
            print(backend, json.dumps(results["backends"][backend]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
