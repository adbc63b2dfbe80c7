package paycode

import "testing"

func BenchmarkDecode(b *testing.B) {
	for _, bm := range []struct{ name, payload string }{
		{"mpm", goldenMPM},
		{"cpm", goldenCPM},
		{"url", goldenURL},
		{"wallet_code", goldenWallet},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(bm.payload, ranges); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJSON(b *testing.B) {
	for _, bm := range []struct{ name, payload string }{
		{"mpm", goldenMPM},
		{"cpm", goldenCPM},
	} {
		c, err := Decode(bm.payload, ranges)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.JSON(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
