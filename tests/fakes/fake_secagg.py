"""A fake device that claims secure aggregation: its hello carries the SECAGG flag and is
followed by a secagg_policy of the test's choosing (hostile or just incompatible). It never
gets further than the policy: a host must leave it out of the round before any key step."""
from __future__ import annotations

from dataclasses import dataclass, replace

from tinyfl.wire import Hello, SecaggPolicy

from .fake_device import FakeDevice

SECAGG_FLAG = 0x08


@dataclass
class FakeSecaggDevice(FakeDevice):
    policy_n_min: int = 3
    policy_n_max: int = 16
    policy_k_max: int = 8
    device_id: int | None = None  # None: 1000 + index, as FakeDevice
    central_eps_spent: float = 0.0  # what its policy claims its ledger's central sum gives
    noise: tuple[int, int] = (1, 1)  # its policy's per-device variance (num, den), grid steps^2

    def hello(self) -> Hello:
        hello = super().hello()
        device_id = int(hello.device_id) if self.device_id is None else self.device_id
        return replace(hello, flags=int(hello.flags) | SECAGG_FLAG, device_id=device_id)

    def _encode(self, message: object) -> bytes:
        data = super()._encode(message)
        if isinstance(message, Hello):  # an image with secure aggregation sends its policy next
            data += super()._encode(SecaggPolicy(
                device_id=int(message.device_id), n_min=self.policy_n_min, n_max=self.policy_n_max,
                k_max=self.policy_k_max, noise_num=self.noise[0], noise_den=self.noise[1], local_multiplier=0.5,
                central_eps_spent=self.central_eps_spent, local_eps_spent=self.eps_spent))
        return data
