package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
)

// ErrInvalidModel is wrapped by every error Load returns for a file that
// is not a model this package can serve: corrupt or truncated, of another
// format, or trained for another task or on other features.
var ErrInvalidModel = errors.New("model: invalid model file")

// MaxModelBytes is the largest file Load reads (model-v1 is a few hundred
// kilobytes).
const MaxModelBytes = 64 << 20

// Model is a gradient-boosted-trees fraud model: XGBoost trees for
// binary:logistic over the features of FeatureNames. It is immutable
// once loaded, so one Model may be used by any number of goroutines.
type Model struct {
	// nodes holds every tree in preorder: a split's left child is the
	// next node, and every child comes after its parent.
	nodes      []node
	roots      []int32
	baseMargin float32
	version    string
	id         string
}

type node struct {
	threshold float32
	// feature is the split's feature, or -1 for a leaf.
	feature int32
	right   int32
	// value is a leaf's value, or, for a split, the mean of the leaves
	// below it weighted by their training cover (for Contributions).
	value       float32
	defaultLeft bool
}

// LoadFile reads a model file (see Load).
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Load reads a model that XGBoost 1.x saved as JSON
// (Booster.save_model("model.json")), tested with 1.7. It refuses, with an
// error wrapping ErrInvalidModel, a file that is not such JSON (XGBoost's
// binary or UBJSON formats among them), is truncated, is not a gbtree
// booster for binary:logistic, has trees that do not form trees
// (children out of range or shared, categorical splits, non-finite
// values), or was trained on features other than FeatureNames, in that
// order. Reading stops at MaxModelBytes.
func Load(r io.Reader) (*Model, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("model: reading: %w", err)
	}
	if len(data) > MaxModelBytes {
		return nil, invalid("larger than %d bytes", MaxModelBytes)
	}
	var f xgbFile
	if err := json.Unmarshal(data, &f); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, invalid("not XGBoost JSON (a truncated file, or another format such as XGBoost's binary or UBJSON; save the booster with save_model(\"*.json\")): %v", err)
		}
		return nil, invalid("not XGBoost's JSON model schema: %v", err)
	}
	m, err := f.build()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	m.id = "sha256:" + hex.EncodeToString(sum[:6])
	return m, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModel, fmt.Sprintf(format, args...))
}

