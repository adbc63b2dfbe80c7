package emvcpm

import "testing"

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(specExample)))
	for b.Loop() {
		if _, err := Decode(specExample); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLongForm(b *testing.B) {
	p := b64(longFormHex())
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWorstCase(b *testing.B) {
	p := worstCase()
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	c := mustDecode(b, specExample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(c); err != nil {
			b.Fatal(err)
		}
	}
}
