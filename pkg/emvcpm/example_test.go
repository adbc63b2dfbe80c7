package emvcpm_test

import (
	"fmt"

	"github.com/unigate/unigate/pkg/emvcpm"
)

func ExampleDecode() {
	// The EMV QRCPS consumer-presented mode example payload (see
	// specExample in emvcpm_test.go for its provenance).
	c, err := emvcpm.Decode("hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0" +
		"WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range c.Applications {
		fmt.Printf("%X %s\n", a.AID, a.Label)
	}
	for _, o := range c.Transparent {
		fmt.Printf("%s %X\n", o.TagHex(), o.Value)
	}
	_, err = emvcpm.Decode("hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0")
	fmt.Println(err)
	// Output:
	// A0000000555555 Product1
	// A0000000666666 Product2
	// 9F10 06010A03000000
	// 9F26 584FD385FA234BCC
	// 9F36 0001
	// 9F37 6D58EF13
	// emvcpm: LENGTH_OVERRUN at 8: object 61 at 7 declares 19 bytes but only 18 remain in the payload
}

func ExampleEncode() {
	s, err := emvcpm.Encode(&emvcpm.CPM{
		PayloadFormat: emvcpm.FormatCPV01,
		Applications: []emvcpm.Application{{
			AID:   []byte{0xA0, 0, 0, 0, 0x03, 0x10, 0x10},
			Label: "VISA",
			PAN:   "4761739001010010",
		}},
	})
	fmt.Println(s, err)
	// Output:
	// hQVDUFYwMWEZTwegAAAAAxAQUARWSVNBWghHYXOQAQEAEA== <nil>
}
