package paycode_test

import (
	"errors"
	"fmt"

	"github.com/unigate/unigate/pkg/emvqr"
	"github.com/unigate/unigate/pkg/paycode"
	"github.com/unigate/unigate/pkg/walletcode"
)

func ExampleDecode() {
	ranges := []walletcode.Range{{Prefix: "13", PartnerID: "WECHATPAY", Lengths: []int{18}}}
	for _, p := range []string{
		"134567890123456789",
		"https://qr.alipay.com/bax03431ljhokirwl38f00a7",
		"00020101021129370016A0000006770101110113006681234567853037645802TH6304823E",
	} {
		c, err := paycode.Decode(p, ranges)
		if err != nil {
			fmt.Println(err)
			continue
		}
		b, _ := c.JSON()
		fmt.Println(string(b))
	}
	_, err := paycode.Decode("00020101021129370016A0000006770101110113006681234567853037645802TH6304823F", ranges)
	var de *emvqr.DecodeError
	fmt.Println(paycode.ReasonOf(err), errors.As(err, &de), de.Pos)
	// Output:
	// {"kind":"wallet_code","partner_id":"WECHATPAY","prefix":"13","code_length":18,"warnings":[]}
	// {"kind":"url","issuer":"alipay","url":"https://qr.alipay.com/bax03431ljhokirwl38f00a7","inner_url":"","token":"bax03431ljhokirwl38f00a7","warnings":[]}
	// {"kind":"emvco_mpm","payload_format":"01","initiation":"11","merchant_accounts":[{"id":"29","guid":"A000000677010111","fields":{"01":"0066812345678"}}],"mcc":"","currency":"764","amount":"","country":"TH","merchant_name":"","merchant_city":"","postal_code":"","additional":{},"language":{},"unreserved":{},"crc":"823E","warnings":["MISSING_MANDATORY: tag 52 (merchant category code) is absent","MISSING_MANDATORY: tag 59 (merchant name) is absent","MISSING_MANDATORY: tag 60 (merchant city) is absent"]}
	// CRC_MISMATCH true 70
}
