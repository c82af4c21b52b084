"""Secure aggregation through gateways: a fleet TOML with [secagg] served over the relay, two
gateways of four native TINYFL_SECAGG boards each (n_min 6 of 8: two dropouts allowed), two
secure rounds, a board killed in the second right after it sent its keys. Checked: round 1's
head equals, bit for bit, what `tinyfl serve` computes on the same boards (same test seed);
round 2's is the FedAvg of the survivors' noised inputs (the boards' own log, never seen by
the host); each device's central and local eps are its ledger's, as the host's bit-exact model
recomputes them; the bytes the gateways relayed reveal no individual update.

Once in-process (LocalGateways: the relay without Flower, seconds) and once over a loopback
Flower deployment: one SuperLink, two SuperNodes, `tinyfl flower serve`."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from secagg_fleet_support import CONFIG, expected_eps, firmware, logged_input, shards
from test_flower_deploy import _require_flower
from test_secagg_fleet import _uniform_p
from tinyfl.emulate import launch_fleet
from tinyfl.fleet.record import RunReader
from tinyfl.fleet.secagg_round import SecureRoundResult, fedavg_secure
from tinyfl.flower import GatewayBoards, LocalGateways, RelayHub, Request, BoardReply, run_relayed
from tinyfl.flower.gateway import ByteRecord
from tinyfl.flower.server import config_from_run_config, every_gateway, secagg_run_config
from tinyfl.fleet.config import load_fleet_config
from tinyfl.links import open_link
from tinyfl.secagg.image import SecaggImage
from tinyfl.wire import FrameDecoder, SecaggKeys, SecaggMaskedUpdate, Update

TINYFL = [sys.executable, "-m", "tinyfl.cli"]
N_BOARDS = 8
# complete graph of 8: 7 neighbours, t = 4, so at most 3 dropouts; the boards demand 6
POLICY = SecaggImage(n_min=6, n_max=64, k_max=16, local_multiplier=0.5)
GATEWAYS = {"gw1": [0, 1, 2, 3], "gw2": [4, 5, 6, 7]}
KILLED = 5  # index of the board killed in round 2, after its keys went through gw2
ROUNDS = 2


def fleet_toml(path: Path, step_timeout_s: float) -> Path:
    dp = CONFIG.dp
    path.write_text(
        "[fleet]\nrounds = 2\nlr = 0.1\nlocal_epochs = 2\nbatch_size = 3\ndeadline_s = 60.0\n\n"
        f"[dp]\nclip = {dp.clip}\nnoise_multiplier = {dp.noise_multiplier}\n"
        f"grid_bits = {dp.grid_bits}\ndelta = {dp.delta}\neps_limit = {dp.eps_limit}\n\n"
        f"[secagg]\nk = 0\nn_min = 0\nstep_timeout_s = {step_timeout_s}\n")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The image, the shards, and round 1 as `tinyfl serve` computes it on fresh boards."""
    folder = tmp_path_factory.mktemp("flower-secagg")
    image = firmware("native", POLICY)
    data = shards(folder, N_BOARDS)
    run_dir = folder / "serve"
    with launch_fleet("native", N_BOARDS, image, data, folder / "serve-boards") as fleet:
        cmd = TINYFL + ["serve", "--fleet", str(fleet_toml(folder / "serve.toml", 10.0)),
                        "--allow-test-builds", "--run-dir", str(run_dir), "--format", "json",
                        "--run-config", "fleet.rounds=1"]
        for url in fleet.urls:
            cmd += ["--link", url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["rounds_completed"] == 1 and len(summary["rounds"][0]["accepted"]) == N_BOARDS
    return image, data, RunReader(run_dir).result_head(1).params


class GatewayTap:
    """What each gateway relays goes to its ByteRecord; the board KILLED is stopped as soon as
    its round-2 keys pass through its gateway (mid-round: it has drawn its keys, the server
    will ask it for shares)."""

    def __init__(self, fleet, folder: Path) -> None:
        self.fleet = fleet
        self.records = {g: ByteRecord(folder / f"{g}.jsonl") for g in GATEWAYS}
        self.decoder = FrameDecoder()
        self.killed_at = 0.0

    def on_bytes(self, gateway: str):
        def hook(board: str, direction: str, data: bytes) -> None:
            self.records[gateway](board, direction, data)
            if board != f"dev{KILLED + 1}" or direction != "rx" or self.killed_at:
                return
            for item in self.decoder.feed(data):
                if isinstance(item.message, SecaggKeys) and item.message.round == 2:
                    self.fleet[KILLED].stop()
                    self.killed_at = time.monotonic()
        return hook

    def gateways(self) -> dict[str, GatewayBoards]:
        return {g: GatewayBoards(g, {f"dev{i + 1}": open_link(self.fleet[i].url) for i in idx},
                                 on_bytes=self.on_bytes(g))
                for g, idx in GATEWAYS.items()}

    def close(self) -> None:
        for record in self.records.values():
            record.close()


def check_run(run_dir: Path, fleet, serve_round1: np.ndarray, gateway_records: list[Path]) -> None:
    reader = RunReader(run_dir)
    names = [f"{g}/dev{i + 1}" for g, idx in sorted(GATEWAYS.items()) for i in idx]
    assert reader.config["device_order"] == names
    np.testing.assert_array_equal(reader.result_head(1).params, serve_round1)  # bit-exact

    results = {e["round"]: e for e in reader.events() if e.get("kind") == "secagg_round_result"}
    assert sorted(results) == [1, 2]
    ids = [board.device_id for board in fleet]
    killed_id = ids[KILLED]
    assert results[1]["ok"] and results[1]["survivors"] == sorted(ids)
    assert results[2]["ok"] and results[2]["survivors"] == sorted(set(ids) - {killed_id})
    assert results[2]["outcomes"][str(killed_id)]["outcome"] in ("link_down", "dropped")
    assert results[2]["outcomes"][str(killed_id)]["step"] == "shares"

    # round 2: FedAvg of the survivors' noised inputs, which the host never saw one by one
    inputs = {(d, r): logged_input(fleet[ids.index(d)], r, CONFIG.n_params)
              for r in (1, 2) for d in results[r]["survivors"]}
    truth = sum(inputs[(d, 2)] for d in results[2]["survivors"])
    expected = fedavg_secure(reader.result_head(1).params, SecureRoundResult(
        2, total=truth, grid_step=results[2]["grid_step"], survivors=results[2]["survivors"]), 1.0)
    np.testing.assert_array_equal(reader.result_head(2).params, expected)

    # every device's two guarantees, as its ledger reports them and as the host recomputes them
    for r in (1, 2):
        for d, eps in results[r]["eps"].items():
            central, local = expected_eps(r, POLICY)
            assert (eps["central"], eps["local"]) == pytest.approx((central, local), rel=1e-6)
            assert central < local
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else None
    if summary is not None:
        assert all(p["agrees"] for p in summary["privacy"]), summary["privacy"]

    # what the gateways relayed: masked words, uniform and uncorrelated with the inputs
    masked: dict[tuple[int, int], np.ndarray] = {}
    for path in gateway_records:
        decoders: dict[str, FrameDecoder] = {}
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["dir"] != "rx":
                continue
            for item in decoders.setdefault(row["board"], FrameDecoder()).feed(bytes.fromhex(row["hex"])):
                assert not isinstance(item.message, Update)  # no plain update ever went by
                if isinstance(item.message, SecaggMaskedUpdate):
                    board = int(row["board"].removeprefix("dev")) - 1
                    masked[(ids[board], item.message.round)] = item.message.values
    assert set(masked) == set(inputs)
    words = np.concatenate([masked[k] for k in sorted(inputs)])
    plain = np.concatenate([inputs[k] for k in sorted(inputs)]).astype(np.float64)
    assert _uniform_p(words) > 1e-4
    assert abs(np.corrcoef(words.astype(np.uint32).astype(np.int32).astype(np.float64), plain)[0, 1]) < 0.2
    assert _uniform_p(plain.astype(np.int64) & 0xFFFFFFFF) < 1e-10  # control: it can fail


def test_every_gateway_asks_all_and_hub_delivers_their_bytes() -> None:
    """A secure step waits on every board at once: one exchange must reach every gateway, and
    the bytes of a gateway that had nothing to send must still reach its links."""
    asked: list[set[str]] = []

    def exchange(requests):
        asked.append(set(requests))
        return {g: BoardReply(received={"b": g.encode()}) for g in requests}

    hub = RelayHub(every_gateway(exchange, ["g1", "g2"], 0.0), window_s=0.0)
    try:
        one, two = hub.link("g1", "b"), hub.link("g2", "b")
        one.write(b"hi")
        assert one.read(16, 5.0) == b"g1"
        assert two.read(16, 5.0) == b"g2"  # delivered by the exchange g1's write started
        assert asked == [{"g1", "g2"}]  # one exchange, not one per gateway
    finally:
        hub.close()


def test_run_config_carries_secagg(tmp_path: Path) -> None:
    config = load_fleet_config(fleet_toml(tmp_path / "f.toml", 33.0))
    text = secagg_run_config(config)
    back = config_from_run_config({"overrides": "fleet.rounds=2", "secagg": text})
    assert back.secagg == config.secagg and back.secagg.step_timeout_s == 33.0
    assert config_from_run_config({"secagg": ""}).secagg is None
    assert " " not in text and '"' not in text  # Flower splits --run-config at spaces
    with pytest.raises(ValueError, match="secagg.k"):
        config_from_run_config({"secagg": "k=3"})  # odd k: the one-line config error
    with pytest.raises(ValueError, match="not key=number"):
        config_from_run_config({"secagg": "k=[1]"})
    with pytest.raises(ValueError, match="unknown key"):
        config_from_run_config({"secagg": "sigma=1"})


def test_secure_rounds_through_local_gateways(setup, tmp_path: Path) -> None:
    image, data, serve_round1 = setup
    config = load_fleet_config(fleet_toml(tmp_path / "fleet.toml", 10.0))
    with launch_fleet("native", N_BOARDS, image, data, tmp_path / "boards") as fleet:
        tap = GatewayTap(fleet, tmp_path)
        local = LocalGateways(tap.gateways())
        try:
            summary = run_relayed(config, local, tmp_path / "run", window_s=0.2,
                                  allow_test_builds=True)
        finally:
            local.close()
            for gateway in local.gateways.values():
                gateway.close()
            tap.close()
        assert tap.killed_at, "the board to kill never sent its round-2 keys"
        assert summary.rounds_completed == ROUNDS and not summary.failure
        (tmp_path / "run" / "summary.json").write_text(json.dumps(summary.to_dict()))
        check_run(tmp_path / "run", fleet, serve_round1, list(tap.records[g].path for g in GATEWAYS))


def test_secure_rounds_through_flower(setup, tmp_path: Path) -> None:
    """`tinyfl flower serve` with the [secagg] fleet TOML, its SuperLink and two SuperNodes whose
    gateways run here (so the test can tap them); every step crosses Flower's messages."""
    _require_flower()
    from tinyfl.flower import BoardServer
    from tinyfl.flower.deploy import Deployment, free_port

    image, data, serve_round1 = setup
    # a Flower exchange takes seconds (the SuperNode polls every 3 s): a step waits 45 s
    toml = fleet_toml(tmp_path / "fleet.toml", 45.0)
    superlink = f"127.0.0.1:{free_port()}"
    run_dir = tmp_path / "flower"
    with launch_fleet("native", N_BOARDS, image, data, tmp_path / "boards") as fleet:
        tap = GatewayTap(fleet, tmp_path)
        gateways = Deployment(tmp_path / "gateways", port=int(superlink.rsplit(":", 1)[1]))
        try:
            for boards in tap.gateways().values():
                gateways.start_gateway(BoardServer(boards).start(), superlink)
            cmd = TINYFL + ["flower", "serve", "--fleet", str(toml), "--start-superlink",
                            "--superlink", superlink, "--gateways", "2", "--run-dir", str(run_dir),
                            "--allow-test-builds", "--window-s", "1", "--format", "json"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        finally:
            gateways.close()
            for server in gateways._servers:  # noqa: SLF001 - the test's own deployment
                server.boards.close()
            tap.close()
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert summary["rounds_completed"] == ROUNDS and not summary["failure"]
        assert tap.killed_at
        check_run(run_dir, fleet, serve_round1, list(tap.records[g].path for g in GATEWAYS))


def test_flower_serve_passes_secagg_to_the_serverapp(tmp_path: Path, monkeypatch) -> None:
    """`tinyfl flower serve --fleet X.toml --run-config secagg.KEY=V`: the [secagg] of the TOML,
    updated, is what the ServerApp gets; a bad value is a one-line error (exit 2)."""
    from typer.testing import CliRunner

    from tinyfl.cli import app
    from tinyfl.flower import deploy

    sent: list[dict] = []

    def run(self, settings, **_kw):
        sent.append(dict(settings))
        raise deploy.FlowerError("stopped by the test")

    monkeypatch.setattr(deploy.Deployment, "run", run)
    toml = fleet_toml(tmp_path / "fleet.toml", 10.0)
    runner = CliRunner()
    done = runner.invoke(app, ["flower", "serve", "--fleet", str(toml), "--run-dir",
                               str(tmp_path / "run"), "--run-config", "secagg.step_timeout_s=45",
                               "--run-config", "fleet.rounds=3"])
    assert done.exit_code == 1 and "stopped by the test" in done.output
    back = config_from_run_config(sent[0])
    assert back.secagg is not None and back.secagg.step_timeout_s == 45.0
    assert back.fleet.rounds == 3 and back.secagg.k == 0
    done = runner.invoke(app, ["flower", "serve", "--fleet", str(toml), "--run-dir",
                               str(tmp_path / "run2"), "--run-config", "secagg.k=3"])
    assert done.exit_code == 2 and "secagg.k" in done.output and len(sent) == 1
