package emvqr

import "testing"

// goldenPayNow is a typical 149-character dynamic SGQR/PayNow payload.

func BenchmarkDecodeMPM(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(goldenPayNow)))
	for b.Loop() {
		if _, err := DecodeMPM(goldenPayNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMPMUnicode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(goldenCUP)))
	for b.Loop() {
		if _, err := DecodeMPM(goldenCUP); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMPM(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMPM(payNowMPM); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCRC16(b *testing.B) {
	data := []byte(goldenPayNow)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		CRC16(data)
	}
}
