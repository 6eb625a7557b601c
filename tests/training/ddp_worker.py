"""One rank of a data-parallel test run, started by tests/training/test_distributed.py the way torchrun
starts it: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in the environment.

    python ddp_worker.py TASK RUN_DIR REPORT STEPS [resume | stop=K | nan=K]

stop=K: rank 0 alone asks to stop after step K; nan=K: rank 1 alone gets a NaN loss at step K.

TASK is "majority" or "lm" (float64 models, no dropout: one data-parallel step must equal one
step on the whole batch). REPORT gets this rank's view as JSON.
"""

import json
import os
import sys
from pathlib import Path

import torch

from rnnkit.tasks import language_modeling, majority, runs
from rnnkit.training import Callback, Trainer, distributed


class Majority64(majority.MajorityTask):
    name = "majority"
    nan_at = 0

    def build_model(self):
        return super().build_model().double()

    def loss(self, model, batch, state):
        self.calls = getattr(self, "calls", 0) + 1
        loss, state = super().loss(model, batch, state)
        return (loss * float("nan") if self.calls == self.nan_at else loss), state


class Language64(language_modeling.LanguageModelingTask):
    def build_model(self):
        return super().build_model().double()


class StopAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer) -> None:
        if trainer.step == self.step:
            trainer.request_stop()


def make_task(name: str, run_dir: Path, steps: int, text: Path | None = None):
    train = {"steps": steps, "batch_size": 8, "lr": 0.05, "warmup_steps": 2, "clip": 0.5, "log_every": 1,
             "val_every": 3, "save_every": 1e9}
    if name == "majority":
        record = {"data": {"size": 96, "val_size": 40, "min_length": 3, "max_length": 11},
                  "model": {"hidden_size": 8, "cell": "lstm"}, "train": train}
        return Majority64(Majority64.settings_from_record(record), run_dir.parent)
    record = {"corpus": {"path": str(text)}, "model": {"hidden_size": 8, "num_layers": 2, "adaptive": "off"},
              "train": train | {"seq_len": 6, "val_tokens": 400}}
    return Language64(Language64.settings_from_record(record), run_dir.parent)


def text_file(directory: Path) -> Path:
    """The language model's text, written once (before the ranks start: they only read it)."""
    path = directory / "text.txt"
    if not path.exists():
        path.write_text("".join(f"the {i % 7} cats sat on {i % 3} mats\n" for i in range(150)))
    return path


def main() -> int:
    name, run_dir, report, steps = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    option = sys.argv[5] if len(sys.argv) > 5 else ""
    resume = option == "resume"
    torch.set_num_threads(1)
    task = make_task(name, run_dir, steps, text_file(run_dir.parent) if name == "lm" else None)
    callbacks = None
    if option.startswith("stop="):            # rank 0 alone asks; the trainer makes every rank stop
        callbacks = [StopAt(int(option[5:]))]
    if option.startswith("nan=") and int(os.environ["RANK"]) == 1:
        task.nan_at = int(option[4:])
    trainer = Trainer(task, task.settings["train"], run_dir, callbacks=callbacks)
    if trainer.is_writer:
        run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        trainer.resume()
    batch = trainer.batches.batch(0)
    result = trainer.run()
    distributed.finish()
    if result.message:
        print(result.message, file=sys.stderr)
    report.write_text(json.dumps({
        "rank": trainer.shard.rank, "world_size": trainer.shard.world_size, "status": result.status,
        "step": result.step, "callbacks": len(trainer.callbacks), "writer": trainer.is_writer,
        "first_batch": {key: value.tolist() for key, value in batch.data.items()},
    }))
    return 128 + result.signal if result.status == "interrupted" and not option.startswith("stop=") else 0


if __name__ == "__main__":
    sys.exit(main())
