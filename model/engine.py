"""The one training loop behind every entry point: train, evaluate, checkpoint/resume, DDP, metrics.

Distributed data parallel is switched on by the torchrun environment (``WORLD_SIZE`` > 1): gloo on CPU, nccl on
GPU, a ``DistributedSampler`` gives each rank its share of the training set, and every rank evaluates its own
shard of valid/test through the unwrapped module (no collective inside the forward pass, so uneven shards cannot
deadlock) before one all-reduce of (loss sum, correct, count). Means are sums of per-sample values over the global
count, never a floor-divided or per-batch average. Rank 0 alone logs, checkpoints and writes the model dir.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler, Subset

from model import artifact, data, network
from model.distributed import (
    Runtime,
    all_gather_int,
    all_reduce_sum,
    available_cores,
    broadcast_from_main,
    start_runtime,
)
from model.hyperparameters import ConfigError, TrainConfig
from model.metrics import format_metrics

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"


# --- metrics -------------------------------------------------------------------------------------------------


@dataclass
class SplitTotals:
    """Sums over the samples of a split; the means are exact whatever the batch sizes or rank shards."""

    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    @property
    def loss(self) -> float:
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")

    def reduced(self, runtime: Runtime) -> SplitTotals:
        return SplitTotals(*all_reduce_sum([self.loss_sum, self.correct, self.count], runtime))


class EarlyStopping:
    """Tracks the best valid loss; ``should_stop`` after ``patience`` epochs without improvement (0 = never)."""

    def __init__(self, patience: int, best: float = math.inf, bad_epochs: int = 0):
        self.patience = patience
        self.best = best
        self.bad_epochs = bad_epochs

    def update(self, valid_loss: float) -> bool:
        """Record an epoch's valid loss; True when it is the best so far."""
        if valid_loss < self.best:
            self.best, self.bad_epochs = valid_loss, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_epochs": self.bad_epochs}


# --- the loop ------------------------------------------------------------------------------------------------


