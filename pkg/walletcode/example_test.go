package walletcode_test

import (
	"fmt"

	"github.com/unigate/unigate/pkg/walletcode"
)

func ExampleParseURL() {
	u, err := walletcode.ParseURL("alipays://platformapi/startapp?saId=10000007&qrcode=https%3A%2F%2Fqr.alipay.com%2Fbax03431ljhokirwl38f00a7")
	fmt.Println(u.Issuer, u.Inner, u.Token, err)
	_, err = walletcode.ParseURL("https://qr.alipay.com@evil.example/bax03431ljhokirwl38f00a7")
	fmt.Println(err)
	// Output:
	// alipay https://qr.alipay.com/bax03431ljhokirwl38f00a7 bax03431ljhokirwl38f00a7 <nil>
	// walletcode: url USERINFO at 21: URL has user information (an '@' before the host)
}

func ExampleClassify() {
	ranges := []walletcode.Range{
		{Prefix: "13", PartnerID: "WECHATPAY", Lengths: []int{18}},
		{Prefix: "28", PartnerID: "ALIPAY_CN", Lengths: []int{16, 17, 18, 19, 20, 21, 22, 23, 24}},
		{Prefix: "2800", PartnerID: "ALIPAY_HK", Lengths: []int{18}},
	}
	if err := walletcode.ValidateRanges(ranges); err != nil {
		fmt.Println(err)
		return
	}
	w, err := walletcode.Classify("280012345678901234", ranges)
	fmt.Println(w.PartnerID, w.Prefix, w.Length, err)
	_, err = walletcode.Classify("1345678901234567", ranges)
	fmt.Println(err)
	// Output:
	// ALIPAY_HK 2800 18 <nil>
	// walletcode: BAD_LENGTH at 0: code has 16 digits; range 13 (partner WECHATPAY) takes [18]
}
