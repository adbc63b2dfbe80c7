#!/usr/bin/env python3
"""Trains the risk service's fraud model on the simulated payments.

Reads train.csv and test.csv (written by cmd/risksim: a header, the label
first, then the features in the order of model.FeatureNames), trains an
XGBoost gradient-boosted-trees classifier on train.csv, and writes to
--out:

  model-v1.json         the model, as XGBoost's own JSON (save_model), the
                        format the Go package model reads
  eval.json             the evaluation on test.csv: AUC, average precision,
                        and precision and recall at the threshold chosen on
                        a validation part of train.csv
  expected_scores.json  the first rows and frauds of test.csv, with the probability and
                        the per-feature contributions XGBoost gives them,
                        which the Go tests must reproduce

Deterministic: fixed seeds, one thread. Needs XGBoost 1.7 and
scikit-learn (Debian: python3-xgboost python3-sklearn).

    python3 train.py --train train.csv --test test.csv --out testdata
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import sklearn
import xgboost as xgb
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

MODEL_FILE = "model-v1.json"
SEED = 20240611
VALIDATION_SHARE = 0.1
EXPECTED_ROWS = 50  # the first rows of test.csv, and as many of its first frauds

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": ["logloss", "auc"],
    "tree_method": "hist",
    "max_depth": 5,
    "eta": 0.1,
    "min_child_weight": 1,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambda": 1.0,
    "max_bin": 256,
    "base_score": 0.5,
    "seed": SEED,
    "nthread": 1,
}
MAX_ROUNDS = 300
EARLY_STOPPING_ROUNDS = 30


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    if not header or header[0] != "label":
        sys.exit(f"{path}: the first column must be 'label', got {header[:1]}")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    return header[1:], data[:, 1:], data[:, 0].astype(np.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not xgb.__version__.startswith("1.7."):
        sys.exit(f"XGBoost 1.7 is required (the Go reader is tested against its JSON), found {xgb.__version__}")

    names, x_train, y_train = load(args.train)
    test_names, x_test, y_test = load(args.test)
    if names != test_names:
        sys.exit("train.csv and test.csv have different features")

    # A validation part of the training split, for early stopping and for
    # the threshold: the test split is only used to evaluate.
    rng = np.random.default_rng(SEED)
    is_val = rng.random(len(y_train)) < VALIDATION_SHARE
    d_fit = xgb.DMatrix(x_train[~is_val], label=y_train[~is_val], feature_names=names)
    d_val = xgb.DMatrix(x_train[is_val], label=y_train[is_val], feature_names=names)
    booster = xgb.train(
        PARAMS, d_fit, num_boost_round=MAX_ROUNDS, evals=[(d_fit, "fit"), (d_val, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS, verbose_eval=50)
    trees = booster.best_iteration + 1
    booster = booster[:trees]

    os.makedirs(args.out, exist_ok=True)
    model_path = os.path.join(args.out, MODEL_FILE)
    booster.save_model(model_path)
    # Evaluate the file as written, as the Go side will read it.
    model = xgb.Booster(model_file=model_path)

    p_val = model.predict(xgb.DMatrix(x_train[is_val], feature_names=names))
    precision, recall, thresholds = precision_recall_curve(y_train[is_val], p_val)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    threshold = float(thresholds[int(np.argmax(f1))])

    d_test = xgb.DMatrix(x_test, feature_names=names)
    p_test = model.predict(d_test)
    flagged = p_test >= threshold
    tp = int(np.sum(flagged & (y_test == 1)))
    fp = int(np.sum(flagged & (y_test == 0)))
    fn = int(np.sum(~flagged & (y_test == 1)))
    tn = int(np.sum(~flagged & (y_test == 0)))
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    evaluation = {
        "model": MODEL_FILE,
        "model_sha256": digest,
        "xgboost_version": xgb.__version__,
        "sklearn_version": sklearn.__version__,
        "params": {k: v for k, v in PARAMS.items() if k != "eval_metric"},
        "max_rounds": MAX_ROUNDS,
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
        "trees": trees,
        "train_rows": int(len(y_train)),
        "train_positives": int(y_train.sum()),
        "validation_rows": int(is_val.sum()),
        "test_rows": int(len(y_test)),
        "test_positives": int(y_test.sum()),
        "auc": float(roc_auc_score(y_test, p_test)),
        "average_precision": float(average_precision_score(y_test, p_test)),
        "threshold_rule": "maximum F1 on the validation part of train.csv",
        "threshold": threshold,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(evaluation, f, indent=2)
        f.write("\n")

    # Saabas contributions (XGBoost's approx_contribs): one per feature,
    # then the bias; they add up to the margin.
    frauds = np.flatnonzero(y_test == 1)[:EXPECTED_ROWS]
    index = np.concatenate([np.arange(EXPECTED_ROWS), frauds[frauds >= EXPECTED_ROWS]])
    contribs = model.predict(xgb.DMatrix(x_test[index], feature_names=names), pred_contribs=True, approx_contribs=True)
    expected = {
        "about": f"the first {EXPECTED_ROWS} rows of test.csv and its first {EXPECTED_ROWS} frauds, "
                 f"scored by XGBoost {xgb.__version__} from {MODEL_FILE}",
        "feature_names": names,
        "rows": [
            {
                "index": int(i),
                "features": [float(v) for v in x_test[i]],
                "label": int(y_test[i]),
                "score": float(p_test[i]),
                "contributions": [float(v) for v in contribs[k][:-1]],
                "bias": float(contribs[k][-1]),
            }
            for k, i in enumerate(index)
        ],
    }
    with open(os.path.join(args.out, "expected_scores.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    print(json.dumps({k: evaluation[k] for k in ("trees", "auc", "average_precision", "threshold", "precision", "recall")}, indent=2))


if __name__ == "__main__":
    main()