// xgbFile is the part of XGBoost's JSON model schema (doc/model.schema in
// XGBoost's sources) that scoring needs.
type xgbFile struct {
	Version []int `json:"version"`
	Learner *struct {
		FeatureNames []string `json:"feature_names"`
		Param        struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
			NumTarget  string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		Booster struct {
			Name  string `json:"name"`
			Model struct {
				Param struct {
					NumTrees string `json:"num_trees"`
				} `json:"gbtree_model_param"`
				TreeInfo []int     `json:"tree_info"`
				Trees    []xgbTree `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
	} `json:"learner"`
}

type xgbTree struct {
	Left            []int32   `json:"left_children"`
	Right           []int32   `json:"right_children"`
	SplitIndices    []int32   `json:"split_indices"`
	SplitConditions []float32 `json:"split_conditions"`
	DefaultLeft     []int     `json:"default_left"`
	SplitType       []int     `json:"split_type"`
	SumHessian      []float32 `json:"sum_hessian"`
	Param           struct {
		NumNodes string `json:"num_nodes"`
	} `json:"tree_param"`
}

func (f *xgbFile) build() (*Model, error) {
	// The JSON format as XGBoost 1.x writes it, tested with 1.7; later
	// versions are refused until they are tested.
	if len(f.Version) != 3 || f.Version[0] != 1 {
		return nil, invalid("XGBoost version %v, want a model saved by XGBoost 1.x", f.Version)
	}
	l := f.Learner
	if l == nil {
		return nil, invalid("no learner")
	}
	if l.Objective.Name != "binary:logistic" {
		return nil, invalid("objective %q, want binary:logistic", l.Objective.Name)
	}
	if l.Booster.Name != "gbtree" {
		return nil, invalid("booster %q, want gbtree", l.Booster.Name)
	}
	if c := l.Param.NumClass; c != "" && c != "0" {
		return nil, invalid("num_class %s, want a binary model", c)
	}
	if t := l.Param.NumTarget; t != "" && t != "1" {
		return nil, invalid("num_target %s, want 1", t)
	}
	if l.Param.NumFeature != strconv.Itoa(NumFeatures) || len(l.FeatureNames) != NumFeatures {
		return nil, invalid("the model has %s features (%d named), want the %d of FeatureNames", l.Param.NumFeature, len(l.FeatureNames), NumFeatures)
	}
	for i, name := range l.FeatureNames {
		if name != FeatureNames[i] {
			return nil, invalid("feature %d is %q, want %q: the model was trained on other features", i, name, FeatureNames[i])
		}
	}
	base, err := strconv.ParseFloat(l.Param.BaseScore, 32)
	if err != nil || !(base > 0 && base < 1) {
		return nil, invalid("base_score %q, want a probability strictly between 0 and 1", l.Param.BaseScore)
	}
	trees := l.Booster.Model.Trees
	if len(trees) == 0 || l.Booster.Model.Param.NumTrees != strconv.Itoa(len(trees)) || len(l.Booster.Model.TreeInfo) != len(trees) {
		return nil, invalid("num_trees %q, %d trees and %d tree_info entries: want as many, at least one",
			l.Booster.Model.Param.NumTrees, len(trees), len(l.Booster.Model.TreeInfo))
	}
	m := &Model{
		// As XGBoost does: the logit of base_score, in float32.
		baseMargin: -float32(math.Log(float64(1/float32(base) - 1))),
		version:    fmt.Sprintf("%d.%d.%d", f.Version[0], f.Version[1], f.Version[2]),
		roots:      make([]int32, 0, len(trees)),
	}
	for i := range trees {
		if l.Booster.Model.TreeInfo[i] != 0 {
			return nil, invalid("tree %d: tree_info %d, want 0 (one output group)", i, l.Booster.Model.TreeInfo[i])
		}
		if err := m.addTree(&trees[i]); err != nil {
			return nil, invalid("tree %d: %v", i, err)
		}
	}
	return m, nil
}

// maxNodes bounds the nodes of all trees, so that indexes fit an int32.
const maxNodes = 1 << 30

// addTree checks one tree of the file and appends it in preorder.
func (m *Model) addTree(t *xgbTree) error {
	n := len(t.Left)
	if n == 0 || t.Param.NumNodes != strconv.Itoa(n) {
		return fmt.Errorf("num_nodes %q with %d nodes", t.Param.NumNodes, n)
	}
	for _, a := range []struct {
		name string
		size int
	}{
		{"right_children", len(t.Right)}, {"split_indices", len(t.SplitIndices)},
		{"split_conditions", len(t.SplitConditions)}, {"default_left", len(t.DefaultLeft)},
		{"sum_hessian", len(t.SumHessian)},
	} {
		if a.size != n {
			return fmt.Errorf("%s has %d entries for %d nodes", a.name, a.size, n)
		}
	}
	if len(m.nodes)+n > maxNodes {
		return fmt.Errorf("more than %d nodes in all", maxNodes)
	}
	for _, st := range t.SplitType {
		if st != 0 {
			return errors.New("a categorical split: only numerical splits are supported")
		}
	}
	root := int32(len(m.nodes))
	m.roots = append(m.roots, root)
	// Preorder by an explicit stack of (the file's node, the parent whose
	// right child it is, or -1); cover[i] is the training cover (sum of
	// hessians) of m.nodes[root+i].
	type item struct{ id, parentOfRight int32 }
	seen := make([]bool, n)
	cover := make([]float32, 0, n)
	stack := []item{{0, -1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		id := it.id
		if id < 0 || int(id) >= n {
			return fmt.Errorf("a child index %d out of [0, %d)", id, n)
		}
		if seen[id] {
			return fmt.Errorf("node %d is reached twice", id)
		}
		seen[id] = true
		at := int32(len(m.nodes))
		if it.parentOfRight >= 0 {
			m.nodes[it.parentOfRight].right = at
		}
		v, h := t.SplitConditions[id], t.SumHessian[id]
		if !finite(v) {
			return fmt.Errorf("node %d: split condition or leaf value %v", id, v)
		}
		if !finite(h) || h < 0 {
			return fmt.Errorf("node %d: sum_hessian %v", id, h)
		}
		cover = append(cover, h)
		if t.Left[id] == -1 {
			if t.Right[id] != -1 {
				return fmt.Errorf("node %d: no left child but a right one", id)
			}
			m.nodes = append(m.nodes, node{feature: -1, right: -1, value: v})
			continue
		}
		f := t.SplitIndices[id]
		if f < 0 || f >= NumFeatures {
			return fmt.Errorf("node %d splits on feature %d, want [0, %d)", id, f, NumFeatures)
		}
		if h == 0 {
			return fmt.Errorf("node %d: a split with no cover", id)
		}
		m.nodes = append(m.nodes, node{threshold: v, feature: f, defaultLeft: t.DefaultLeft[id] != 0})
		// Left is visited first, so it lands right after its parent.
		stack = append(stack, item{t.Right[id], at}, item{t.Left[id], -1})
	}
	// The cover-weighted mean value of every split, as XGBoost computes
	// it for approximate contributions (in float32), children first: they
	// come after their parent.
	for i := int32(len(m.nodes)) - 1; i >= root; i-- {
		nd := &m.nodes[i]
		if nd.feature < 0 {
			continue
		}
		l, r := i+1, nd.right
		nd.value = (m.nodes[l].value*cover[l-root] + m.nodes[r].value*cover[r-root]) / cover[i-root]
	}
	return nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// Trees returns the number of trees.
func (m *Model) Trees() int { return len(m.roots) }

// Version returns the version of XGBoost that saved the model.
func (m *Model) Version() string { return m.version }

// ID names the model by its file's content: "sha256:" and the first 12
// hex digits of the file's SHA-256. Decisions record it.
func (m *Model) ID() string { return m.id }

// features32 converts a feature vector to float32, as XGBoost does before
// comparing it with a split condition. It panics when features does not
// have NumFeatures values: a caller's bug, not a payment's.
func features32(features []float64) [NumFeatures]float32 {
	if len(features) != NumFeatures {
		panic(fmt.Sprintf("model: %d features, want %d (FeatureNames)", len(features), NumFeatures))
	}
	var x [NumFeatures]float32
	for i, v := range features {
		x[i] = float32(v)
	}
	return x
}

// next is the child a feature vector takes at split n (index i): XGBoost's
// rule, left when the value is below the condition, the default side when
// it is missing (NaN).
func (n *node) next(i int32, x *[NumFeatures]float32) int32 {
	v := x[n.feature]
	switch {
	case v < n.threshold:
		return i + 1
	case v != v && n.defaultLeft:
		return i + 1
	default:
		return n.right
	}
}

// Score returns the fraud probability of a payment, from 0 to 1. features
// has NumFeatures values in the order of FeatureNames (NaN for a value
// that is missing); Score panics when it has another length. It gives
// XGBoost's own prediction to within float32 rounding (about 1e-7).
func (m *Model) Score(features []float64) float64 {
	return sigmoid(m.margin(features))
}

// margin is the sum of the trees' leaves, in float32 and in tree order as
// XGBoost adds them, plus the base margin.
func (m *Model) margin(features []float64) float32 {
	x := features32(features)
	sum := m.baseMargin
	for _, i := range m.roots {
		for {
			n := &m.nodes[i]
			if n.feature < 0 {
				sum += n.value
				break
			}
			i = n.next(i, &x)
		}
	}
	return sum
}

func sigmoid(margin float32) float64 { return 1 / (1 + math.Exp(-float64(margin))) }

// Contributions explains a score by Saabas's method (what XGBoost calls
// approximate contributions, predict(pred_contribs=True,
// approx_contribs=True)): along the path a payment takes in each tree,
// each split credits its feature with the change of the expected value
// (the cover-weighted mean of the leaves below) from the node to the
// child taken. It returns the credit of each feature, in log-odds, and
// the bias: the base margin plus every tree's expected value. Bias plus
// the credits is the log-odds of Score. It panics as Score does.
func (m *Model) Contributions(features []float64) (contrib [NumFeatures]float64, bias float64) {
	x := features32(features)
	sums := [NumFeatures]float32{}
	b := m.baseMargin
	for _, i := range m.roots {
		value := m.nodes[i].value
		b += value
		for n := &m.nodes[i]; n.feature >= 0; n = &m.nodes[i] {
			f := n.feature
			i = n.next(i, &x)
			sums[f] += m.nodes[i].value - value
			value = m.nodes[i].value
		}
	}
	for f, s := range sums {
		contrib[f] = float64(s)
	}
	return contrib, float64(b)
}

// Contribution is one feature's part in a score (see Contributions).
type Contribution struct {
	// Feature is the feature's index in FeatureNames, Name its name and
	// Value its value in the payment.
	Feature int
	Name    string
	Value   float64
	// LogOdds is the feature's contribution to the log-odds of the score.
	LogOdds float64
}

// TopFeatures returns the at most k features that pushed the score up the
// most (positive contributions only), the strongest first: the reasons to
// show a reviewer. It panics as Score does.
func (m *Model) TopFeatures(features []float64, k int) []Contribution {
	contrib, _ := m.Contributions(features)
	var out []Contribution
	for f, c := range contrib {
		if c > 0 {
			out = append(out, Contribution{Feature: f, Name: FeatureNames[f], Value: features[f], LogOdds: c})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LogOdds > out[j].LogOdds })
	if len(out) > k {
		out = out[:max(k, 0)]
	}
	return out
}
