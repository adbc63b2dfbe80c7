// Package model is the machine-learned part of the risk service: a
// gradient-boosted-trees fraud model trained with XGBoost and served in
// pure Go.
//
// The pieces, in the order the pipeline uses them (docs/risk-model.md):
//
//   - FeatureNames fixes the model's input: a vector of NumFeatures
//     numbers, each documented where its index constant is declared.
//   - Simulate makes labelled payments, deterministically from a seed:
//     ordinary travellers paying merchants, and five fraud patterns (probe
//     bursts, a new device with a high amount, impossible travel, merchant
//     collusion, account takeover after a dormant period). The command
//     cmd/risksim writes them as the CSV files train.py learns from.
//   - Load reads a model that XGBoost saved as JSON (save_model("*.json"))
//     and refuses a file that is corrupt, of another format, or trained on
//     other features. The Model it returns scores a payment (Score, the
//     fraud probability) and explains the score (Contributions,
//     TopFeatures). A Model is immutable: safe for concurrent use.
//
// The model is evaluated by this package's own code, not by a third-party
// reader: github.com/dmitryikh/leaves reads only the binary format of
// XGBoost before 1.0, and cannot read what XGBoost 1.7 writes
// (docs/risk-model.md has the evidence).
package model
