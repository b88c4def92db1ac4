#!/usr/bin/env python3
"""trainstack reference trainer: a PyTorch MLP (torch-mlp) or a scikit-learn model (sklearn).

Reads its settings from the environment the runner sets (TRAINSTACK_EPOCHS, TRAINSTACK_BATCH_SIZE,
TRAINSTACK_LEARNING_RATE, TRAINSTACK_CHECKPOINT_EVERY, TRAINSTACK_MODEL, and TRAINSTACK_PARAMS for
`trainer`, `algorithm` and `labelColumn`). It trains on the task's dataset (TRAINSTACK_DATASET: the
CSV or Parquet file the runner downloaded; features and a label column) or, when none is given, on
data it generates, and says which. torch-mlp uses CUDA when a GPU is visible and the CPU otherwise,
checkpoints every `checkpointEvery` epochs (and on SIGTERM) to $TRAINSTACK_CHECKPOINT_DIR and resumes
from the latest checkpoint. Both print progress and metrics in the runner's format and write the model
and metrics.json to $TRAINSTACK_OUTPUT_DIR.

A trainer of your own is any command that prints the same lines:
  ##trainstack {"progress": 40, "metrics": {"loss": 0.31, "accuracy": 0.88}}
"""
import csv
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


class DatasetError(Exception):
    pass


def load_table(path, label_column):
    """Rows of a CSV (or Parquet) file as float features and integer classes (labels in sorted order)."""
    if path.endswith((".parquet", ".pq")):
        try:
            import pandas as pd
            frame = pd.read_parquet(path)
        except ImportError as e:
            raise DatasetError(f"reading Parquet needs pandas and pyarrow in the image ({e})") from e
        header = [str(c) for c in frame.columns]
        rows = [[str(v) for v in r] for r in frame.itertuples(index=False)]
    else:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise DatasetError("the dataset is empty")
            rows = [r for r in reader if r]
    if not rows:
        raise DatasetError("the dataset has a header and no rows")
    label = label_column or header[-1]
    if label not in header:
        raise DatasetError(f"no column {label!r} (labelColumn); the columns are {header}")
    li = header.index(label)
    features = [c for i, c in enumerate(header) if i != li]
    classes = sorted({r[li] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    x, y = [], []
    for n, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise DatasetError(f"line {n} has {len(r)} values; the header has {len(header)}")
        try:
            x.append([float(v) for i, v in enumerate(r) if i != li])
        except ValueError:
            bad = next(header[i] for i, v in enumerate(r) if i != li and not _is_float(v))
            raise DatasetError(f"line {n}: column {bad!r} is not a number ({r[header.index(bad)]!r})") from None
        y.append(index[r[li]])
    return x, y, features, classes, label


def _is_float(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def dataset_or_none():
    """The task's dataset as (x, y, description), or None for generated data; exits 2 with why when unreadable."""
    path = os.environ.get("TRAINSTACK_DATASET")
    uri = os.environ.get("TRAINSTACK_DATASET_URI") or path
    params = json.loads(os.environ.get("TRAINSTACK_PARAMS") or "{}")
    if not path:
        if uri:
            raise DatasetError(f"the dataset {uri} was not downloaded")
        return None
    x, y, features, classes, label = load_table(path, params.get("labelColumn"))
    print(f"dataset: {uri} ({len(y)} rows, {len(features)} features, label {label!r} with "
          f"{len(classes)} classes)", flush=True)
    return x, y, features, classes


def train_sklearn(params, data, epochs, out_dir):
    """A scikit-learn model: linear (SGD logistic regression, one pass an epoch) or gradient-boosted trees."""
    import pickle

    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    algorithm = params.get("algorithm") or "linear"
    if data is None:
        print("no dataset given: training on generated data", flush=True)
        gx, gy = make_data(32, 4096)
        x, y, classes = gx.numpy(), gy.numpy(), [0, 1]
    else:
        x, y, _features, classes = data
        x, y = np.asarray(x, dtype=float), np.asarray(y)
    stratify = y if min(np.bincount(y)) >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=stratify)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_te = scaler.transform(x_tr), scaler.transform(x_te)
    t0 = time.perf_counter()
    if algorithm == "gbt":
        model = GradientBoostingClassifier(n_estimators=max(1, epochs), random_state=0)
        model.fit(x_tr, y_tr)
        # the boosting stages, reported as epochs
        for i, proba in enumerate(model.staged_predict_proba(x_te), start=1):
            loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_te)), y_te], 1e-12, 1))))
            acc = float(np.mean(proba.argmax(1) == y_te))
            print(f"Epoch {i}/{epochs} loss={loss:.4f} accuracy={acc:.4f}", flush=True)
            report(100.0 * i / epochs, loss=loss, accuracy=acc, epoch=i)
    else:
        model = SGDClassifier(loss="log_loss", learning_rate="constant",
                              eta0=float(os.environ.get("TRAINSTACK_LEARNING_RATE") or 0.01), random_state=0)
        labels = np.arange(len(classes))
        for i in range(1, epochs + 1):
            model.partial_fit(x_tr, y_tr, classes=labels)
            proba = model.predict_proba(x_te)
            loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_te)), y_te], 1e-12, 1))))
            acc = float(np.mean(proba.argmax(1) == y_te))
            print(f"Epoch {i}/{epochs} loss={loss:.4f} accuracy={acc:.4f}", flush=True)
            report(100.0 * i / epochs, loss=loss, accuracy=acc, epoch=i)
    metrics = {"loss": loss, "accuracy": acc, "epochs": epochs, "trainer": "sklearn", "algorithm": algorithm,
               "train_seconds": round(time.perf_counter() - t0, 3)}
    with open(os.path.join(out_dir, "model.pkl"), "wb") as f:
        pickle.dump({"model": model, "scaler": scaler, "classes": list(classes)}, f)
    with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    print(f"done: {json.dumps(metrics)}", flush=True)
    return 0


def build_model(features, hidden, layers, outputs=2):
    mods = [nn.Linear(features, hidden), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, outputs))
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

    params = json.loads(os.environ.get("TRAINSTACK_PARAMS") or "{}")
    try:
        data = dataset_or_none()
    except (DatasetError, OSError) as e:
        print(f"the dataset cannot be used: {e}", file=sys.stderr, flush=True)
        print("##trainstack " + json.dumps({"reason": f"the dataset cannot be used: {e}"}), flush=True)
        return 2
    if (params.get("trainer") or "torch-mlp") == "sklearn":
        return train_sklearn(params, data, epochs, out_dir)

    features, hidden, layers, samples = MODELS[model_name]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    outputs = 2
    if data is None:
        samples = env_int("TRAINSTACK_SAMPLES", samples)
        print("no dataset given: training on generated data", flush=True)
        x, y = make_data(features, samples)
    else:
        rows, labels, names, classes = data
        x = torch.tensor(rows, dtype=torch.float32)
        x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
        y = torch.tensor(labels, dtype=torch.long)
        samples, features, outputs = len(labels), len(names), max(2, len(classes))
    x, y = x.to(device), y.to(device)
    model = build_model(features, hidden, layers, outputs).to(device)
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
