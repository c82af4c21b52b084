/* Compile-time configuration of a firmware image. The values come from tinyfl_config_gen.h,
 * which tinyfl.firmware_config generates into the build folder (never into firmware/): head
 * shape, input shape, and the privacy parameters with the per-release RDP curve computed by
 * dp-accounting at build time (tinyfl_rdp.h). Nothing received from a link can change any of them. */
#ifndef TINYFL_CONFIG_H
#define TINYFL_CONFIG_H

#include "tinyfl_config_gen.h"
#include "generated/tinyfl_wire_gen.h"

#define TINYFL_CONFIG_EXPECTED_VERSION 2
#if !defined(TINYFL_CONFIG_GEN_VERSION) || TINYFL_CONFIG_GEN_VERSION != TINYFL_CONFIG_EXPECTED_VERSION
#error "tinyfl_config_gen.h is from another tinyfl version: regenerate it with tinyfl.firmware_config"
#endif

/* Test-only switches. A release build (no TINYFL_TEST_BUILD) refuses to compile with any of
 * them, so a fixed seed or disabled noise can never ship. */
#if defined(TINYFL_TEST_SEED) && !defined(TINYFL_TEST_BUILD)
#error "TINYFL_TEST_SEED (a fixed noise seed) is only allowed in test builds"
#endif
#if defined(TINYFL_TEST_NO_NOISE) && !defined(TINYFL_TEST_BUILD)
#error "TINYFL_TEST_NO_NOISE is only allowed in test builds"
#endif
/* A no-noise image says z = 0 in hello and charges its ledger unbounded loss at every order
 * (so every later image reports it); having no noise to bound, it does not enforce the budget. */

/* Deliberately broken variants, for audits that must catch them (test builds only):
 * TINYFL_TEST_REUSE_SEED       reseeds the generator from TINYFL_TEST_SEED before every release
 * TINYFL_TEST_NOISE_BEFORE_CLIP adds the noise to the float update, then clips (shrinks it)
 * TINYFL_TEST_CLIP_SCALE_LOG2  clips to C * 2^n while telling the host C (noise stays z * C)
 * TINYFL_TEST_UNNOISED_COORD=i sends coordinate i of the update without its noise
 * TINYFL_TEST_CONSTANT_KEY     ignores the entropy: the key is a constant of the device id, so
 *                              every boot draws the same noise (unlike TINYFL_TEST_SEED, nothing
 *                              else is test-like: it behaves as a release build would) */
#if (defined(TINYFL_TEST_REUSE_SEED) || defined(TINYFL_TEST_NOISE_BEFORE_CLIP) || \
     defined(TINYFL_TEST_CLIP_SCALE_LOG2) || defined(TINYFL_TEST_UNNOISED_COORD) || \
     defined(TINYFL_TEST_CONSTANT_KEY)) && !defined(TINYFL_TEST_BUILD)
#error "broken-mechanism variants are only allowed in test builds"
#endif
#if defined(TINYFL_TEST_REUSE_SEED) && !defined(TINYFL_TEST_SEED)
#error "TINYFL_TEST_REUSE_SEED needs TINYFL_TEST_SEED"
#endif
#if defined(TINYFL_TEST_CONSTANT_KEY) && defined(TINYFL_TEST_SEED)
#error "TINYFL_TEST_CONSTANT_KEY is keyed like a release build: no TINYFL_TEST_SEED"
#endif

/* Limits of the crafted-head guard (tinyfl_guard.h); a build may tighten them. */
#ifndef TINYFL_GUARD_MAX_ABS_BIAS
#define TINYFL_GUARD_MAX_ABS_BIAS 20.0f
#endif
#ifndef TINYFL_GUARD_MAX_ABS_WEIGHT
#define TINYFL_GUARD_MAX_ABS_WEIGHT 100.0f
#endif
#ifndef TINYFL_GUARD_MIN_ROW_NORM
#define TINYFL_GUARD_MIN_ROW_NORM 1e-6f
#endif

#define TINYFL_PARAMS (TINYFL_HEAD_CLASSES * (TINYFL_HEAD_FEATURES + 1))
#if TINYFL_PARAMS > TINYFL_WIRE_MAX_PARAMS
#error "head too large for the wire format (TINYFL_WIRE_MAX_PARAMS)"
#endif
#if defined(TINYFL_TEST_UNNOISED_COORD) && ((TINYFL_TEST_UNNOISED_COORD) < 0 || \
                                           (TINYFL_TEST_UNNOISED_COORD) >= TINYFL_PARAMS)
#error "TINYFL_TEST_UNNOISED_COORD must be a coordinate of the update (0..TINYFL_PARAMS-1)"
#endif
#if TINYFL_SAMPLES_PER_ROUND < 1 || TINYFL_SAMPLES_PER_ROUND > 255
#error "TINYFL_SAMPLES_PER_ROUND must be 1..255"
#endif
#if TINYFL_MAX_CHUNK < TINYFL_WIRE_MIN_CHUNK || TINYFL_MAX_CHUNK > TINYFL_WIRE_MAX_CHUNK
#error "TINYFL_MAX_CHUNK outside the wire's chunk range"
#endif
#if TINYFL_DP_GRID_BITS < 1 || TINYFL_DP_GRID_BITS > 20
#error "TINYFL_DP_GRID_BITS must be 1..20"
#endif

#endif /* TINYFL_CONFIG_H */
