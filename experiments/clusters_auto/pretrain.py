"""The default recipe's pretraining alone (its first 12 epochs, its learning-rate schedule), saved as a model.

    python experiments/clusters_auto/pretrain.py DATA_DIR OUT.keras [--seed 0]
"""

import argparse

import keras

from keras_uvac import datasets, training


class StopAfterPretraining(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= training.RECIPES["default"].pretrain_epochs:
            self.model.stop_training = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    training.repeatable_op_order()
    splits = datasets.load_audio(args.data).split("random", seed=0)
    recipe = training.RECIPES["default"].with_changes({"runs": 1, "balanced_clusters": False, "consensus_epochs": 0})
    training.train(splits["train"], args.out, recipe, seed=args.seed, callbacks=[StopAfterPretraining()], verbose=2)


if __name__ == "__main__":
    main()
