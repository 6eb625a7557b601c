"""Data-parallel training: 2 gloo processes on loopback, started as torchrun starts them (each rank a
process with RANK, WORLD_SIZE, MASTER_ADDR/PORT set), against the same training in one process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from rnnkit.training import TRAINER_FILE, Shard, Trainer, checkpoint
from rnnkit.training.batches import SampledBatches
from rnnkit.tasks.language_modeling import _ShardStreams
from rnnkit.data import StreamBatches

sys.path.insert(0, str(Path(__file__).parent))
import ddp_worker  # noqa: E402

WORKER = Path(__file__).parent / "ddp_worker.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ranks(task, run_dir, steps, tmp_path, world=2, option=""):
    port = free_port()
    ddp_worker.text_file(Path(run_dir).parent)
    processes = []
    for rank in range(world):
        env = os.environ | {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
        args = [sys.executable, str(WORKER), task, str(run_dir), str(tmp_path / f"rank{rank}.json"), str(steps)]
        processes.append(subprocess.Popen(args + ([option] if option else []), env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    return processes


def finish(processes, timeout=240):
    outputs = [process.communicate(timeout=timeout) for process in processes]
    return [(process.returncode, out, err) for process, (out, err) in zip(processes, outputs)]


def failures(results) -> str:
    """Every failed rank's exit code and the end of its stderr (the assertion message)."""
    return "\n".join(f"rank {rank} exited {code}:\n{err[-3000:]}"
                     for rank, (code, _, err) in enumerate(results) if code != 0)


def make(task, run_dir, steps):
    return ddp_worker.make_task(task, run_dir, steps, ddp_worker.text_file(run_dir.parent) if task == "lm" else None)


def single_process(task, run_dir, steps, resume=False, stop_at=None):
    """The same training in this process (world size 1): the reference."""
    made = make(task, run_dir, steps)
    trainer = Trainer(made, made.settings["train"], run_dir, callbacks=[ddp_worker.StopAt(stop_at)] if stop_at else [])
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        trainer.resume()
    trainer.run()
    return trainer


def saved_weights(run_dir, task):
    model = make(task, run_dir, 1).build_model()
    checkpoint.load_trainer_state(run_dir / TRAINER_FILE, model, torch.optim.SGD(model.parameters(), lr=0.0))
    return model.state_dict()


@pytest.mark.parametrize("task", ["majority", "lm"])
def test_data_parallel_steps_equal_single_process_steps_on_the_whole_batch(task, tmp_path):
    """Float64, no dropout: two ranks' averaged gradients (clipped after the all-reduce) give the same
    parameters as one process on the concatenated batch, step after step."""
    results = finish(start_ranks(task, tmp_path / "ddp", 4, tmp_path))
    assert all(code == 0 for code, _, _ in results), failures(results)
    reference = single_process(task, tmp_path / "one", 4)
    ddp = saved_weights(tmp_path / "ddp", task)
    for name, tensor in reference.model.state_dict().items():
        torch.testing.assert_close(ddp[name], tensor, rtol=1e-10, atol=1e-12, msg=name)

    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    # Only rank 0 writes: it alone has callbacks; metrics.jsonl holds each step once.
    assert [(r["writer"], r["callbacks"] > 0) for r in reports] == [(True, True), (False, False)]
    rows = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    train_steps = [row["step"] for row in rows if row["split"] == "train"]
    assert train_steps == [1, 2, 3, 4]
    assert "%|" not in results[1][2]                        # no progress bar from rank 1
    # The validation metrics, reduced over the ranks, are those of the whole validation set.
    reference_val = [row for row in rows if row["split"] == "val"]
    assert reference_val and all(torch.isfinite(torch.tensor(row["loss"])) for row in reference_val)


