"""Bytes on the wire per round for the demo head, and time at 115200 baud (8N1: 10 bits a byte).

The update is a real protected update from the Python model of the device (same integers as
the C): clip, grid, discrete Gaussian noise at the demo's default noise multiplier.
"""
from __future__ import annotations

import numpy as np

from tinyfl.device_model import ChaCha20Drbg, protect_update
from tinyfl.firmware_config import FirmwareConfig
from tinyfl.privacy import noise_variance
from tinyfl.wire import GlobalModel, Update, encode_message

BAUD = 115200
BITS_PER_BYTE = 10
CSV_CHARS_PER_FLOAT = 11.5  # an ASCII CSV update, PERF_NOTES


def measure(config: FirmwareConfig = FirmwareConfig(), chunk: int = 240) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n = config.n_params
    dp = config.dp
    update = rng.normal(0, 0.05, n).astype(np.float32)
    _, values = protect_update(update, dp.clip, dp.grid_bits,
                               noise_variance(dp.noise_multiplier, dp.grid_bits),
                               ChaCha20Drbg(bytes(44)))
    grid_step = dp.clip / 2 ** dp.grid_bits
    up = encode_message(Update(run=1, round=1, nonce=1, sample_count=10, grid_step=grid_step,
                               eps_spent=10.7, releases_done=1, n_classes=config.n_classes,
                               n_features=config.n_features, values=values), 0, chunk)
    down = encode_message(GlobalModel(run=1, round=1, nonce=1, lr=0.05, local_epochs=5, batch_size=5,
                                      n_classes=config.n_classes, n_features=config.n_features,
                                      params=rng.normal(0, 0.1, n).astype(np.float32)), 0, chunk)
    return {"params": n, "update_bytes": len(up), "global_bytes": len(down),
            "update_s": len(up) * BITS_PER_BYTE / BAUD, "global_s": len(down) * BITS_PER_BYTE / BAUD,
            "csv_s": n * CSV_CHARS_PER_FLOAT * BITS_PER_BYTE / BAUD,
            "bytes_per_value": len(up) / n}


def main() -> None:
    for chunk in (240, 20):
        m = measure(chunk=chunk)
        print(f"wire, demo head ({m['params']} params), frames of <= {chunk} payload bytes:")
        print(f"  update (device -> host)  {m['update_bytes']:6d} B  {m['update_s'] * 1e3:7.1f} ms at 115200 baud"
              f"  ({m['bytes_per_value']:.2f} B per noised value)")
        print(f"  global head (host -> device) {m['global_bytes']:6d} B  {m['global_s'] * 1e3:7.1f} ms")
        print(f"  (an ASCII CSV update would take {m['csv_s'] * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
