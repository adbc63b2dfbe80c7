package model

// Indexes of the features in a feature vector, in the order of
// FeatureNames. Counts and sums are over the window named, for the user or
// merchant of the payment, and include the payment being scored; amounts
// are in US dollar cents.
const (
	// LogAmountUSD is ln(1 + the payment's amount in US cents).
	LogAmountUSD = iota
	// Hour is the hour of day, 0-23, at the merchant's location.
	Hour
	// UserCount1m is the user's payments in the last minute.
	UserCount1m
	// UserCount1h is the user's payments in the last hour.
	UserCount1h
	// UserCount24h is the user's payments in the last 24 hours.
	UserCount24h
	// LogUserSum24hUSD is ln(1 + the user's amount in the last 24 hours,
	// in US cents).
	LogUserSum24hUSD
	// DeviceAgeDays is the days since the device first paid for this user;
	// 0 for a new device.
	DeviceAgeDays
	// NewDevice is 1 when the device has not paid for this user before,
	// else 0.
	NewDevice
	// KmFromLast is the great-circle distance in km between this
	// merchant and the merchant of the user's previous payment; 0 when
	// there is none.
	KmFromLast
	// MinutesSinceLast is the minutes since the user's previous payment,
	// at most 1440 (a day, also when there is none).
	MinutesSinceLast
	// SpeedKmh is the speed the user would have travelled at between the
	// two payments: KmFromLast / max(MinutesSinceLast, 5 minutes), in km
	// per hour; 0 when there is no previous payment. The 5-minute floor
	// keeps two shops of one city, a minute apart, from looking like a
	// flight.
	SpeedKmh
	// DaysSincePrev is the days since the user's previous payment, at
	// most 365 (also when there is none): the gap of MinutesSinceLast on
	// the scale of dormancy.
	DaysSincePrev
	// MerchantUsers24h is the merchant's distinct users in the last 24
	// hours.
	MerchantUsers24h
	// MerchantCount1h is the merchant's payments in the last hour.
	MerchantCount1h
	// RoundAmount is 1 when the amount is a whole multiple of 10 US
	// dollars, else 0.
	RoundAmount
	// MCCRisk is the merchant category's risk class: 0 low (groceries,
	// restaurants, transport), 1 medium (department stores, electronics,
	// hotels), 2 high (jewellery, digital goods, stored-value top-ups).
	MCCRisk

	// NumFeatures is the length of a feature vector.
	NumFeatures
)

// FeatureNames names the features of a feature vector, in its order: the
// one place that order is defined. train.py takes the names from the CSV
// header that cmd/risksim writes from this list, XGBoost stores them in
// the model, and Load refuses a model whose names differ.
var FeatureNames = [NumFeatures]string{
	LogAmountUSD:     "log_amount_usd",
	Hour:             "hour",
	UserCount1m:      "user_count_1m",
	UserCount1h:      "user_count_1h",
	UserCount24h:     "user_count_24h",
	LogUserSum24hUSD: "log_user_sum_24h_usd",
	DeviceAgeDays:    "device_age_days",
	NewDevice:        "new_device",
	KmFromLast:       "km_from_last",
	MinutesSinceLast: "minutes_since_last",
	SpeedKmh:         "speed_kmh",
	DaysSincePrev:    "days_since_prev",
	MerchantUsers24h: "merchant_users_24h",
	MerchantCount1h:  "merchant_count_1h",
	RoundAmount:      "round_amount",
	MCCRisk:          "mcc_risk",
}

// The simulated splits model-v1 was trained and evaluated on: train.sh
// writes them with cmd/risksim, and the tests simulate the test split
// again to evaluate the committed model in Go. Different seeds make
// different worlds (users, merchants, fraud rings), so the test split
// shares nothing with the training one.
const (
	TrainSeed = 1
	TrainRows = 60000
	TestSeed  = 2
	TestRows  = 20000
)