def test_the_ranks_shards_are_disjoint_and_make_up_the_whole_batch():
    collate = list
    whole = SampledBatches(100, 8, collate, seed=3)
    halves = [SampledBatches(100, 8, collate, seed=3, shard=Shard(rank, 2)) for rank in range(2)]
    for position in (0, 5, 12, 13, 40):      # within the first pass and beyond it
        parts = [set(half.indices(position)) for half in halves]
        assert not parts[0] & parts[1]
        assert parts[0] | parts[1] == set(whole.indices(position))
    # The language model: each rank its own contiguous columns of the same streams.
    streams = StreamBatches(torch.arange(400).numpy(), 8, 5)
    columns = [_ShardStreams(streams, Shard(rank, 2)).batch(3)["inputs"] for rank in range(2)]
    torch.testing.assert_close(torch.cat(columns, dim=1), streams.chunk(3).inputs)
    with pytest.raises(ValueError, match="batch_size = 8 must be divisible by the number of processes"):
        _ShardStreams(streams, Shard(0, 3))


def test_a_checkpoint_written_under_ddp_resumes_in_one_process_and_the_other_way_round(tmp_path):
    reference = single_process("majority", tmp_path / "one", 8)
    # 2 processes stopped at step 4 of 8, then 1 process to the end.
    results = finish(start_ranks("majority", tmp_path / "a", 8, tmp_path, option="stop=4"))
    assert all(code == 0 for code, _, _ in results), failures(results)
    assert json.loads((tmp_path / "rank1.json").read_text())["step"] == 4   # rank 1 stopped with rank 0
    resumed = single_process("majority", tmp_path / "a", 8, resume=True)
    # 1 process stopped at step 4, then 2 processes to the end.
    single_process("majority", tmp_path / "b", 8, stop_at=4)
    results = finish(start_ranks("majority", tmp_path / "b", 8, tmp_path, option="resume"))
    assert all(code == 0 for code, _, _ in results), failures(results)
    assert json.loads((tmp_path / "rank0.json").read_text())["step"] == 8
    other_way = saved_weights(tmp_path / "b", "majority")
    # Without a carried state or dropout, a change in the number of processes changes only round-off.
    for name, tensor in reference.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, rtol=1e-9, atol=1e-11, msg=name)
        torch.testing.assert_close(other_way[name], tensor, rtol=1e-9, atol=1e-11, msg=name)


def test_a_ddp_run_stopped_and_resumed_with_as_many_processes_ends_with_the_same_weights(tmp_path):
    assert all(code == 0 for code, _, _ in finish(start_ranks("majority", tmp_path / "full", 8, tmp_path)))
    assert all(code == 0 for code, _, _ in finish(start_ranks("majority", tmp_path / "cut", 8, tmp_path,
                                                              option="stop=3")))
    assert all(code == 0 for code, _, _ in finish(start_ranks("majority", tmp_path / "cut", 8, tmp_path,
                                                              option="resume")))
    full, cut = saved_weights(tmp_path / "full", "majority"), saved_weights(tmp_path / "cut", "majority")
    for name, tensor in full.items():
        assert torch.equal(cut[name], tensor), name


def test_a_nan_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    results = finish(start_ranks("majority", tmp_path / "run", 50, tmp_path, option="nan=4"))
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [(r["status"], r["step"]) for r in reports] == [("diverged", 3), ("diverged", 3)], results[1][2][-2000:]
    assert "non-finite loss on another process" in results[0][2] and "loss nan" in results[1][2]


def test_sigterm_to_one_rank_stops_both_with_a_checkpoint(tmp_path):
    processes = start_ranks("majority", tmp_path / "run", 100_000, tmp_path)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 5):
        assert all(process.poll() is None for process in processes), finish(processes)
        time.sleep(0.05)
    processes[1].send_signal(signal.SIGTERM)
    results = finish(processes)
    assert [code for code, _, _ in results] == [128 + signal.SIGTERM] * 2, results[0][2][-2000:]
    assert "SIGTERM" in results[0][2] and "--resume" in results[0][2]
    with safe_open(str(tmp_path / "run" / TRAINER_FILE), "pt") as handle:
        saved = json.loads(handle.metadata()["trainer"])
    assert saved["step"] >= 5 and saved["world_size"] == 2
