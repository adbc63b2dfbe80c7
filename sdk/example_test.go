package unigate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"
	partnerv1 "github.com/unigate/unigate/proto/gen/unigate/partner/v1"

	unigate "github.com/unigate/unigate/sdk"
)

// demoAcquirer stands in for Unigate's PartnerService so that the examples
// run on their own: one merchant in Erenhot paid in CNY, a wallet in MNT.
type demoAcquirer struct {
	partnerv1.UnimplementedPartnerServiceServer
}

var erenhotGrocery = &commonv1.Merchant{MerchantId: "M0001", NetworkId: "cnsim", Name: "Erenhot Grocery",
	City: "Erenhot", Mcc: "5411", Country: "CN", Currency: "CNY"}

func (demoAcquirer) DecodeCode(context.Context, *partnerv1.DecodeCodeRequest) (*partnerv1.DecodeCodeResponse, error) {
	return &partnerv1.DecodeCodeResponse{Kind: commonv1.CodeKind_CODE_KIND_EMVCO_MPM, Merchant: erenhotGrocery, WalletCurrency: "MNT"}, nil
}

func (demoAcquirer) CreateQuote(_ context.Context, req *partnerv1.CreateQuoteRequest) (*partnerv1.CreateQuoteResponse, error) {
	// 498.20 MNT per CNY, and the partner settles in USD at 0.1410 per CNY;
	// all three currencies have two decimals.
	merchant, wallet := req.GetAmount().GetMinorUnits(), req.GetWalletAmount().GetMinorUnits()
	if req.GetWalletAmount() != nil {
		merchant = wallet * 100 / 49820 // the user pays exactly the wallet amount
	} else {
		wallet = merchant * 49820 / 100
	}
	return &partnerv1.CreateQuoteResponse{Quote: &partnerv1.Quote{QuoteId: "quo_01",
		MerchantAmount:   &commonv1.Money{Currency: "CNY", MinorUnits: merchant},
		WalletAmount:     &commonv1.Money{Currency: "MNT", MinorUnits: wallet},
		SettlementAmount: &commonv1.Money{Currency: "USD", MinorUnits: merchant * 1410 / 10000}, Rate: "498.2"}}, nil
}

func (demoAcquirer) Pay(_ context.Context, req *partnerv1.PayRequest) (*partnerv1.PayResponse, error) {
	return &partnerv1.PayResponse{Payment: &partnerv1.Payment{PaymentId: "pay_01", PartnerPaymentId: req.GetPartnerPaymentId(),
		Mode: partnerv1.PaymentMode_PAYMENT_MODE_MPM, Status: partnerv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED,
		Result: commonv1.Result_RESULT_SUCCESS, Merchant: erenhotGrocery, MerchantAmount: req.GetAmount(), QuoteId: req.GetQuoteId()}}, nil
}

func (demoAcquirer) StreamEvents(req *partnerv1.StreamEventsRequest, s grpc.ServerStreamingServer[partnerv1.StreamEventsResponse]) error {
	events := []*partnerv1.Event{
		{EventId: "evt_1", Sequence: 1, Type: partnerv1.EventType_EVENT_TYPE_PAYMENT_SUCCEEDED, Payment: &partnerv1.Payment{PaymentId: "pay_01"}},
		{EventId: "evt_2", Sequence: 2, Type: partnerv1.EventType_EVENT_TYPE_PAYMENT_SUCCEEDED, Payment: &partnerv1.Payment{PaymentId: "pay_02"}},
		{EventId: "evt_3", Sequence: 3, Type: partnerv1.EventType_EVENT_TYPE_REFUND_SUCCEEDED, Payment: &partnerv1.Payment{PaymentId: "pay_01"},
			Refund: &partnerv1.Refund{RefundId: "ref_01", PaymentId: "pay_01"}},
	}
	for _, ev := range events {
		if ev.GetSequence() > req.GetAfterSequence() {
			if err := s.Send(&partnerv1.StreamEventsResponse{Event: ev}); err != nil {
				return err
			}
		}
	}
	<-s.Context().Done() // a real stream stays open for new events
	return nil
}

