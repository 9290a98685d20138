// Clusters one window of raw samples with keras_uvac in TensorFlow Lite for Microcontrollers: the float front
// end computes the features, which are quantised into the int8 encoder's input.
//
// `uvac export --format tflm-audio --out uvac_model.tflite` writes the headers this file includes: the encoder
// (uvac_model.cc/.h), the front end (uvac_model_frontend.cc/.h, with the window's length and its arena) and one
// window of a test clip's samples with the cluster TFLite Micro gave it at export (uvac_model_audio_example.h).
// The front end takes the window and how many of its samples are recorded audio (the rest zero padding). On a
// device, fill it with the microphone's last UVAC_FRONTEND_SAMPLES samples as floats in [-1, 1] at
// UVAC_FRONTEND_SAMPLE_RATE Hz, and a length of UVAC_FRONTEND_SAMPLES.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/micro/system_setup.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "uvac_model.h"
#include "uvac_model_audio_example.h"
#include "uvac_model_frontend.h"

namespace {

// The arenas the export measured in TFLite Micro, plus room for a board's alignment.
constexpr size_t kFrontendArenaBytes = UVAC_FRONTEND_ARENA_BYTES + 1024;
constexpr size_t kEncoderArenaBytes = UVAC_ARENA_BYTES + 1024;
alignas(16) uint8_t frontend_arena[kFrontendArenaBytes];
alignas(16) uint8_t encoder_arena[kEncoderArenaBytes];

// The front end's operators (keras_uvac/export/micro_audio.py) and the int8 encoder's (export/micro.py).
using UvacOpResolver = tflite::MicroMutableOpResolver<30>;

bool RegisterOperators(UvacOpResolver& resolver) {
  return resolver.AddAdd() == kTfLiteOk && resolver.AddCast() == kTfLiteOk &&
         resolver.AddConcatenation() == kTfLiteOk && resolver.AddEqual() == kTfLiteOk &&
         resolver.AddLessEqual() == kTfLiteOk && resolver.AddSelectV2() == kTfLiteOk &&
         resolver.AddConv2D() == kTfLiteOk && resolver.AddDiv() == kTfLiteOk &&
         resolver.AddFullyConnected() == kTfLiteOk && resolver.AddLogistic() == kTfLiteOk &&
         resolver.AddMaximum() == kTfLiteOk && resolver.AddMean() == kTfLiteOk &&
         resolver.AddMinimum() == kTfLiteOk && resolver.AddMul() == kTfLiteOk && resolver.AddPack() == kTfLiteOk &&
         resolver.AddPad() == kTfLiteOk && resolver.AddQuantize() == kTfLiteOk &&
         resolver.AddReduceMax() == kTfLiteOk && resolver.AddReduceMin() == kTfLiteOk &&
         resolver.AddRelu() == kTfLiteOk && resolver.AddReshape() == kTfLiteOk &&
         resolver.AddSoftmax() == kTfLiteOk && resolver.AddSplit() == kTfLiteOk &&
         resolver.AddSqrt() == kTfLiteOk && resolver.AddStridedSlice() == kTfLiteOk &&
         resolver.AddSub() == kTfLiteOk && resolver.AddTanh() == kTfLiteOk &&
         resolver.AddTranspose() == kTfLiteOk && resolver.AddUnpack() == kTfLiteOk;
}

}  // namespace

int main() {
  tflite::InitializeTarget();
  UvacOpResolver resolver;
  if (!RegisterOperators(resolver)) {
    printf("could not register the operators\n");
    return 1;
  }
  tflite::MicroInterpreter frontend(tflite::GetModel(uvac_frontend), resolver, frontend_arena, kFrontendArenaBytes);
  tflite::MicroInterpreter encoder(tflite::GetModel(uvac_model), resolver, encoder_arena, kEncoderArenaBytes);
  if (frontend.AllocateTensors() != kTfLiteOk || encoder.AllocateTensors() != kTfLiteOk) {
    printf("an arena is too small\n");
    return 1;
  }
  // The samples are the float input, the recorded length the integer one.
  const int samples = frontend.input(0)->type == kTfLiteFloat32 ? 0 : 1;
  memcpy(frontend.input(samples)->data.f, uvac_audio_example_samples, sizeof(uvac_audio_example_samples));
  frontend.input(1 - samples)->data.i32[0] = UVAC_AUDIO_EXAMPLE_LENGTH;
  if (frontend.Invoke() != kTfLiteOk) {
    printf("the front end failed\n");
    return 1;
  }
  // The features (UVAC_INPUT_BINS x UVAC_INPUT_FRAMES, in [0, 1]) quantised as the encoder's input expects.
  const float* features = frontend.output(0)->data.f;
  int8_t* encoder_input = encoder.input(0)->data.int8;
  for (int index = 0; index < UVAC_INPUT_BINS * UVAC_INPUT_FRAMES; ++index) {
    const long level = lroundf(features[index] / UVAC_INPUT_SCALE) + UVAC_INPUT_ZERO_POINT;
    encoder_input[index] = static_cast<int8_t>(level < -128 ? -128 : (level > 127 ? 127 : level));
  }
  if (encoder.Invoke() != kTfLiteOk) {
    printf("the encoder failed\n");
    return 1;
  }
  const int8_t* scores = encoder.output(0)->data.int8;
  int cluster = 0;
  for (int k = 1; k < UVAC_NUM_CLUSTERS; ++k) {
    if (scores[k] > scores[cluster]) cluster = k;
  }
  const float probability = (scores[cluster] - UVAC_OUTPUT_ZERO_POINT) * UVAC_OUTPUT_SCALE;
  printf("cluster %d (probability %.2f); at export: %d; arenas used: %u + %u bytes\n", cluster, probability,
         UVAC_AUDIO_EXAMPLE_CLUSTER, static_cast<unsigned>(frontend.arena_used_bytes()),
         static_cast<unsigned>(encoder.arena_used_bytes()));
  return cluster == UVAC_AUDIO_EXAMPLE_CLUSTER ? 0 : 2;
}
