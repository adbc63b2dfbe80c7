#!/usr/bin/env bash
# Trains the risk model from nothing and replaces the committed one:
# simulate the payments (cmd/risksim) -> train XGBoost (train.py) -> copy
# model-v1.json, eval.json and expected_scores.json into testdata/ -> check
# them with the Go tests. Deterministic: the same files every run.
#
#   services/risk/model/train.sh [DIR]    # DIR keeps train.csv and test.csv
#   LABELS=labels.csv services/risk/model/train.sh   # adds analysts' labels
#
# Needs Go, and Python 3 with XGBoost 1.7 and scikit-learn (Debian:
# apt-get install python3-xgboost python3-sklearn). PYTHON picks the
# interpreter; by default the first of python3 and Debian's
# /usr/bin/python3 that has them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
services="$(cd "$here/../.." && pwd)"

has_deps() { "$1" -c 'import xgboost, sklearn; assert xgboost.__version__.startswith("1.7.")' 2>/dev/null; }
if [[ -z "${PYTHON:-}" ]]; then
	for candidate in python3 /usr/bin/python3; do
		if command -v "$candidate" >/dev/null && has_deps "$candidate"; then
			PYTHON="$candidate"
			break
		fi
	done
fi
if [[ -z "${PYTHON:-}" ]] || ! has_deps "$PYTHON"; then
	echo "train.sh: no Python 3 with XGBoost 1.7 and scikit-learn (apt-get install python3-xgboost python3-sklearn, or set PYTHON)" >&2
	exit 1
fi

if [[ $# -gt 0 ]]; then
	work="$1"
	mkdir -p "$work"
else
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
fi

echo "== simulating the payments"
(cd "$services" && go run ./risk/model/cmd/risksim -out "$work")

if [[ -n "${LABELS:-}" ]]; then
	# Resolved cases' payments (unigatectl risk labels > FILE): the same
	# header, then rows added to the training split only, so the held-out
	# evaluation stays the simulation's.
	if [[ "$(head -1 "$LABELS")" != "$(head -1 "$work/train.csv")" ]]; then
		echo "train.sh: $LABELS does not have train.csv's header (label and the model's features)" >&2
		exit 1
	fi
	echo "== adding $(($(wc -l <"$LABELS") - 1)) labelled payments from $LABELS"
	tail -n +2 "$LABELS" >>"$work/train.csv"
fi

echo "== training with $("$PYTHON" -c 'import xgboost; print("XGBoost", xgboost.__version__)')"
"$PYTHON" "$here/train.py" --train "$work/train.csv" --test "$work/test.csv" --out "$work/out"
cp "$work/out/model-v1.json" "$work/out/eval.json" "$work/out/expected_scores.json" "$here/testdata/"

echo "== scoring the held-out split in Go"
(cd "$services" && go test ./risk/model -count=1 -v -run 'TestScoresMatchXGBoost|TestHeldOutEvaluation' | grep -v '^=== RUN')