class _Step:
    """Forward/backward/update with the precision and memory format the device is best at."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, runtime: Runtime, scheduler=None):
        self.model, self.optimizer, self.scheduler, self.device = model, optimizer, scheduler, runtime.device
        cuda = runtime.device.type == "cuda"
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        self.amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def inputs(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch to the device; uint8 batches (what the loaders yield) are normalised there."""
        images = images.to(self.device, non_blocking=True)
        if images.dtype == torch.uint8:
            images = data.normalize(images)
        return images.contiguous(memory_format=self.memory_format), labels.to(self.device, non_blocking=True)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def train(
        self, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits = self.model(images)
            loss = criterion(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return logits.detach(), loss.detach()


def train_one_epoch(step: _Step, loader, runtime: Runtime) -> tuple[SplitTotals, float]:
    """One pass over this rank's shard; returns this rank's totals and the wall time."""
    network.set_train_mode(getattr(step.model, "module", step.model))
    criterion = nn.CrossEntropyLoss()
    # Accumulate on the device: a per-batch .item() would stall the GPU pipeline every step.
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)
    correct = torch.zeros((), dtype=torch.int64, device=runtime.device)
    count = 0
    started = time.perf_counter()
    for images, labels in loader:
        images, labels = step.inputs(images, labels)
        logits, loss = step.train(images, labels, criterion)
        loss_sum += loss.double() * labels.size(0)
        correct += (logits.argmax(1) == labels).sum()
        count += labels.size(0)
    if runtime.device.type == "cuda":
        torch.cuda.synchronize(runtime.device)
    return SplitTotals(loss_sum.item(), float(correct.item()), float(count)), time.perf_counter() - started


@torch.inference_mode()
def evaluate(step: _Step, loader) -> SplitTotals:
    """This rank's totals over its shard, through the unwrapped module (no DDP collectives)."""
    module = getattr(step.model, "module", step.model)
    module.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss_sum = torch.zeros((), dtype=torch.float64, device=step.device)
    correct = torch.zeros((), dtype=torch.int64, device=step.device)
    count = 0
    for images, labels in loader:
        images, labels = step.inputs(images, labels)
        with step.autocast():
            logits = module(images)
        loss_sum += criterion(logits.float(), labels).double()
        correct += (logits.argmax(1) == labels).sum()
        count += labels.size(0)
    return SplitTotals(loss_sum.item(), float(correct.item()), float(count))


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """Stepped every batch: cosine reaches zero at the last step of the last epoch, even with one epoch."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps_per_epoch)
    if config.lr_schedule == "step":  # x0.1 every third of the epochs
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=max(1, config.epochs // 3) * steps_per_epoch, gamma=0.1
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def _auto_workers(config: TrainConfig, runtime: Runtime) -> int:
    if config.workers >= 0:
        return config.workers
    if runtime.device.type == "cpu":
        # Decoding costs ~1-3% of a CPU training step, and a worker process would take cores from the model.
        return 0
    per_gpu = available_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(8, per_gpu - 1))


def _atomic_write_json(payload: dict, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(temporary, path)


def _signature(config: TrainConfig, class_names: list[str]) -> dict:
    """What a checkpoint must match to be resumed by this run."""
    return {
        "arch": config.arch,
        "class_names": list(class_names),
        "hidden_units": config.hidden_units,
        "freeze_backbone": config.freeze_backbone,
    }


def _load_checkpoint(checkpoint_dir: Path | None, signature: dict, runtime: Runtime) -> dict | None:
    """Rank 0 reads the latest checkpoint and every rank receives it (hosts need not share the directory)."""
    checkpoint = None
    error = None
    if runtime.is_main and checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT_FILE).is_file():
        path = checkpoint_dir / CHECKPOINT_FILE
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        stored = checkpoint.get("signature") or {}
        differences = [
            name if name == "class_names" else f"{name} {stored.get(name)} vs {value}"
            for name, value in signature.items()
            if stored.get(name) != value
        ]
        if differences:
            error = (
                f"checkpoint {path} was written for a different model ({', '.join(differences)}); "
                "use another checkpoint dir or delete it"
            )
            checkpoint = None
    checkpoint, error = broadcast_from_main((checkpoint, error), runtime)
    if error:
        raise ConfigError(error)
    return checkpoint


def run_training(
    config: TrainConfig,
    data_dir: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
) -> dict:
    """Train ``config`` on ``data_dir``'s splits; rank 0 writes the model dir, checkpoints and metrics.json.

    Returns the metrics document (the same on every rank).
    """
    runtime = start_runtime()
    try:
        return _run(
            config,
            Path(data_dir),
            model_dir,
            output_dir,
            checkpoint_dir,
            runtime,
            log if runtime.is_main else (lambda line: None),
        )
    finally:
        if runtime.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _run(config, data_dir, model_dir, output_dir, checkpoint_dir, runtime: Runtime, log) -> dict:
    torch.manual_seed(config.seed)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
    output_dir = Path(output_dir) if output_dir else None
    workers = _auto_workers(config, runtime)
    splits, class_names = data.load_splits(data_dir, config.image_size, cache=workers == 0, hflip=config.hflip)
    pin = runtime.device.type == "cuda"
    sampler: DistributedSampler[Any] = DistributedSampler(
        splits["train"], num_replicas=runtime.world_size, rank=runtime.rank, shuffle=True, seed=config.seed
    )
    train_loader = data.make_loader(splits["train"], config.batch_size, sampler, workers, pin)
    # Evaluation shards are disjoint and unpadded, so every sample counts exactly once.
    eval_loaders = {
        split: data.make_loader(
            Subset(dataset, range(runtime.rank, len(dataset), runtime.world_size)),
            config.batch_size,
            None,
            workers,
            pin,
        )
        for split, dataset in splits.items()
        if split != "train"
    }

    model = _build_model(config, len(class_names), runtime)
    model.to(runtime.device)
    model.to(memory_format=torch.channels_last if pin else torch.contiguous_format)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _scheduler(optimizer, config, len(train_loader))
    stopping = EarlyStopping(config.early_stopping_patience)
    signature = _signature(config, class_names)
    history: list[dict] = []
    best_epoch, best_state, start_epoch = 0, None, 0

    checkpoint = _load_checkpoint(checkpoint_dir, signature, runtime)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        stopping = EarlyStopping(config.early_stopping_patience, **checkpoint["early_stopping"])
        history, best_epoch, start_epoch = checkpoint["history"], checkpoint["best_epoch"], checkpoint["epoch"]
        best_state = checkpoint["best_model"]
        if best_state is None and best_epoch == start_epoch:
            best_state = _cpu_copy(checkpoint["model"])
        log(f"resumed from checkpoint {checkpoint_dir / CHECKPOINT_FILE} after epoch {start_epoch}")

    step_model = (
        nn.parallel.DistributedDataParallel(model, device_ids=[runtime.device] if pin else None)
        if runtime.distributed
        else model
    )
    step = _Step(step_model, optimizer, runtime, scheduler)
    samples_per_rank = all_gather_int(len(sampler), runtime)
    log(
        f"world_size={runtime.world_size} backend={dist.get_backend() if runtime.distributed else 'none'} "
        f"device={runtime.device.type} threads_per_process={runtime.threads} workers={workers} "
        f"train_samples_per_rank={','.join(map(str, samples_per_rank))} classes={len(class_names)} "
        f"arch={config.arch} image_size={config.image_size} epochs={config.epochs}"
    )

    document = {
        "world_size": runtime.world_size,
        "train_samples_per_rank": samples_per_rank,
        "hyperparameters": dataclasses.asdict(config),
        "class_names": class_names,
        "resumed_from_epoch": start_epoch if checkpoint is not None else None,
        "epochs": history,
    }

    def write_metrics() -> None:
        if runtime.is_main and output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write_json(document, output_dir / METRICS_FILE)

    stopped_early = stopping.should_stop
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if stopped_early:
            break
        sampler.set_epoch(epoch)
        torch.manual_seed(_epoch_seed(config.seed, epoch, runtime.rank))
        lr = optimizer.param_groups[0]["lr"]
        local_totals, seconds = train_one_epoch(step, train_loader, runtime)
        train = local_totals.reduced(runtime)
        seconds = max(all_reduce_sum([seconds], runtime)[0] / runtime.world_size, 1e-9)
        valid = evaluate(step, eval_loaders["valid"]).reduced(runtime)
        if stopping.update(valid.loss):
            best_epoch, best_state = epoch, _cpu_copy(model.state_dict())
        row = {
            "epoch": epoch,
            "train_loss": train.loss,
            "train_acc": train.accuracy,
            "valid_loss": valid.loss,
            "valid_acc": valid.accuracy,
            "lr": lr,
            "images_per_s": train.count / seconds,
        }
        history.append(row)
        log(format_metrics(row))
        stopped_early = stopping.should_stop
        if runtime.is_main and checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            artifact.atomic_torch_save(
                {
                    "epoch": epoch,
                    "signature": signature,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "early_stopping": stopping.state_dict(),
                    "best_epoch": best_epoch,
                    # The best weights are stored apart only when they are not the latest ones.
                    "best_model": None if best_epoch == epoch else best_state,
                    "history": history,
                },
                checkpoint_dir / CHECKPOINT_FILE,
            )
        write_metrics()
        if stopped_early:
            log(
                f"early stopping after epoch {epoch}: valid_loss has not improved for "
                f"{config.early_stopping_patience} epochs (best: epoch {best_epoch})"
            )

    if best_state is not None:
        model.load_state_dict(best_state)
    document["best_epoch"] = best_epoch
    document["stopped_early"] = stopped_early
    if "test" in eval_loaders:
        test = evaluate(step, eval_loaders["test"]).reduced(runtime)
        document.update(test_loss=test.loss, test_acc=test.accuracy, test_samples=int(test.count))
        log(format_metrics({"test_loss": test.loss, "test_acc": test.accuracy}))
    write_metrics()
    if runtime.is_main and model_dir is not None:
        artifact.save_model_dir(
            model_dir,
            model,
            arch=config.arch,
            class_names=class_names,
            image_size=config.image_size,
            hidden_units=config.hidden_units,
        )
        log(f"model saved to {model_dir} (weights from epoch {best_epoch}, the best valid_loss)")
    return document


def _build_model(config: TrainConfig, num_classes: int, runtime: Runtime) -> nn.Module:
    """Local rank 0 builds first, so a weight download happens once per host, not once per process."""
    first = runtime.local_rank == 0
    if runtime.distributed and not first:
        dist.barrier()
    try:
        return network.build_model(
            config.arch,
            num_classes,
            config.pretrained,
            config.freeze_backbone,
            config.hidden_units,
            config.pretrained_fallback,
        )
    finally:
        if runtime.distributed and first:
            dist.barrier()  # also when the build failed: the others then fail the same way instead of hanging


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of one rank's epoch (its random augmentations): it follows from the run's seed alone, so a run
    resumed from a checkpoint (a spot job restarted, a killed run started again) draws what an uninterrupted run
    draws. random.Random hashes a str seed the same way on every run and platform."""
    return random.Random(f"{seed}/{epoch}/{rank}").getrandbits(63)


def _cpu_copy(state_dict: dict) -> dict:
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state_dict.items()}


# --- entry-point plumbing --------------------------------------------------------------------------------------


def run_entry_point(main: Callable[[], object]) -> int:
    """Run an entry point's ``main``: bad input is one line on stderr and exit 2, unavailable weights exit 1."""
    try:
        main()
    except (ConfigError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    except network.PretrainedWeightsUnavailable as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0
