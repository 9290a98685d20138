#ifndef UVAC_MODEL_H_
#define UVAC_MODEL_H_

// keras_uvac export: UVAC encoder + GMM posterior, int8.
extern const unsigned char uvac_model[];
extern const unsigned int uvac_model_len;

#endif  // UVAC_MODEL_H_
