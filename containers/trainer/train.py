#!/usr/bin/env python3
"""trainstack reference trainer: a small real PyTorch model on data it generates.

Reads its settings from the environment the runner sets (TRAINSTACK_EPOCHS, TRAINSTACK_BATCH_SIZE,
TRAINSTACK_LEARNING_RATE, TRAINSTACK_CHECKPOINT_EVERY, TRAINSTACK_MODEL), uses CUDA when a GPU is
visible and the CPU otherwise, prints progress in the runner's format, checkpoints every
`checkpointEvery` epochs (and on SIGTERM) to $TRAINSTACK_CHECKPOINT_DIR, resumes from the latest
checkpoint, and writes the final model and metrics to $TRAINSTACK_OUTPUT_DIR.
"""
import json
import os
import signal
import sys
import time

import torch
from torch import nn

EXIT_STOPPED = 143

MODELS = {
    # name: (features, hidden, layers, samples per epoch)
    "mlp-small": (32, 64, 2, 4096),
    "mlp": (64, 256, 3, 16384),
    "mlp-large": (1024, 4096, 6, 262144),
}


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v else default


def report(progress=None, **metrics):
    payload = {}
    if progress is not None:
        payload["progress"] = round(progress, 2)
    if metrics:
        payload["metrics"] = {k: float(v) for k, v in metrics.items()}
    print("##trainstack " + json.dumps(payload), flush=True)


def make_data(features, samples, seed=1234):
    """Two-class data from a fixed random linear rule with noise: learnable, never downloaded."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, features, generator=g)
    w = torch.randn(features, generator=g)
    logits = x @ w / features**0.5 + 0.1 * torch.randn(samples, generator=g)
    y = (logits > 0).long()
    return x, y


def build_model(features, hidden, layers):
    mods = [nn.Linear(features, hidden), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, 2))
    return nn.Sequential(*mods)


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    epochs = env_int("TRAINSTACK_EPOCHS", 5)
    batch_size = env_int("TRAINSTACK_BATCH_SIZE", 32)
    lr = env_float("TRAINSTACK_LEARNING_RATE", 0.001)
    checkpoint_every = env_int("TRAINSTACK_CHECKPOINT_EVERY", 1)
    model_name = os.environ.get("TRAINSTACK_MODEL") or "mlp-small"
    if model_name not in MODELS:
        print(f"unknown model {model_name!r}; choose one of {sorted(MODELS)}", file=sys.stderr)
        return 2
    out_dir = os.environ.get("TRAINSTACK_OUTPUT_DIR", "./output")
    ckpt_dir = os.environ.get("TRAINSTACK_CHECKPOINT_DIR", "./checkpoints")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(ckpt_dir, exist_ok=True)
    ckpt_path = os.path.join(ckpt_dir, "latest.pt")

    features, hidden, layers, samples = MODELS[model_name]
    samples = env_int("TRAINSTACK_SAMPLES", samples)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    x, y = make_data(features, samples)
    x, y = x.to(device), y.to(device)
    model = build_model(features, hidden, layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    start_epoch = 1
    if os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start_epoch = state["epoch"] + 1
        print(f"resuming from checkpoint: epoch {state['epoch']} done", flush=True)

    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"device={device.type} ({name}) model={model_name} samples={samples} epochs={epochs} "
          f"batch_size={batch_size} learning_rate={lr}", flush=True)

    stop = {"requested": False}

    def on_term(_sig, _frame):
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)

    def checkpoint(epoch):
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}, ckpt_path)

    last_done = start_epoch - 1
    seen = 0
    t0 = time.perf_counter()
    loss_v, acc = float("nan"), float("nan")
    for epoch in range(start_epoch, epochs + 1):
        perm = torch.randperm(samples, device=device)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, samples, batch_size):
            if stop["requested"]:
                break
            idx = perm[i:i + batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (out.argmax(1) == yb).sum()
            total += len(idx)
        if stop["requested"]:
            checkpoint(last_done)
            print(f"SIGTERM: checkpoint saved at epoch {last_done}", flush=True)
            return EXIT_STOPPED
        if device.type == "cuda":
            torch.cuda.synchronize()
        seen += total
        loss_v = float(loss_sum) / total
        acc = float(correct) / total
        elapsed = time.perf_counter() - t0
        throughput = seen / elapsed if elapsed > 0 else 0.0
        last_done = epoch
        print(f"Epoch {epoch}/{epochs} loss={loss_v:.4f} accuracy={acc:.4f}", flush=True)
        report(100.0 * epoch / epochs, loss=loss_v, accuracy=acc, epoch=epoch, samples_per_sec=round(throughput, 1))
        if epoch % checkpoint_every == 0 or epoch == epochs:
            checkpoint(epoch)

    elapsed = time.perf_counter() - t0
    metrics = {
        "loss": loss_v,
        "accuracy": acc,
        "epochs": epochs,
        "resumed_from_epoch": start_epoch - 1,
        "device": device.type,
        "device_name": name,
        "samples_per_sec": round(seen / elapsed, 1) if elapsed > 0 else None,
        "train_seconds": round(elapsed, 3),
    }
    torch.save(model.state_dict(), os.path.join(out_dir, "model.pt"))
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    print(f"done: {json.dumps(metrics)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
