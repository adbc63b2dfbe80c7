package emvqr_test

import (
	"fmt"

	"github.com/unigate/unigate/pkg/emvqr"
)

func ExampleDecodeMPM() {
	payload := "00020101021226490009SG.PAYNOW010120210201403121W03011040820301231" +
		"520400005303702540512.505802SG5912ACME PTE LTD6009Singapore62130109INV 0042 630404A2"
	m, err := emvqr.DecodeMPM(payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	acct, _ := m.AccountByGUID("sg.paynow")
	uen, _ := acct.Field("02")
	fmt.Println(m.MerchantName, m.Currency, m.Amount, uen)

	_, err = emvqr.DecodeMPM(payload[:len(payload)-4] + "1234")
	fmt.Println(err)
	// Output:
	// ACME PTE LTD 702 12.50 201403121W
	// emvqr: CRC_MISMATCH at 145: computed 04A2, code says 1234
}

func ExampleEncodeMPM() {
	p, err := emvqr.EncodeMPM(&emvqr.MPM{
		PayloadFormat: "01",
		Initiation:    "11",
		MerchantAccounts: []emvqr.MerchantAccount{{
			ID: "29", GUID: "A000000677010111",
			Fields: []emvqr.Object{{ID: "01", Value: "0066812345678"}},
		}},
		Currency: "764",
		Country:  "TH",
	})
	fmt.Println(p, err)
	// Output:
	// 00020101021129370016A0000006770101110113006681234567853037645802TH6304823E <nil>
}
