"""Chapter 7's experiment: character-level language models (LSTM, GRU, RNN with the same
number of parameters) trained with truncated BPTT on Python's help topics.

    OPENBLAS_NUM_THREADS=1 nice -n 10 python -m lstm_from_scratch.experiments.char_lm \\
        --out book/data/char_lm.json --jobs 3

trains the three models (each in its own process with ``--jobs 3``), keeps each one's weights
from its best validation epoch, and writes

* ``book/data/char_lm_{lstm,gru,rnn}.npz``: the model weights (``lfs.io.save_checkpoint``,
  no optimizer state), with the vocabulary as ``meta/vocab`` (code points); named after the
  results file (``--out x.json`` writes ``x_lstm.npz``...), so experiments never overwrite
  each other's;
* the results JSON: provenance (command, commit, machine, CPU and wall time per model), the
  corpus (its SHA-256), the configuration, parameter counts, per-epoch losses, the first
  training losses (which chapter 7 reproduces live), samples written after each epoch, the
  baselines and the bits per character of every model on the test part.

``--epochs``, ``--hidden-size`` and ``--dropout`` change the configuration (``CONFIG``); chapter
7 also shows ``book/data/char_lm_dropout.json``, made with ``--dropout 0.25`` (only its results
file is kept).

The pieces are importable on their own (chapter 14 trains the same model data-parallel):
:func:`load_data`, :func:`build_model`, :func:`make_optimizer`, :func:`loss_fn`,
:func:`train_model`. One training step is ``lfs.train.TBPTTStep`` inside ``lfs.train.fit``.
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["CONFIG", "build_model", "load_data", "load_model", "loss_fn", "make_optimizer",
           "train_model"]

CONFIG = {
    "fractions": (0.9, 0.05, 0.05),   # train / validation / test, by position
    "embedding_dim": 32,
    "hidden_size": 192,               # of the LSTM; the GRU and RNN get the same parameter count
    "num_layers": 2,
    "batch_size": 32,                 # parallel streams (lfs.data.batchify)
    "bptt": 100,                      # characters per truncated-BPTT chunk
    "lr": 3e-3,                       # Adam, annealed to lr_min over the epochs (cosine)
    "lr_min": 1e-4,
    "clip": 1.0,                      # gradient norm
    "epochs": 25,
    "patience": 3,                    # early stopping on the validation loss
    "forget_bias": 1.0,               # LSTM only
    "dropout": 0.0,                   # between the recurrent layers (nn.LSTM's dropout)
    "seed": 0,
    "sample_prompt": "The ",
    "sample_chars": 240,
    "sample_temperature": 0.8,
    "first_steps": 5,                 # training losses recorded for chapter 7's live check
}
CELLS = ("lstm", "gru", "rnn")


def load_data(config=CONFIG):
    """The corpus split by position (``lfs.data.char_corpus``) and the batches of truncated
    BPTT: ``(corpus, train_chunks, valid_chunks)``, each chunk a pair of (B, bptt) arrays."""
    from .. import data

    corpus = data.char_corpus(fractions=config["fractions"])
    B, T = config["batch_size"], config["bptt"]
    train = data.bptt_batches(data.batchify(corpus.ids("train"), B), T)
    valid = data.bptt_batches(data.batchify(corpus.ids("valid"), B), T)
    return corpus, train, valid


def build_model(cell: str, vocab_size: int, config=CONFIG, seed=None):
    """A ``CharLM`` of kind ``cell`` ("lstm", "gru", "rnn"), initialised from ``seed`` (default
    ``config["seed"]``). The GRU's and RNN's hidden sizes are chosen so that their parameter
    counts are as close as possible to the LSTM's."""
    from .. import backend
    from ..lm import CharLM, count_parameters, hidden_size_for_budget
    from .provenance import built_on_cpu

    E, L = config["embedding_dim"], config["num_layers"]
    H = config["hidden_size"]
    if cell != "lstm":
        budget = count_parameters(CharLM(vocab_size, E, H, L, cell="lstm"))
        H = hidden_size_for_budget(cell, budget, vocab_size, E, L)
    backend.manual_seed(config["seed"] if seed is None else seed)
    fb = config["forget_bias"] if cell == "lstm" else 0.0
    # records made before "dropout" was a setting had none
    dropout = config.get("dropout", 0.0)
    return built_on_cpu(lambda: CharLM(vocab_size, E, H, L, cell=cell, dropout=dropout,
                                       fused=cell != "rnn", forget_bias=fb))


def loss_fn(logits, y):
    """Mean cross-entropy (nats) of logits (B, T, V) against next characters y (B, T)."""
    from ..nn import functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def make_optimizer(model, config=CONFIG):
    """Adam at ``lr`` and a cosine schedule down to ``lr_min`` over ``epochs`` (per epoch)."""
    from ..optim import Adam
    from ..optim.lr_scheduler import CosineAnnealingLR

    opt = Adam(model.parameters(), lr=config["lr"])
    return opt, CosineAnnealingLR(opt, T_max=config["epochs"], eta_min=config["lr_min"])


def vocab_codepoints(vocab) -> np.ndarray:
    return np.array([ord(ch) for ch in vocab.itos], dtype=np.int32)


def load_model(path, config=CONFIG):
    """A trained ``CharLM`` and its ``CharVocab`` from a checkpoint written by :func:`main`."""
    from .. import io
    from ..data import CharVocab
    from ..data.corpus import UNK

    flat = io.load(path)
    vocab = CharVocab(chars=[chr(int(c)) for c in flat["meta/vocab"]], unk=UNK)
    cell = str(flat["meta/cell"])
    model = build_model(cell, len(vocab), config)
    io.load_checkpoint(path, model)
    model.eval()
    return model, vocab


