package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

const (
	modelFile    = "testdata/model-v1.json"
	evalFile     = "testdata/eval.json"
	expectedFile = "testdata/expected_scores.json"
	// minAUC is the floor the committed model must reach on the held-out
	// split, scored in Go.
	minAUC = 0.9
)

// evaluation is the part of eval.json (written by train.py) the tests
// check against.
type evaluation struct {
	ModelSHA256   string  `json:"model_sha256"`
	Trees         int     `json:"trees"`
	TestRows      int     `json:"test_rows"`
	TestPositives int     `json:"test_positives"`
	AUC           float64 `json:"auc"`
	Threshold     float64 `json:"threshold"`
	Precision     float64 `json:"precision"`
	Recall        float64 `json:"recall"`
	Confusion     struct {
		TP int `json:"tp"`
		FP int `json:"fp"`
		FN int `json:"fn"`
		TN int `json:"tn"`
	} `json:"confusion"`
}

// expectedScores is expected_scores.json: test rows as XGBoost scored them.
type expectedScores struct {
	FeatureNames []string `json:"feature_names"`
	Rows         []struct {
		Index         int       `json:"index"`
		Features      []float64 `json:"features"`
		Label         int       `json:"label"`
		Score         float64   `json:"score"`
		Contributions []float64 `json:"contributions"`
		Bias          float64   `json:"bias"`
	} `json:"rows"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestScoresMatchXGBoost: the committed model, scored in Go, gives the
// probabilities and contributions XGBoost gave the first rows and the
// first frauds of the test split; those rows are what Simulate makes
// today, so the model was trained on this simulator.
func TestScoresMatchXGBoost(t *testing.T) {
	m := loadModel(t)
	var want expectedScores
	readJSON(t, expectedFile, &want)
	if strings.Join(want.FeatureNames, ",") != strings.Join(FeatureNames[:], ",") {
		t.Fatalf("expected scores are for features %v", want.FeatureNames)
	}
	if len(want.Rows) < 100 {
		t.Fatalf("%d expected rows, want at least 100", len(want.Rows))
	}
	sim := Simulate(TestSeed, TestRows)
	var worst float64
	var frauds int
	for _, row := range want.Rows {
		i := row.Index
		if i < 0 || i >= len(sim) {
			t.Fatalf("row %d is not in the test split", i)
		}
		frauds += row.Label
		for f, v := range row.Features {
			if got := sim[i].Features[f]; math.Abs(got-v) > 1e-9*math.Max(1, math.Abs(v)) {
				t.Fatalf("row %d: Simulate gives %s = %v, the model was trained on %v: the simulator changed, run train.sh", i, FeatureNames[f], got, v)
			}
		}
		if sim[i].Fraud != (row.Label == 1) {
			t.Fatalf("row %d: Simulate labels it %v, the test set %d", i, sim[i].Fraud, row.Label)
		}
		score := m.Score(row.Features)
		worst = math.Max(worst, math.Abs(score-row.Score))
		if math.Abs(score-row.Score) > 1e-6 {
			t.Errorf("row %d: Score %.9f, XGBoost %.9f", i, score, row.Score)
		}
		contrib, bias := m.Contributions(row.Features)
		if math.Abs(bias-row.Bias) > 1e-4 {
			t.Errorf("row %d: bias %v, XGBoost %v", i, bias, row.Bias)
		}
		sum := bias
		for f, c := range contrib {
			sum += c
			if math.Abs(c-row.Contributions[f]) > 1e-4 {
				t.Errorf("row %d: contribution of %s %v, XGBoost %v", i, FeatureNames[f], c, row.Contributions[f])
			}
		}
		if logit := math.Log(score / (1 - score)); math.Abs(sum-logit) > 1e-4 {
			t.Errorf("row %d: bias and contributions add up to %v, the score's log-odds are %v", i, sum, logit)
		}
	}
	if frauds < 50 {
		t.Errorf("%d frauds among the expected rows, want 50", frauds)
	}
	t.Logf("%d rows (%d frauds): largest difference from XGBoost's probability %.2g", len(want.Rows), frauds, worst)
}

// TestHeldOutEvaluation scores the whole held-out split in Go: the AUC
// reaches minAUC and, with precision and recall at the threshold, is what
// train.py recorded in eval.json for the committed model file.
func TestHeldOutEvaluation(t *testing.T) {
	data, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	var ev evaluation
	readJSON(t, evalFile, &ev)
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != ev.ModelSHA256 {
		t.Fatalf("%s is not the model eval.json describes: run train.sh", modelFile)
	}
	m, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Trees() != ev.Trees {
		t.Errorf("%d trees, eval.json says %d", m.Trees(), ev.Trees)
	}
	test := Simulate(TestSeed, TestRows)
	scores := make([]float64, len(test))
	labels := make([]bool, len(test))
	var positives int
	for i, e := range test {
		// Rounded to float32, as XGBoost reports its probabilities.
		scores[i] = float64(float32(m.Score(e.Features)))
		labels[i] = e.Fraud
		if e.Fraud {
			positives++
		}
	}
	if len(test) != ev.TestRows || positives != ev.TestPositives {
		t.Fatalf("the test split has %d rows, %d fraud; eval.json %d, %d", len(test), positives, ev.TestRows, ev.TestPositives)
	}
	a := auc(scores, labels)
	t.Logf("AUC %.5f (eval.json %.5f)", a, ev.AUC)
	if a < minAUC {
		t.Errorf("AUC %.4f, want at least %.2f", a, minAUC)
	}
	if math.Abs(a-ev.AUC) > 1e-4 {
		t.Errorf("AUC %.6f in Go, %.6f in train.py", a, ev.AUC)
	}

	var tp, fp, fn int
	var caught, total [NumPatterns]int
	for i, e := range test {
		flagged := scores[i] >= ev.Threshold
		total[e.Pattern]++
		if flagged {
			caught[e.Pattern]++
		}
		switch {
		case flagged && e.Fraud:
			tp++
		case flagged:
			fp++
		case e.Fraud:
			fn++
		}
	}
	precision, recall := float64(tp)/float64(tp+fp), float64(tp)/float64(tp+fn)
	t.Logf("at threshold %.4f: precision %.4f, recall %.4f (tp %d, fp %d, fn %d)", ev.Threshold, precision, recall, tp, fp, fn)
	for p := range NumPatterns {
		t.Logf("  %-24s %4d of %5d flagged (%.1f%%)", p, caught[p], total[p], 100*float64(caught[p])/float64(total[p]))
	}
	// A probability within a float32 rounding of the threshold may fall
	// either side of it.
	for _, c := range []struct {
		name      string
		got, want int
	}{{"tp", tp, ev.Confusion.TP}, {"fp", fp, ev.Confusion.FP}, {"fn", fn, ev.Confusion.FN}} {
		if c.got < c.want-1 || c.got > c.want+1 {
			t.Errorf("%s %d in Go, %d in train.py", c.name, c.got, c.want)
		}
	}
}

// auc is the area under the ROC curve: the probability that a random
// fraud scores above a random genuine payment, ties counting half
// (Mann-Whitney, with average ranks).
func auc(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum float64
	var pos, neg int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // the average of ranks i+1 .. j
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += rank
				pos++
			}
		}
		i = j
	}
	neg = len(scores) - pos
	return (rankSum - float64(pos)*float64(pos+1)/2) / (float64(pos) * float64(neg))
}

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5},
		{"one swap", []float64{0.1, 0.3, 0.2, 0.9}, []bool{false, false, true, true}, 0.75},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := auc(tc.scores, tc.labels); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("auc = %v, want %v", got, tc.want)
			}
		})
	}
}

// mutate loads the committed model as generic JSON, lets change edit it
// and returns it encoded again.
func mutate(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(v any, path ...string) map[string]any {
	m := v.(map[string]any)
	for _, k := range path {
		m = m[k].(map[string]any)
	}
	return m
}

func firstTree(m map[string]any) map[string]any {
	return obj(m, "learner", "gradient_booster", "model")["trees"].([]any)[0].(map[string]any)
}

// TestLoadRefuses: a file that is not a model this package can serve is
// refused with ErrInvalidModel and a reason, never a panic.
func TestLoadRefuses(t *testing.T) {
	good, err := os.ReadFile(modelFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not XGBoost JSON"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"cut to its first byte", good[:1], "not XGBoost JSON"},
		{"XGBoost's old binary format", append([]byte("binf\x00\x00\x00\x3f"), make([]byte, 200)...), "not XGBoost JSON"},
		{"UBJSON", []byte("{L\x00\x00\x00\x00\x00\x00\x00\x07learner{"), "not XGBoost JSON"},
		{"other JSON", []byte(`{"version": [1, 7, 4]}`), "no learner"},
		{"a JSON array", []byte(`[1, 2, 3]`), "schema"},
		{"XGBoost 2", mutate(t, func(m map[string]any) { m["version"] = []any{2, 0, 0} }), "version"},
		{"another objective", mutate(t, func(m map[string]any) {
			obj(m, "learner", "objective")["name"] = "reg:squarederror"
		}), "objective"},
		{"a dart booster", mutate(t, func(m map[string]any) { obj(m, "learner", "gradient_booster")["name"] = "dart" }), "booster"},
		{"other features", mutate(t, func(m map[string]any) {
			obj(m, "learner")["feature_names"].([]any)[3] = "device_count_1h"
		}), "trained on other features"},
		{"fewer features", mutate(t, func(m map[string]any) {
			obj(m, "learner", "learner_model_param")["num_feature"] = "15"
		}), "features"},
		{"a base score of 1", mutate(t, func(m map[string]any) {
			obj(m, "learner", "learner_model_param")["base_score"] = "1"
		}), "base_score"},
		{"a tree missing", mutate(t, func(m map[string]any) {
			model := obj(m, "learner", "gradient_booster", "model")
			model["trees"] = model["trees"].([]any)[1:]
		}), "num_trees"},
		{"a child out of range", mutate(t, func(m map[string]any) {
			firstTree(m)["left_children"].([]any)[0] = 100000
		}), "out of"},
		{"a cycle", mutate(t, func(m map[string]any) {
			firstTree(m)["left_children"].([]any)[1] = 0
		}), "reached twice"},
		{"a split on feature 99", mutate(t, func(m map[string]any) {
			firstTree(m)["split_indices"].([]any)[0] = 99
		}), "feature 99"},
		{"a categorical split", mutate(t, func(m map[string]any) {
			firstTree(m)["split_type"].([]any)[0] = 1
		}), "categorical"},
		{"an array too short", mutate(t, func(m map[string]any) {
			tr := firstTree(m)
			tr["split_conditions"] = tr["split_conditions"].([]any)[1:]
		}), "split_conditions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(bytes.NewReader(tc.data))
			if err == nil {
				t.Fatalf("loaded (%d trees)", m.Trees())
			}
			if !errors.Is(err, ErrInvalidModel) {
				t.Errorf("error %v does not wrap ErrInvalidModel", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if _, err := LoadFile("testdata/no-such-model.json"); err == nil || errors.Is(err, ErrInvalidModel) {
		t.Errorf("a missing file: %v, want a file error", err)
	}
}

// FuzzLoad: whatever the bytes, Load returns a model or an error, and a
// model it returns scores within [0, 1]. The seeds are small models (the
// committed one is too large for the fuzzer to mutate usefully;
// TestLoadRefuses covers its truncations and edits).
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"version":[1,7,4],"learner":{}}`))
	f.Add([]byte(`{"version":[1,7,4],"learner":{"feature_names":["log_amount_usd","hour","user_count_1m","user_count_1h","user_count_24h","log_user_sum_24h_usd","device_age_days","new_device","km_from_last","minutes_since_last","speed_kmh","days_since_prev","merchant_users_24h","merchant_count_1h","round_amount","mcc_risk"],"learner_model_param":{"base_score":"5E-1","num_class":"0","num_feature":"16","num_target":"1"},"objective":{"name":"binary:logistic"},"gradient_booster":{"name":"gbtree","model":{"gbtree_model_param":{"num_trees":"1"},"tree_info":[0],"trees":[{"left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[0,0,0],"split_conditions":[1.5,-0.2,0.3],"default_left":[1,0,0],"split_type":[0,0,0],"sum_hessian":[2,1,1],"tree_param":{"num_nodes":"3"}}]}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalidModel) {
				t.Fatalf("error %v does not wrap ErrInvalidModel", err)
			}
			return
		}
		x := make([]float64, NumFeatures)
		for _, v := range []float64{0, 1, math.NaN(), -1e9} {
			for i := range x {
				x[i] = v
			}
			if s := m.Score(x); !(s >= 0 && s <= 1) {
				t.Fatalf("Score = %v", s)
			}
		}
	})
}

// A payment as an ordinary traveller makes it: 40 dollars at a
// department store in the afternoon, the third payment of the day, on a
// phone used for 300 days, two hours after the previous payment in the
// same city.
func ordinaryPayment() []float64 {
	x := make([]float64, NumFeatures)
	x[LogAmountUSD] = math.Log1p(4000)
	x[Hour] = 15
	x[UserCount1m], x[UserCount1h], x[UserCount24h] = 1, 1, 3
	x[LogUserSum24hUSD] = math.Log1p(9000)
	x[DeviceAgeDays] = 300
	x[KmFromLast], x[MinutesSinceLast] = 4, 120
	x[SpeedKmh] = 4 / (120.0 / 60)
	x[DaysSincePrev] = 120.0 / 1440
	x[MerchantUsers24h], x[MerchantCount1h] = 40, 3
	x[MCCRisk] = 1
	return x
}

// TestTopFeatures: a crafted payment of each fraud pattern is more likely
// fraud than not, and is explained by the features that make the pattern;
// the ordinary payment it is built from scores below the threshold.
func TestTopFeatures(t *testing.T) {
	m := loadModel(t)
	var ev evaluation
	readJSON(t, evalFile, &ev)
	if s := m.Score(ordinaryPayment()); s >= ev.Threshold {
		t.Fatalf("the ordinary payment scores %.4f, above the threshold %.4f", s, ev.Threshold)
	}
	for _, tc := range []struct {
		name   string
		change func(x []float64)
		// want: one of these is among the top two features.
		want []int
	}{
		{"impossible travel: 3,000 km in 12 minutes", func(x []float64) {
			x[KmFromLast], x[MinutesSinceLast] = 3000, 12
			x[SpeedKmh] = 3000 / (12.0 / 60)
			x[DaysSincePrev] = 12.0 / 1440
		}, []int{SpeedKmh, KmFromLast}},
		{"a probe burst: the eighth 1-dollar payment in a minute", func(x []float64) {
			x[LogAmountUSD] = math.Log1p(100)
			x[UserCount1m], x[UserCount1h], x[UserCount24h] = 8, 8, 10
			x[MinutesSinceLast], x[SpeedKmh], x[KmFromLast] = 0.2, 0, 0
			x[DaysSincePrev] = 0.2 / 1440
			x[MCCRisk] = 2
		}, []int{UserCount1m, UserCount1h}},
		{"a dormant account back with a new device", func(x []float64) {
			x[LogAmountUSD] = math.Log1p(60000)
			x[UserCount24h], x[LogUserSum24hUSD] = 1, math.Log1p(60000)
			x[DeviceAgeDays], x[NewDevice] = 0, 1
			x[MinutesSinceLast], x[DaysSincePrev] = 1440, 200
			x[KmFromLast], x[SpeedKmh] = 0, 0
		}, []int{DaysSincePrev, NewDevice, DeviceAgeDays}},
		{"collusion: a jeweller paid by four young accounts, round amounts", func(x []float64) {
			x[LogAmountUSD] = math.Log1p(30000)
			x[RoundAmount], x[MCCRisk] = 1, 2
			x[MerchantUsers24h], x[MerchantCount1h] = 4, 3
			x[UserCount1h], x[UserCount24h], x[LogUserSum24hUSD] = 2, 4, math.Log1p(100000)
			x[DeviceAgeDays] = 30
			x[MinutesSinceLast], x[DaysSincePrev] = 40, 40.0/1440
		}, []int{MerchantUsers24h, RoundAmount, MerchantCount1h, DeviceAgeDays}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := ordinaryPayment()
			tc.change(x)
			s := m.Score(x)
			top := m.TopFeatures(x, 3)
			t.Logf("score %.4f, top features %+v", s, top)
			if s <= 0.5 {
				t.Errorf("score %.4f, want above 0.5", s)
			}
			if len(top) == 0 {
				t.Fatal("no feature pushed the score up")
			}
			for i := 1; i < len(top); i++ {
				if top[i].LogOdds > top[i-1].LogOdds || top[i].LogOdds <= 0 {
					t.Errorf("not in decreasing positive order: %+v", top)
				}
			}
			found := false
			for _, c := range top[:min(2, len(top))] {
				if c.Name != FeatureNames[c.Feature] || c.Value != x[c.Feature] {
					t.Errorf("contribution %+v does not describe its feature", c)
				}
				for _, f := range tc.want {
					found = found || c.Feature == f
				}
			}
			if !found {
				var names []string
				for _, f := range tc.want {
					names = append(names, FeatureNames[f])
				}
				t.Errorf("top features %+v, want one of %v among the first two", top, names)
			}
		})
	}
	if got := m.TopFeatures(ordinaryPayment(), 0); len(got) != 0 {
		t.Errorf("TopFeatures(k=0) = %v", got)
	}
}

func TestScoreMissingAndWrongLength(t *testing.T) {
	m := loadModel(t)
	x := ordinaryPayment()
	for i := range x {
		x[i] = math.NaN()
	}
	if s := m.Score(x); !(s >= 0 && s <= 1) {
		t.Errorf("every feature missing: Score = %v", s)
	}
	defer func() {
		if recover() == nil {
			t.Error("Score of 3 features did not panic")
		}
	}()
	m.Score([]float64{1, 2, 3})
}

// TestConcurrentScore: one Model scores from several goroutines at once
// (run with -race) and gives each the same answer as alone.
func TestConcurrentScore(t *testing.T) {
	m := loadModel(t)
	ex := Simulate(TestSeed+100, 2000)
	want := make([]float64, len(ex))
	for i, e := range ex {
		want[i] = m.Score(e.Features)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range ex {
				j := (i + g*250) % len(ex)
				if got := m.Score(ex[j].Features); got != want[j] {
					errs <- "a different score under concurrency"
					return
				}
				m.TopFeatures(ex[j].Features, 3)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// BenchmarkScore scores held-out payments with the committed model.
func BenchmarkScore(b *testing.B) {
	m := loadModel(b)
	ex := Simulate(TestSeed, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Score(ex[i&4095].Features)
		i++
	}
}

// BenchmarkScoreParallel scores from as many goroutines as GOMAXPROCS,
// sharing one Model.
func BenchmarkScoreParallel(b *testing.B) {
	m := loadModel(b)
	ex := Simulate(TestSeed, 4096)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.Score(ex[i&4095].Features)
			i++
		}
	})
}

// BenchmarkTopFeatures explains held-out payments with the committed
// model.
func BenchmarkTopFeatures(b *testing.B) {
	m := loadModel(b)
	ex := Simulate(TestSeed, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.TopFeatures(ex[i&4095].Features, 3)
		i++
	}
}
