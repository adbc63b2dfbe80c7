package walletcode

import "testing"

func BenchmarkParseURL(b *testing.B) {
	for _, bm := range []struct{ name, url string }{
		{"wxp", "wxp://" + wxpToken},
		{"alipay", alipayURL},
		{"alipays-wrapper", alipayWrapped},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseURL(bm.url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Classify("280012345678901234", testRanges); err != nil {
			b.Fatal(err)
		}
	}
}
