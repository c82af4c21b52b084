"""TFLM's quantization parameter arithmetic, done at generation time in double precision.

Each function mirrors the corresponding tflite-micro Prepare() computation operation for
operation (Python floats are IEEE doubles and numpy float32 is IEEE single, so the results are
the same bits the interpreter computes on the host).
"""
from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def round_half_away(x: float) -> int:
    """C's round(): halves away from zero (Python's round() is banker's rounding)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real ~= m * 2^(shift - 31), m in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def _f32(x: float) -> np.float32:
    return np.float32(x)


def conv_per_channel_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: double(in) * double(filter) / double(out)."""
    if len(filter_scales) not in (1, channels):
        raise ValueError(f"{len(filter_scales)} filter scales for {channels} channels")
    mults, shifts = [], []
    for c in range(channels):
        fs = filter_scales[c] if len(filter_scales) > 1 else filter_scales[0]
        m, s = quantize_multiplier(float(input_scale) * float(fs) / float(output_scale))
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def fc_per_tensor_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler as the installed interpreter computes it: the scales are
    widened to double before they are multiplied (older TFLM multiplied them in float32, which
    moves the multiplier by up to ~2^-24 relative: one output step on rare accumulators)."""
    return quantize_multiplier(float(input_scale) * float(filter_scale) / float(output_scale))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 (f / scale in float32, then round)."""

    def quantize(f: float) -> int:
        return zero_point + round_half_away(float(_f32(f) / _f32(scale)))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """TFLM ComputePadding: the leading (smaller) half of SAME padding, 0 for VALID."""
    effective = (filter_size - 1) * dilation + 1
    padding = ((out_size - 1) * stride + effective - in_size) // 2
    return max(padding, 0)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """PrepareMeanOrSum + QuantizedMeanOrSum: fold 1/count into the requantization."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    log2 = count.bit_length() - 1  # 63 - CountLeadingZeros(count)
    extra = min(log2, 32, 31 + shift)
    multiplier = int((multiplier << extra) // count) if extra >= 0 else int((multiplier >> -extra) // count)
    return _to_int32(multiplier), shift - extra


def add_params(
    in1_scale: float, in2_scale: float, out_scale: float
) -> dict[str, int]:
    """PrepareAdd (int8): both inputs on a 2^-20 grid relative to twice the larger scale."""
    left_shift = 20
    twice_max = 2.0 * float(max(_f32(in1_scale), _f32(in2_scale)))
    real1 = float(in1_scale) / twice_max
    real2 = float(in2_scale) / twice_max
    real_out = twice_max / ((1 << left_shift) * float(out_scale))
    m1, s1 = _smaller_than_one(real1)
    m2, s2 = _smaller_than_one(real2)
    mo, so = _smaller_than_one(real_out)
    return {
        "left_shift": left_shift,
        "input1_multiplier": m1,
        "input1_shift": s1,
        "input2_multiplier": m2,
        "input2_shift": s2,
        "output_multiplier": mo,
        "output_shift": so,
    }


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """CalculateInputRadius: the largest |input| whose rescaled value stays representable."""
    value = 1.0 * ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits)) / (1 << left_shift)
    return int(math.floor(value))


def softmax_params(input_scale: float, beta: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling (int8, 5 integer bits for the scaled difference) and diff_min:
    (input_multiplier, input_left_shift, diff_min)."""
    real = min(float(beta) * float(input_scale) * (1 << (31 - 5)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ValueError(f"beta * input scale * 2^26 = {real} is not > 1 (TFLM requires it)")
    multiplier, shift = quantize_multiplier(real)
    return multiplier, shift, -input_radius(5, shift)


def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """LOGISTIC Prepare (int8): input to Q4.27 by frexp(scale * 2^27), no renormalisation (as
    TFLM); (input_multiplier, input_left_shift, input_range_radius)."""
    q, shift = math.frexp(float(input_scale) * float(1 << (31 - 4)))
    multiplier = round_half_away(q * (1 << 31))
    if multiplier >= (1 << 31) or shift < 0:
        raise ValueError(f"input scale {input_scale} out of the range TFLM's LOGISTIC handles")
    return multiplier, shift, input_radius(4, shift)


def mul_multiplier(in1_scale: float, in2_scale: float, out_scale: float) -> tuple[int, int]:
    """CalculateOpDataMul: double(s1) * double(s2) / double(s_out)."""
    return quantize_multiplier(float(in1_scale) * float(in2_scale) / float(out_scale))


def _downscale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_params(input_scale: float, output_scale: float) -> dict[str, int]:
    """HardSwishPrepare (int8): the scale ratios are float32 quotients, widened to double."""
    hires_input_scale = _f32(1.0 / 128.0) * _f32(input_scale)
    reluish_scale = _f32(3.0) / _f32(32768.0)
    out_m, out_exp = quantize_multiplier(float(hires_input_scale / _f32(output_scale)))
    rel_m, rel_exp = quantize_multiplier(float(hires_input_scale / reluish_scale))
    if out_exp > 0:
        raise ValueError("output scale below input scale / 128 (TFLM requires exponent <= 0)")
    if out_exp < -31 or not -31 <= rel_exp <= 16:
        raise ValueError("scales outside the range of TFLM's 16-bit HARD_SWISH")
    return {
        "reluish_multiplier_fixedpoint_int16": _downscale_to_int16(rel_m),
        "reluish_multiplier_exponent": rel_exp,
        "output_multiplier_fixedpoint_int16": _downscale_to_int16(out_m),
        "output_multiplier_exponent": out_exp,
    }


def requant_short_ok(multipliers: list[int], shifts: list[int]) -> int:
    """1 when every channel allows the kernels' one-multiply form of the requantization
    (tinyfl_requant_short_ok in firmware/kernels/tinyfl_requant.h: m > 2^30, -31 <= shift <= -2)."""
    return int(all(m > (1 << 30) and -31 <= s <= -2 for m, s in zip(multipliers, shifts)))


def _smaller_than_one(real: float) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} outside (0, 1)")
    m, s = quantize_multiplier(real)
    if s > 0:
        raise ValueError(f"multiplier {real} gives a left shift")
    return m, s


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def widen_weights(rows: np.ndarray) -> np.ndarray:
    """Weights as the fast kernels' pre-widened int16 layout (tinyfl_fast_widen_weights in
    firmware/kernels/tinyfl_fast_common.h): every run of four w0 w1 w2 w3 along a row becomes
    w0 w2 w1 w3, the lanes SMLAD pairs with SXTAB16's even and odd input bytes. Rows (the last
    axis) must be a multiple of 4 long."""
    rows = np.asarray(rows)
    if rows.shape[-1] % 4 != 0:
        raise ValueError(f"rows of {rows.shape[-1]} weights are not a multiple of 4")
    flat = rows.astype(np.int16).reshape(-1, 4)
    return flat[:, [0, 2, 1, 3]].reshape(-1)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplier on int32 values, with Python integers (the same
    arithmetic as tinyfl_multiply_by_quantized_multiplier in firmware/kernels/tinyfl_requant.h)."""
    left, right = max(shift, 0), max(-shift, 0)
    x = _to_int32(x << left)
    if x == multiplier == -(1 << 31):
        high = (1 << 31) - 1
    else:
        ab = x * multiplier
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        q = abs(ab + nudge) >> 31  # the C division truncates toward zero
        high = q if ab + nudge >= 0 else -q
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def add_table(input1_offset: int, input2_offset: int, params: dict[str, int]) -> list[int]:
    """The fast ADD's lookup table (tinyfl_add_s8_fast): entry v + 128 is input 1's value v on
    the common 2^-20 grid, entry 256 + v + 128 input 2's, exactly as the reference kernel
    rescales each (tinyfl_add_s8_table in C builds the same)."""
    table = []
    for offset, m, s in ((input1_offset, params["input1_multiplier"], params["input1_shift"]),
                         (input2_offset, params["input2_multiplier"], params["input2_shift"])):
        for v in range(-128, 128):
            table.append(multiply_by_quantized_multiplier((offset + v) * (1 << params["left_shift"]), m, s))
    return table
