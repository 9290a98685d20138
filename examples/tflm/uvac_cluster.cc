// Clusters one clip with a keras_uvac int8 model in TensorFlow Lite for Microcontrollers.
//
// `uvac export --format tflite-int8 --out uvac_model.tflite` writes the three headers this file includes:
// the model bytes (uvac_model.cc/.h, with the input shape, quantisation and arena size as macros) and one
// quantised test clip with the cluster TFLite Micro gave it at export (uvac_model_example.h). On a device,
// replace the example clip by the features of the microphone's last second (keras_uvac.features).
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "uvac_model.h"
#include "uvac_model_example.h"

namespace {

// The arena the export measured in TFLite Micro, plus room for a board's alignment.
constexpr size_t kArenaBytes = UVAC_ARENA_BYTES + 1024;
alignas(16) uint8_t tensor_arena[kArenaBytes];

// Every operator a keras_uvac int8 export may use (see keras_uvac/export/micro.py); a model uses a subset.
using UvacOpResolver = tflite::MicroMutableOpResolver<21>;

bool RegisterOperators(UvacOpResolver& resolver) {
  return resolver.AddAdd() == kTfLiteOk && resolver.AddConv2D() == kTfLiteOk &&
         resolver.AddFullyConnected() == kTfLiteOk && resolver.AddLogistic() == kTfLiteOk &&
         resolver.AddMaximum() == kTfLiteOk && resolver.AddMean() == kTfLiteOk &&
         resolver.AddMinimum() == kTfLiteOk && resolver.AddMul() == kTfLiteOk && resolver.AddPack() == kTfLiteOk &&
         resolver.AddPad() == kTfLiteOk && resolver.AddQuantize() == kTfLiteOk && resolver.AddRelu() == kTfLiteOk &&
         resolver.AddReshape() == kTfLiteOk && resolver.AddSoftmax() == kTfLiteOk &&
         resolver.AddSplit() == kTfLiteOk && resolver.AddStridedSlice() == kTfLiteOk &&
         resolver.AddSub() == kTfLiteOk && resolver.AddTanh() == kTfLiteOk &&
         resolver.AddTranspose() == kTfLiteOk && resolver.AddUnpack() == kTfLiteOk;
}

}  // namespace

int main() {
  tflite::InitializeTarget();
  const tflite::Model* model = tflite::GetModel(uvac_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    printf("model schema %lu, interpreter schema %d\n", static_cast<unsigned long>(model->version()),
           TFLITE_SCHEMA_VERSION);
    return 1;
  }
  UvacOpResolver resolver;
  if (!RegisterOperators(resolver)) {
    printf("could not register the operators\n");
    return 1;
  }
  tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kArenaBytes);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("the arena of %u bytes is too small\n", static_cast<unsigned>(kArenaBytes));
    return 1;
  }
  TfLiteTensor* input = interpreter.input(0);
  if (input->bytes != sizeof(uvac_model_example_input)) {
    printf("input of %u bytes, example of %u\n", static_cast<unsigned>(input->bytes),
           static_cast<unsigned>(sizeof(uvac_model_example_input)));
    return 1;
  }
  // One block of UVAC_INPUT_BINS x UVAC_INPUT_FRAMES features, quantised with UVAC_INPUT_SCALE/ZERO_POINT.
  memcpy(input->data.int8, uvac_model_example_input, sizeof(uvac_model_example_input));
  if (interpreter.Invoke() != kTfLiteOk) {
    printf("invoke failed\n");
    return 1;
  }
  const int8_t* scores = interpreter.output(0)->data.int8;
  int cluster = 0;
  for (int k = 1; k < UVAC_NUM_CLUSTERS; ++k) {
    if (scores[k] > scores[cluster]) cluster = k;
  }
  const float probability = (scores[cluster] - UVAC_OUTPUT_ZERO_POINT) * UVAC_OUTPUT_SCALE;
  printf("cluster %d (probability %.2f); at export: %d; arena used: %u bytes\n", cluster, probability,
         UVAC_MODEL_EXAMPLE_CLUSTER, static_cast<unsigned>(interpreter.arena_used_bytes()));
  return cluster == UVAC_MODEL_EXAMPLE_CLUSTER ? 0 : 2;
}
