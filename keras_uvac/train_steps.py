"""Each backend's training step for `UVAC`: the one loss of `UVAC.loss_terms`, differentiated the backend's way.

Keras 3 lets a model override `train_step` per backend: a GradientTape on
TensorFlow, autograd on PyTorch, a stateless `jax.value_and_grad` on JAX, whose
step takes and returns the variables' state. `UVAC.train_step` calls the one
in `TRAIN_STEPS` for the running backend.
"""

import contextlib

import keras
from keras import ops


def inputs_of(data):
    """The feature dict of a batch, whether or not it carries labels."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


class Replicas:
    """The replicas of a training step: one, or several under a `tf.distribute` strategy.

    `gather` concatenates a per-clip tensor of every replica in replica order
    (differentiably: each replica's gradient reaches its own clips), `local`
    takes this replica's rows of a global-batch tensor. With one replica both
    are the identity.
    """

    def __init__(self, batch):
        self.context = None
        self.count = 1
        self.global_batch = ops.shape(batch)[0]
        if keras.backend.backend() != "tensorflow":
            return
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return
        self.context, self.count = context, context.num_replicas_in_sync
        self.local_batch = tf.shape(batch)[0]
        sizes = context.all_gather(tf.reshape(self.local_batch, (1,)), axis=0)
        self.global_batch = tf.reduce_sum(sizes)
        self.offset = tf.reduce_sum(sizes[:context.replica_id_in_sync_group])

    def gather(self, tensor):
        if self.context is None:
            return tensor
        import tensorflow as tf

        devices = self.context.strategy.extended.worker_devices
        if len(devices) == 1:
            # An input batch of a one-device multi-worker replica has no device; the collective needs one.
            with tf.device(devices[0]):
                tensor = tf.identity(tensor)
        gathered = self.context.all_gather(tensor, axis=0)
        gathered.set_shape([None, *tensor.shape[1:]])
        return gathered

    def local(self, tensor):
        return tensor if self.context is None else tensor[self.offset:self.offset + self.local_batch]


def tensorflow_train_step(self, data):
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    local_devices = context.strategy.extended.worker_devices if context.num_replicas_in_sync > 1 else ()
    # A worker of MultiWorkerMirroredStrategy with one device leaves the step's ops unplaced, and the collective
    # ops of the gathers and the synchronised batch norm then find no device to reduce to: place them.
    placement = tf.device(local_devices[0]) if len(local_devices) == 1 else contextlib.nullcontext()
    with placement:
        with tf.GradientTape() as tape:
            terms = self.loss_terms(inputs_of(data), training=True)
            # Every replica computes the global loss; the optimizer sums their gradients, hence the division.
            # scale_loss is the identity unless the optimizer scales the loss (float16 mixed precision).
            scaled_loss = self.optimizer.scale_loss(terms["loss"] / context.num_replicas_in_sync)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        logs = self._record(terms)
    if isinstance(context.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras averages multi-worker logs with reduce(axis=0), which fails on scalars; the values are global
        # (the same on every replica), so their mean over one axis is the value.
        logs = {name: tf.reshape(value, (1,)) for name, value in logs.items()}
    return logs


def torch_train_step(self, data):
    import torch

    self.zero_grad()
    terms = self.loss_terms(inputs_of(data), training=True)
    self.optimizer.scale_loss(terms["loss"]).backward()
    gradients = [variable.value.grad for variable in self.trainable_variables]
    with torch.no_grad():
        self.optimizer.apply(gradients, self.trainable_variables)
    return self._record(terms)


def _jax_stateless_terms(self, trainable_variables, non_trainable_variables, inputs, training):
    """`loss_terms` as a pure function of the variables, for `jax.value_and_grad`."""
    from keras import StatelessScope

    mapping = list(zip(self.trainable_variables, trainable_variables))
    mapping += list(zip(self.non_trainable_variables, non_trainable_variables))
    with StatelessScope(state_mapping=mapping) as scope:
        terms = self.loss_terms(inputs, training=training)
    updated = [scope.get_current_value(variable) for variable in self.non_trainable_variables]
    updated = [new if new is not None else old for new, old in zip(updated, non_trainable_variables)]
    return terms["loss"], (terms, updated)


def _jax_record(self, terms, metrics_variables):
    logs, new_variables, position = {}, [], 0
    for tracker in self.metrics:
        count = len(tracker.variables)
        variables = tracker.stateless_update_state(metrics_variables[position:position + count], terms[tracker.name])
        logs[tracker.name] = tracker.stateless_result(variables)
        new_variables += list(variables)
        position += count
    return logs, new_variables


def jax_train_step(self, state, data):
    import jax

    trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
    gradient_fn = jax.value_and_grad(
        lambda trainable, non_trainable: _jax_stateless_terms(self, trainable, non_trainable,
                                                              inputs_of(data), True), has_aux=True)
    (_, (terms, non_trainable_variables)), gradients = gradient_fn(trainable_variables, non_trainable_variables)
    trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
        optimizer_variables, gradients, trainable_variables)
    logs, metrics_variables = _jax_record(self, terms, metrics_variables)
    return logs, (trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)


def jax_test_step(self, state, data):
    trainable_variables, non_trainable_variables, metrics_variables = state
    _, (terms, non_trainable_variables) = _jax_stateless_terms(self, trainable_variables, non_trainable_variables,
                                                               inputs_of(data), False)
    logs, metrics_variables = _jax_record(self, terms, metrics_variables)
    return logs, (trainable_variables, non_trainable_variables, metrics_variables)


TRAIN_STEPS = {"tensorflow": tensorflow_train_step, "torch": torch_train_step, "jax": jax_train_step}
