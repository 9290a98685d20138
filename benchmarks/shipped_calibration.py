"""Are the shipped model's cluster probabilities calibrated? Its mean top probability on the FSDD test clips beside
the share of clips whose cluster the consensus' independent runs agree with.

`uvac train` fitted the model's posterior temperature on the validation clips to the runs' agreement (no labels;
`keras_uvac.quality.calibrate_temperature`); this checks it on the test clips, which it never saw. The runs are
read from `saved_models/uvac_fsdd.keras.run/runs/` (kept beside the model after training, not committed) and
given the recipe's final equal-size refit, as the training's fit gave them. Writes
`benchmarks/results/shipped_calibration.json`.

    python benchmarks/shipped_calibration.py
"""

import json
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "saved_models", "uvac_fsdd.keras")


def main():
    from keras_uvac import consensus, datasets, pipeline, quality
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    model = UVAC.from_preset(MODEL)
    splits = datasets.load_audio().split(model.card["split"]["method"], seed=model.card["split"]["seed"])
    runs = quality.consensus_runs(MODEL, model.card, splits["train"])
    if runs is None:
        raise SystemExit(f"the consensus' runs are not in {MODEL}.run/runs/: retrain the shipped model with the "
                         f"command in its card ({model.card['command']}) to have them")
    data = pipeline.feature_dataset(splits["test"], model.feature_config_object(), 256, with_labels=False)
    logits = np.asarray(model.prior.cluster_logits(model.latent_mean(data)), "float64")
    agreeing = consensus.runs_agreeing(consensus.run_assignments(runs, data), logits.argmax(axis=1))
    temperature = model.posterior_temperature
    result = {"what": "the shipped model on the FSDD test clips: mean top probability at the temperature fitted in "
                      "training (on the validation clips) and at 1, beside the mean share of the consensus' runs "
                      "that put each clip in the model's cluster",
              "command": "python benchmarks/shipped_calibration.py", "clips": len(agreeing),
              "temperature": temperature, "fitted_in_training": model.card.get("temperature"),
              "test_runs_agreeing": float(agreeing.mean()),
              "test_mean_top_probability": quality.mean_top_probability(logits, temperature),
              "test_mean_top_probability_at_temperature_1": quality.mean_top_probability(logits, 1.0)}
    result["difference_points"] = 100 * abs(result["test_mean_top_probability"] - result["test_runs_agreeing"])
    write_json(os.path.join(ROOT, "benchmarks", "results", "shipped_calibration.json"), result, indent=2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