// decimal formats an amount of a currency with two decimals (CNY, MNT).
func decimal(m *commonv1.Money) string {
	return fmt.Sprintf("%d.%02d %s", m.GetMinorUnits()/100, m.GetMinorUnits()%100, m.GetCurrency())
}

// A wallet user scans a merchant's code and pays it: decode, show the
// merchant and the quoted amount, pay, and handle S, F, U and errors.
func ExampleClient_Pay() {
	addr, stop := startPartnerService(demoAcquirer{})
	defer stop()

	c, err := unigate.Dial(addr, "hipay", unigate.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	code := "00020101021126330014CN.UNIGATE.SIM0105M000152045411530315658..." // what the camera read
	dec, err := c.DecodeCode(ctx, &partnerv1.DecodeCodeRequest{Code: code})
	if err != nil {
		fmt.Println("cannot pay this code:", unigate.ReasonOf(err))
		return
	}
	fmt.Printf("pay %s, %s (MCC %s)\n", dec.GetMerchant().GetName(), dec.GetMerchant().GetCity(), dec.GetMerchant().GetMcc())

	// A static code: the user entered 128.50 CNY.
	q, err := c.CreateQuote(ctx, &partnerv1.CreateQuoteRequest{Code: code,
		Amount: &commonv1.Money{Currency: "CNY", MinorUnits: 12850}})
	if err != nil {
		fmt.Println("cannot quote:", unigate.ReasonOf(err))
		return
	}
	quote := q.GetQuote()
	fmt.Printf("merchant gets %s, you pay %s\n", decimal(quote.GetMerchantAmount()), decimal(quote.GetWalletAmount()))

	// The user confirms. Make the key first and store it with the order,
	// so that a crash right after Pay still leaves a key to inquire with.
	key := c.NewKey()
	resp, err := c.Pay(ctx, &partnerv1.PayRequest{PartnerPaymentId: key, Code: code,
		Amount: quote.GetMerchantAmount(), QuoteId: quote.GetQuoteId(), UserRef: "u-7f3a"})
	switch {
	case errors.Is(err, unigate.ErrOutcomeUnknown):
		fmt.Println("processing; inquire with GetPaymentByPartnerKey", key)
	case errors.Is(err, unigate.ErrQuoteExpired):
		fmt.Println("the quote expired: quote again and show the new amount")
	case err != nil:
		fmt.Println("refused, nothing paid:", unigate.ReasonOf(err))
	default:
		p := resp.GetPayment()
		switch p.GetResult() {
		case commonv1.Result_RESULT_SUCCESS:
			fmt.Printf("paid: %s, %s, key matches: %v\n", p.GetPaymentId(), p.GetStatus(), p.GetPartnerPaymentId() == key)
		case commonv1.Result_RESULT_FAILURE:
			fmt.Println("not paid:", p.GetFailureReason())
		default:
			fmt.Println("processing; inquire with GetPaymentByPartnerKey", key)
		}
	}
	// Output:
	// pay Erenhot Grocery, Erenhot (MCC 5411)
	// merchant gets 128.50 CNY, you pay 64018.70 MNT
	// paid: pay_01, PAYMENT_STATUS_SUCCEEDED, key matches: true
}

// A user who wants to spend exactly 50,000.00 MNT at a static code asks
// for a quote by the wallet amount; the merchant amount is computed, and
// the quote says what the partner will owe in its settlement currency.
func ExampleClient_CreateQuote_walletAmount() {
	addr, stop := startPartnerService(demoAcquirer{})
	defer stop()

	c, err := unigate.Dial(addr, "hipay", unigate.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	q, err := c.CreateQuote(context.Background(), &partnerv1.CreateQuoteRequest{Code: "00020101021126330014CN.UNIGATE.SIM...",
		WalletAmount: &commonv1.Money{Currency: "MNT", MinorUnits: 50_000_00}})
	if err != nil {
		fmt.Println("cannot quote:", unigate.ReasonOf(err))
		return
	}
	quote := q.GetQuote()
	fmt.Printf("you pay %s, merchant gets %s\n", decimal(quote.GetWalletAmount()), decimal(quote.GetMerchantAmount()))
	fmt.Printf("we owe Unigate %s\n", decimal(quote.GetSettlementAmount()))
	// Pay with quote.GetMerchantAmount() and quote.GetQuoteId(), as in the
	// Pay example.

	// Output:
	// you pay 50000.00 MNT, merchant gets 100.36 CNY
	// we owe Unigate 14.15 USD
}

// A wallet serves WalletPartnerService so that Unigate can debit its users
// for consumer-presented payments. Here the wallet is a MemoryWallet, and
// the example plays Unigate's side of the calls.
func ExampleServeWalletPartner() {
	wallet, err := unigate.NewMemoryWallet(unigate.MemoryWalletConfig{Currency: "MNT", CodePrefix: "2899", CodeLength: 18})
	if err != nil {
		log.Fatal(err)
	}
	wallet.SetBalance("u-7f3a", 100_000_00) // 100,000.00 MNT

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- unigate.ServeWalletPartner(ctx, lis, wallet) }()

	// The user shows a one-time code; the merchant scans it.
	code := wallet.IssueCode("u-7f3a")
	fmt.Println("code:", code[:4]+"…", len(code), "digits")

	// Unigate calls Authorize, and repeats it (same payment_id) when it
	// did not get the answer: the user is debited once.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	asUnigate := partnerv1.NewWalletPartnerServiceClient(conn)
	req := &partnerv1.AuthorizeRequest{PaymentId: "pay_02", Code: code,
		WalletAmount: &commonv1.Money{Currency: "MNT", MinorUnits: 64018_70}}
	for range 2 {
		resp, err := asUnigate.Authorize(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("authorize:", resp.GetResult(), resp.GetUserRef(), "balance", wallet.Balance("u-7f3a"))
	}

	// The merchant cancels: the debit is reversed.
	if _, err := asUnigate.CancelAuthorization(ctx, &partnerv1.CancelAuthorizationRequest{PaymentId: "pay_02"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after cancel: balance", wallet.Balance("u-7f3a"))

	stop()
	fmt.Println("stopped:", <-served)
	// Output:
	// code: 2899… 18 digits
	// authorize: RESULT_SUCCESS u-7f3a balance 3598130
	// authorize: RESULT_SUCCESS u-7f3a balance 3598130
	// after cancel: balance 10000000
	// stopped: <nil>
}

// A wallet follows its events (payments succeeded, refunds done, …) with a
// durable cursor. Use FileCursor (or a table in the wallet's database) in
// production; MemoryCursor keeps the example self-contained.
func ExampleClient_ConsumeEvents() {
	addr, stopServer := startPartnerService(demoAcquirer{})
	defer stopServer()
	c, err := unigate.Dial(addr, "hipay", unigate.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	cursor := &unigate.MemoryCursor{}
	_ = cursor.Save(context.Background(), 1) // event 1 was handled by an earlier run

	ctx, stop := context.WithCancel(context.Background())
	err = c.ConsumeEvents(ctx, cursor, func(ctx context.Context, ev *partnerv1.Event) error {
		// Apply the event idempotently (by event_id), then return nil:
		// only then is the cursor moved past it.
		fmt.Println(ev.GetSequence(), ev.GetType(), ev.GetPayment().GetPaymentId())
		if ev.GetSequence() == 3 {
			stop() // a real consumer runs until the process shuts down
		}
		return nil
	})
	seq, _ := cursor.Load(context.Background())
	fmt.Println("stopped:", err, "cursor", seq)
	// Output:
	// 2 EVENT_TYPE_PAYMENT_SUCCEEDED pay_02
	// 3 EVENT_TYPE_REFUND_SUCCEEDED pay_01
	// stopped: <nil> cursor 3
}
