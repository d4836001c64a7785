"""A synthetic corpus in the real note format: a realistic mix of kinds, math, lists, code, tags.

The mix is calibrated on the real deck (cards_src/, 700 notes): about 4 fields per note of
about 100 characters, one field in five with inline code, a few with math, one note in
eight with a multi-line field (a nested list), and rare fenced code.
"""

from __future__ import annotations

import random
from pathlib import Path

NOTES_PER_FILE = 25
_TAGS = [
    "exam::MLS-C01::D3-Modeling::3.5",
    "exam::MLS-C01::D2-Exploratory-Data-Analysis::2.2",
    "exam::MLA-C01::D2-Model-Development::2.3",
    "exam::AIF-C01::D1-AI-and-ML-Fundamentals::1.1",
]
_WORDS = [
    "model",
    "training",
    "data",
    "feature",
    "label",
    "gradient",
    "loss",
    "batch",
    "epoch",
    "instance",
    "endpoint",
    "metric",
    "precision",
    "recall",
    "threshold",
    "cluster",
    "vector",
    "embedding",
    "tree",
    "boosting",
    "regression",
    "class",
    "pipeline",
    "container",
    "channel",
    "bucket",
    "stream",
    "shard",
    "latency",
    "throughput",
    "accuracy",
    "bias",
]


def _sentence(rng: random.Random, words: int = 16) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _note(rng: random.Random, n: int) -> str:
    kind = rng.choices(
        ["metric", "algorithm", "hyperparameter", "service", "concept", "qa", "instance"],
        weights=[1, 1, 3, 2, 4, 4, 1],
    )[0]
    tag = f"- **Tags:** {rng.choice(_TAGS)}\n" if rng.random() < 0.3 else ""
    s = lambda k=16: _sentence(rng, k)  # noqa: E731
    if kind == "metric":
        body = (
            f"- **Name:** Metric {n}\n"
            f"- **Formula:** $$m_{{{n}}} = \\frac{{TP_{n}}}{{TP + FN}} \\cdot \\sqrt{{x^2}}$$\n"
            f"- **Measures:** {s()}\n- **Range:** 0 to 1; higher is better.\n"
            f"- **Use when:** {s()}\n"
        )
    elif kind == "algorithm":
        body = (
            f"- **Name:** Algorithm {n}\n- **Purpose:** {s()}\n"
            f"- **Learning type:** Supervised; classification.\n"
            f"- **Training input:**\n  - `text/csv` with the label first\n"
            f"  - `application/x-recordio-protobuf`\n"
            f"- **Inference:** `text/csv` or `application/json` in; scores out.\n"
            f"- **Training instances:** {s(8)}\n- **Inference instances:** {s(6)}\n"
            f"- **Hyperparameters:** `num_round`, `eta` and `max_depth`; {s(8)}\n"
        )
    elif kind == "hyperparameter":
        body = (
            f"- **Name:** Algorithm `param_{n}`\n- **Controls:** {s()}\n"
            f"- **Values:** $0 < \\eta_{{{n}}} \\le 1$, default 0.3.\n- **Tuning:** {s()}\n"
        )
    elif kind == "service":
        body = (
            f"- **Name:** Service {n}\n- **Does:** {s()}\n- **Inputs and outputs:** {s(10)}\n"
            f"- **Use for:** {s()}\n- **Not to confuse with:** `Service{n + 1}`.\n"
        )
    elif kind == "instance":
        body = f"- **Family:** F{n}\n- **Hardware:** {s(8)}\n- **Use for:** {s()}\n"
    elif kind == "concept":
        example = (
            f"- **Example:**\n\n  ```python\n  model.fit(x_{n}, y)  # $not math$\n  ```\n"
            if rng.random() < 0.05
            else f"- **Example:** {s()}\n"
        )
        body = f"- **Term:** Term {n}\n- **Explanation:** {s(18)} **Bold** term.\n{example}"
    else:
        code = " Use `ml.m5.xlarge` or `ml.c5.2xlarge`." if rng.random() < 0.5 else ""
        body = f"- **Question:** Question {n}: {s(8)}?\n- **Answer:** {s()}{code}\n"
    return f"## {kind}/synthetic-{n}\n\n{body}{tag}\n"


def write_corpus(root: Path, notes: int, seed: int = 7) -> list[Path]:
    """Write ``notes`` notes under ``root`` in files of NOTES_PER_FILE; return the files."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    files = []
    for start in range(0, notes, NOTES_PER_FILE):
        folder = root / f"topic-{start // 2500:03d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"file-{start // NOTES_PER_FILE:05d}.md"
        head = (
            f"---\ndeck: Synthetic::Part {start // 2500}\n"
            f"tags:\n  - {_TAGS[start // NOTES_PER_FILE % len(_TAGS)]}\n---\n\n"
            f"# Synthetic topic {start}\n\n"
        )
        end = min(start + NOTES_PER_FILE, notes)
        path.write_text(head + "".join(_note(rng, n) for n in range(start, end)), encoding="utf-8")
        files.append(path)
    return files