def train_model(cell: str, config=CONFIG, data=None, epochs=None, max_chunks=None,
                on_sample=None, verbose=False):
    """Train one model with ``lfs.train.fit_tbptt``; returns ``(model, history, samples)``.

    Args:
        cell: "lstm", "gru" or "rnn".
        data: ``load_data(config)`` (loaded when None).
        epochs: override ``config["epochs"]`` (the schedule still spans ``config["epochs"]``).
        max_chunks: train on the first chunks only (chapter 7's live check).
        on_sample: called with ``(epoch, text)`` for the sample written after every epoch.
    """
    from .. import lm, train

    corpus, train_chunks, valid_chunks = load_data(config) if data is None else data
    if max_chunks is not None:
        train_chunks = train_chunks[:max_chunks]
    model = build_model(cell, len(corpus.vocab), config)
    opt, sched = make_optimizer(model, config)
    samples = []

    def after_epoch(epoch, history):
        text = lm.generate(model, corpus.vocab, config["sample_prompt"], config["sample_chars"],
                           temperature=config["sample_temperature"], seed=config["seed"])
        samples.append({"epoch": epoch + 1, "text": text})
        if on_sample is not None:
            on_sample(epoch, text)

    history = train.fit_tbptt(
        model, train_chunks, loss_fn, opt, config["epochs"] if epochs is None else epochs,
        val_chunks=valid_chunks, scheduler=sched, clip_grad_norm=config["clip"],
        early_stopping_patience=config["patience"], restore_best_weights=True,
        on_epoch_end=after_epoch if max_chunks is None else None, verbose=verbose)
    return model, history, samples


def _run_one(cell, config, out):
    """Train ``cell`` and save its checkpoint; the record of one model (runs in a child)."""
    from .. import io, lm

    cpu0, wall0 = time.process_time(), time.time()
    data = load_data(config)
    corpus = data[0]

    def show(epoch, text):
        print(f"[{cell}] epoch {epoch + 1}: {text[:120]!r}", flush=True)

    model, history, samples = train_model(cell, config, data, on_sample=show, verbose=True)
    cpu_train, wall_train = time.process_time() - cpu0, time.time() - wall0
    test_bpc = lm.bits_per_char(model, corpus.ids("test"))
    valid_bpc = lm.bits_per_char(model, corpus.ids("valid"))
    # named after the results file, so that a second experiment (another --out) never
    # overwrites the first one's checkpoints: char_lm.json -> char_lm_lstm.npz
    path = Path(out).with_name(f"{Path(out).stem}_{cell}.npz")
    io.save_checkpoint(path, model, epoch=history.best_epoch, cell=np.array(cell),
                       vocab=vocab_codepoints(corpus.vocab), test_bpc=test_bpc)
    ln2 = math.log(2.0)
    return {
        "cell": cell,
        "hidden_size": model.rnn.hidden_size,
        "parameters": lm.count_parameters(model),
        "checkpoint": path.name,
        "epochs_run": history.epochs,
        "best_epoch": history.best_epoch + 1,
        "train_bpc": [v / ln2 for v in history.train_loss],
        "valid_bpc_per_epoch": [v / ln2 for v in history.val_loss],
        "first_losses": history.batch_loss[:config["first_steps"]],
        "valid_bpc": valid_bpc,
        "test_bpc": test_bpc,
        "samples": samples,
        "cpu_time_s": round(cpu_train, 1),
        "wall_time_s": round(wall_train, 1),
    }


def baselines(corpus, max_order=9):
    """bpc on the test part of the uniform and unigram guesses and of interpolated Kneser-Ney
    models of orders 1..max_order; the order is chosen on the validation part."""
    from ..lm import KneserNeyLM, unigram_bits_per_char

    V = len(corpus.vocab)
    train, valid, test = corpus.ids("train"), corpus.ids("valid"), corpus.ids("test")
    kn = {}
    for n in range(1, max_order + 1):
        model = KneserNeyLM(n, V).fit(train)
        kn[n] = {"valid_bpc": model.bits_per_char(valid), "test_bpc": model.bits_per_char(test)}
    best = min(kn, key=lambda n: kn[n]["valid_bpc"])
    return {"uniform": math.log2(V), "unigram": unigram_bits_per_char(train, test, V),
            "kneser_ney": {str(n): v for n, v in kn.items()}, "kneser_ney_best_order": best}


def main(argv=None):
    from . import provenance, write_results

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="book/data/char_lm.json")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--jobs", type=int, default=1, help="models trained in parallel")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--hidden-size", type=int, default=None,
                        help="of the LSTM (the others get its parameter count)")
    parser.add_argument("--dropout", type=float, default=None)
    args = parser.parse_args(argv)
    config = dict(CONFIG)
    for key in ("epochs", "hidden_size", "dropout"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    meta = provenance()
    meta["OPENBLAS_NUM_THREADS"] = os.environ.get("OPENBLAS_NUM_THREADS")
    wall0 = time.time()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cells = args.cells.split(",")
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            runs = list(pool.map(_run_one, cells, [config] * len(cells), [args.out] * len(cells)))
    else:
        runs = [_run_one(c, config, args.out) for c in cells]
    corpus = load_data(config)[0]
    meta["wall_time_s"] = round(time.time() - wall0, 1)
    write_results(args.out, {
        "provenance": meta,
        "corpus": {**corpus.info, "train_chars": len(corpus.train),
                   "valid_chars": len(corpus.valid), "test_chars": len(corpus.test),
                   "vocab_size": len(corpus.vocab)},
        "config": config,
        "baselines": baselines(corpus),
        "runs": {r["cell"]: r for r in runs},
    })
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
